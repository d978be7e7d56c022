"""The metadata database is unreachable: one line naming the URL without its password."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli, run_paas_process

URL = "postgresql://u:secret@127.0.0.1:1/x"


def _one_clean_line(r, url_shown: str) -> None:
    assert r.code != 0
    assert r.out == ""
    assert "Traceback" not in r.err
    assert r.err.endswith("\n") and r.err.count("\n") == 1, r.err
    assert r.err.startswith("paas: cannot reach the metadata database at ")
    assert url_shown in r.err
    assert "secret" not in r.err


def test_apps_list_real_process():
    r = run_paas_process("apps", "list", env={"PAAS_DATABASE_URL": URL})
    _one_clean_line(r, "postgresql://u:***@127.0.0.1:1/x")
    assert "Connection refused" in r.err


@pytest.mark.parametrize("args", [
    ["apps", "list"],
    ["deploy", "checkout", "--image", "nginx:1", "--env", "staging"],
    ["history"],
    ["status", "checkout", "--env", "staging"],
    ["releases", "checkout"],
    ["deployments", "show", "1"],
    ["db", "status"],
    ["db", "upgrade"],
])
def test_every_kind_of_command(monkeypatch, args):
    monkeypatch.setenv("PAAS_DATABASE_URL", URL)
    _one_clean_line(run_cli(*args), "postgresql://u:***@127.0.0.1:1/x")


@pytest.mark.parametrize("url,shown", [
    ("postgresql+psycopg2://admin:s3cr%40t@127.0.0.1:1/paas", "postgresql+psycopg2://admin:***@127.0.0.1:1/paas"),
    # an unencoded '@' in the password: libpq then misreads the host, and must not echo the tail
    ("postgresql://u:pa@ss-word@127.0.0.1:1/x", "postgresql://u:***@127.0.0.1:1/x"),
    ("postgresql://127.0.0.1:1/x?user=u&password=hunter2", "password=***"),
])
def test_password_never_shown(monkeypatch, url, shown):
    monkeypatch.setenv("PAAS_DATABASE_URL", url)
    r = run_cli("apps", "list")
    assert r.code != 0 and r.err.count("\n") == 1 and "Traceback" not in r.err
    assert shown in r.err, r.err
    for secret in ("s3cr", "pa@ss", "ss-word", "hunter2"):
        assert secret not in r.err, r.err
