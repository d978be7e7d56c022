"""The embedded PostgreSQL as a new user meets it: the first command says it is initialising
(instead of sitting silent for 15 s), and `paas dev down` / `paas db stop` stop it again."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.fixture
def fresh_home():
    home = Path(tempfile.mkdtemp(prefix="paas-home-", dir="/tmp"))
    os.chmod(home, 0o755)  # as root, the server runs as another user that must reach its data directory
    yield home
    from paas.db.embedded import stop

    stop(home / "pgdata")
    shutil.rmtree(home, ignore_errors=True)


def paas(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAAS_", "AWS_"))}
    env.update(PAAS_HOME=str(home), PAAS_ACTOR="t@t")
    return subprocess.run([sys.executable, "-m", "paas.cli.main", *args], env=env, capture_output=True, text=True,
                          cwd=str(ROOT), timeout=300)


def test_first_use_says_it_initialises_and_dev_down_stops_the_server(fresh_home):
    from paas.db.embedded import url_for

    pgdata = fresh_home / "pgdata"
    r = paas(fresh_home, "apps", "list", "--json")
    assert r.returncode == 0, r.stderr
    assert r.stderr == f"paas: initialising the embedded PostgreSQL in {pgdata} (first use: about 15 s) …\n"
    assert url_for(pgdata) is not None
    r = paas(fresh_home, "apps", "list", "--json")  # running: nothing to say
    assert r.returncode == 0 and r.stderr == ""

    r = paas(fresh_home, "dev", "down")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"paas dev is not running\nembedded PostgreSQL in {pgdata} stopped\n"
    assert url_for(pgdata) is None

    r = paas(fresh_home, "env", "list", "--json")  # the next command starts it again, and says so
    assert r.returncode == 0 and r.stderr == f"paas: starting the embedded PostgreSQL in {pgdata} …\n"
    r = paas(fresh_home, "db", "stop")
    assert r.returncode == 0 and r.stdout == f"embedded PostgreSQL in {pgdata}: stopped\n"
    r = paas(fresh_home, "db", "stop")
    assert r.returncode == 0 and r.stdout == f"embedded PostgreSQL in {pgdata}: was not running\n"
