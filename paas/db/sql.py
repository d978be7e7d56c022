"""A thin, fast layer over a psycopg2 connection, shared by the CLI, services and workers.

The request path must start, validate, commit and exit in well under 150 ms, and importing
SQLAlchemy alone costs more than that (measured in bench/cli_latency). So use cases speak plain
parameterised SQL through `Db`; workers get their connections from a pooled SQLAlchemy engine
(`paas.db.engine`) and wrap them the same way. The caller owns the transaction.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, Iterator

from paas.domain.errors import DatabaseUnavailable


class Row(dict):
    """A result row: a dict that also allows `row.name`."""

    __slots__ = ()

    def __getattr__(self, item: str) -> Any:
        try:
            return self[item]
        except KeyError:
            raise AttributeError(item) from None


def jsonb(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


class Db:
    """Queries over one DB-API connection. Statements use psycopg2's %(name)s parameters."""

    def __init__(self, conn: Any):
        self.conn = conn

    def _run(self, sql: str, params: dict[str, Any] | None) -> Any:
        cur = self.conn.cursor()
        cur.execute(sql, params or None)
        return cur

    def all(self, sql: str, **params: Any) -> list[Row]:
        cur = self._run(sql, params)
        if cur.description is None:
            return []
        cols = [d[0] for d in cur.description]
        return [Row(zip(cols, r)) for r in cur.fetchall()]

    def one(self, sql: str, **params: Any) -> Row | None:
        cur = self._run(sql, params)
        r = cur.fetchone()
        if r is None:
            return None
        return Row(zip([d[0] for d in cur.description], r))

    def scalar(self, sql: str, **params: Any) -> Any:
        r = self._run(sql, params).fetchone()
        return None if r is None else r[0]

    def execute(self, sql: str, **params: Any) -> int:
        return self._run(sql, params).rowcount

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    @contextmanager
    def transaction(self) -> Iterator["Db"]:
        """Commit on success, roll back on any exception: never a partial write."""
        try:
            yield self
        except BaseException:
            self.conn.rollback()
            raise
        else:
            self.conn.commit()

    def close(self) -> None:
        self.conn.close()


def import_psycopg2() -> Any:
    """psycopg2, without the ~10 ms of Python's `ssl` module when nothing has loaded it yet.

    psycopg2's C module imports `ssl` only so that Python's OpenSSL locking callbacks are set
    before libpq's (psycopg2 ``libcrypto_threads_init``); when that import fails it falls back to
    libpq's own OpenSSL set-up, its documented path for a Python built without ssl. With
    OpenSSL >= 1.1 (psycopg2-binary bundles 3.x) those callbacks are no-ops, so the fallback
    costs nothing, and TLS connections to the database work the same (libpq does TLS itself).
    A process that already imported `ssl` (a worker, through boto3) keeps the normal path."""
    if "psycopg2" in sys.modules or "ssl" in sys.modules:
        import psycopg2

        return psycopg2
    sys.modules["ssl"] = None  # type: ignore[assignment]  # `import ssl` raises ImportError
    try:
        import psycopg2
    finally:
        del sys.modules["ssl"]  # later imports of ssl load it normally
    return psycopg2


def connect(url: str, application_name: str = "paas") -> Db:
    """Open a connection, turning any failure into one line that names the URL sans password."""
    psycopg2 = import_psycopg2()

    from paas.db.url import redact, to_libpq

    try:
        conn = psycopg2.connect(to_libpq(url), connect_timeout=5, application_name=application_name)
    except psycopg2.Error as e:
        raise DatabaseUnavailable(
            f"cannot reach the metadata database at {redact(url)}: {_scrub(_reason(e), url)}"
        ) from None
    return Db(conn)


def _reason(e: Exception) -> str:
    """libpq's message, on one line: 'connection to server at "h", port 1 failed: Connection
    refused\n\tIs the server running...' → 'Connection refused'."""
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    if not lines:
        return type(e).__name__
    first = lines[0]
    if first.startswith("connection to server") and " failed: " in first:
        return first.split(" failed: ", 1)[1] or first
    return first



def _scrub(reason: str, url: str) -> str:
    """libpq may echo part of a malformed URL (an unencoded '@' in the password shifts the host
    name): blank any quoted name in its message that contains a piece of the password."""
    import re

    from paas.db.url import password

    pw = password(url)
    if not pw:
        return reason
    pieces = [p for p in pw.split("@") if p]
    return re.sub(r'"[^"]*"', lambda m: '"***"' if any(p in m.group(0) for p in pieces) else m.group(0), reason)
