"""End to end: the CLI, real Postgres, workers, and the boto3 driver against the emulator.

One emulator (moto + the simulated data plane) per test process, with fast timings; each test
gets its own database and its own app names, so tests share AWS state without colliding.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT, Result, run_cli

FAST = {
    "PAAS_POLL_INTERVAL": "0.2", "PAAS_STACK_POLL": "0.1", "PAAS_BAKE": "1", "PAAS_ROLLOUT_DEADLINE": "45",
    "PAAS_SWEEP_INTERVAL": "0.5", "PAAS_LEASE_TTL": "15", "PAAS_HEARTBEAT": "2", "PAAS_METRIC_PERIOD": "1",
    "PAAS_RESYNC_INTERVAL": "3600", "PAAS_AWS_RPS": "200",
}


@pytest.fixture(scope="session")
def emulator():
    from paas.devstack.dataplane import DataPlaneSettings
    from paas.devstack.emulator import start_emulator

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(k, v)
    from paas.devstack.emulator import running_emulator

    # a small metric store: moto scans every stored datapoint for each GetMetricData query
    fast = dict(tick_seconds=0.05, steady_state_seconds=0.2, crash_seconds=0.2, metric_period_seconds=1.0,
                latency_samples_per_period=20, metric_retention_seconds=400.0)
    existing = running_emulator()  # moto's state is process-global: one emulator per test process
    if existing is not None:
        existing.dataplane.update_settings(**fast)
        yield existing
        return
    emu = start_emulator(port=0, dataplane_settings=DataPlaneSettings(**fast))
    yield emu
    emu.stop()


@pytest.fixture(scope="session")
def dev_boot(emulator):
    from paas.devstack.bootstrap import bootstrap_dev_environment

    return bootstrap_dev_environment(emulator.endpoint_url, "us-east-1", "dev")



def wait_for(what: str, check, timeout: float = 60.0, every: float = 0.1):
    """check()'s first truthy answer, polled every `every` s; fails the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} ({timeout:.0f}s)")

class Stack:
    """The test's handle on the running system."""

    def __init__(self, db_url: str, emulator, boot: dict, tmp: Path):
        self.db_url = db_url
        self.emulator = emulator
        self.boot = boot
        self.tmp = tmp
        self.workers: list = []
        self.procs: list[subprocess.Popen] = []
        self.apps: list[str] = []

    # --- CLI ---------------------------------------------------------------------------
    def paas(self, *args: str, input: str | None = None) -> Result:
        return run_cli(*args, input=input)

    def app(self, app_type: str = "web") -> str:
        name = f"a{uuid.uuid4().hex[:8]}"
        r = self.paas("apps", "create", name, "--type", app_type)
        assert r.code == 0, r.err
        self.apps.append(name)
        return name

    # --- workers -----------------------------------------------------------------------
    def start_worker(self, concurrency: int = 2):
        from paas.reconciler.worker import Worker

        w = Worker(self.db_url, concurrency=concurrency)
        t = threading.Thread(target=w.run, daemon=True)
        t.start()
        self.workers.append((w, t))
        return w

    def spawn_worker(self, *extra: str, env: dict | None = None) -> subprocess.Popen:
        """A real `paas worker` process (for SIGKILL and SIGTERM tests)."""
        log = open(self.tmp / f"worker-{len(self.procs)}.log", "w")
        p = subprocess.Popen(
            [sys.executable, "-m", "paas.cli.main", "worker", "--concurrency", "2", *extra],
            cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PAAS_DATABASE_URL": self.db_url, **(env or {})},
        )
        self.procs.append(p)
        return p

    def stop(self) -> None:
        self.stop_workers()
        self._delete_services()

    def stop_workers(self) -> None:
        for w, t in self.workers:
            w.stop()
        for w, t in self.workers:
            t.join(timeout=15)
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
        self.workers, self.procs = [], []

    def _delete_services(self) -> None:
        """Keep the shared emulator light: the data plane simulates every service still there,
        and a listener rule left behind would keep its priority on the shared listener."""
        if not self.apps:
            return
        from paas.domain.specs import stack_name

        cfn = self.client("cloudformation")
        for app in self.apps:
            try:
                cfn.delete_stack(StackName=stack_name(app, "dev"))
            except Exception:
                pass
        ecs = self.client("ecs")
        try:
            arns = [a for page in ecs.get_paginator("list_services").paginate(cluster=self.boot["cluster"])
                    for a in page["serviceArns"]]
            for arn in arns:
                name = arn.rsplit("/", 1)[-1]
                if any(name.startswith(f"{app}-") for app in self.apps):
                    ecs.delete_service(cluster=self.boot["cluster"], service=name, force=True)
        except Exception:  # cleanup is best effort; the test's own assertions already ran
            pass

    # --- AWS and DB views -----------------------------------------------------------
    def client(self, service: str):
        return self.emulator.client(service)

    def sql(self, query: str, **params) -> list:
        """Rows of one query on the test's database (its own connection)."""
        from paas.db.sql import connect

        db = connect(self.db_url)
        try:
            return db.all(query, **params)
        finally:
            db.close()

    def deployment(self, dep_id: int) -> dict:
        from paas.db.sql import connect

        db = connect(self.db_url)
        try:
            return dict(db.one("SELECT * FROM deployments WHERE id = %(i)s", i=dep_id))
        finally:
            db.close()

    def events(self, dep_id: int) -> list[dict]:
        from paas.db.sql import connect

        db = connect(self.db_url)
        try:
            return [dict(r) for r in db.all("SELECT * FROM deployment_events WHERE deployment_id = %(i)s ORDER BY id",
                                            i=dep_id)]
        finally:
            db.close()

    def wait_state(self, dep_id: int, states=("succeeded", "failed", "rolled_back", "cancelled", "superseded"),
                   timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            d = self.deployment(dep_id)
            if d["state"] in states:
                return d
            time.sleep(0.1)
        raise AssertionError(f"deployment {dep_id} still {self.deployment(dep_id)['state']} after {timeout}s: "
                             f"{[e['message'] for e in self.events(dep_id)][-5:]}")


@pytest.fixture(scope="session", autouse=True)
def every_operation_is_in_the_iam_policy():
    """After the end-to-end tests of this process: every AWS operation paas sent is covered by
    `paas iam policy` (the least-privilege policy would otherwise break a real account)."""
    yield
    from paas.aws import accounting, iam

    seen = accounting.operations_seen()
    missing_ops = sorted(op for op in seen if op not in iam.OPERATIONS)
    allowed = iam.policy_actions(iam.worker_policy())
    missing_actions = sorted(a for a in iam.actions_for(op for op in seen if op in iam.OPERATIONS)
                             if a not in allowed)
    assert not missing_ops and not missing_actions, (
        f"AWS operations sent but not in paas iam policy: {missing_ops or missing_actions}")


@pytest.fixture
def stack(db_url, emulator, dev_boot, monkeypatch, tmp_path):
    from paas.devstack.up import upsert_dev_environment

    for k, v in FAST.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("PAAS_ENV", "dev")
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)
    upsert_dev_environment(db_url, dev_boot, emulator.endpoint_url)
    home = Path(os.environ["PAAS_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "dev-state.json").write_text(json.dumps({
        "pid": os.getpid(), "database_url": db_url, "aws_endpoint_url": emulator.endpoint_url,
        "region": "us-east-1", "profiles_path": str(emulator.profiles_path), "env": "dev"}))
    st = Stack(db_url, emulator, dev_boot, tmp_path)
    yield st
    st.stop()


def deployment_id(r: Result) -> int:
    import json

    return json.loads(r.out)["deployment_id"]
