"""`paas dev up`: the whole local stack in one process, honest about being a simulation.

Embedded Postgres (unless PAAS_DATABASE_URL is set), moto's server on loopback as the AWS
endpoint with the simulated ECS data plane, an environment `dev` bootstrapped in it, and a
worker. Settings go to a state file that `paas` in other terminals picks up.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from paas.devstack.bootstrap import bootstrap_dev_environment
from paas.devstack.dataplane import DataPlaneSettings
from paas.devstack.emulator import Emulator, start_emulator

DEV_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
DEFAULT_PORT = 4566
DEMO_DURATIONS = {  # seconds: a tour runs in a minute, production uses the defaults in paas.settings
    "PAAS_POLL_INTERVAL": "0.5", "PAAS_STACK_POLL": "0.3", "PAAS_BAKE": "3", "PAAS_ROLLOUT_DEADLINE": "60",
    "PAAS_SWEEP_INTERVAL": "1", "PAAS_LEASE_TTL": "10", "PAAS_HEARTBEAT": "3", "PAAS_METRIC_PERIOD": "1",
}


def _free(port: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            return 0


def upsert_dev_environment(db_url: str, boot: dict[str, Any], endpoint_url: str | None = None,
                           name: str = "dev") -> None:
    """The `dev` environment's row. The endpoint is not stored: workers read it from their own
    configuration (the state file `paas dev up` writes, or AWS_ENDPOINT_URL)."""
    from paas.db.sql import connect

    db = connect(db_url, "paas-dev")
    try:
        with db.transaction():
            db.execute(
                """
                INSERT INTO environments (name, region, cluster, listener_arn, vpc_id, subnets, security_groups,
                                          alb_security_group, app_domain)
                VALUES (%(n)s, %(r)s, %(c)s, %(l)s, %(v)s, %(s)s, %(g)s, %(alb)s, %(domain)s)
                ON CONFLICT (name) DO UPDATE SET region = EXCLUDED.region, cluster = EXCLUDED.cluster,
                    listener_arn = EXCLUDED.listener_arn, vpc_id = EXCLUDED.vpc_id, subnets = EXCLUDED.subnets,
                    security_groups = EXCLUDED.security_groups, alb_security_group = EXCLUDED.alb_security_group,
                    app_domain = EXCLUDED.app_domain
                """,
                n=name, r=boot["region"], c=boot["cluster"], l=boot["listener_arn"], v=boot["vpc_id"],
                s=list(boot["subnets"]), g=list(boot["security_groups"]),
                alb=boot.get("alb_security_group") or (list(boot["security_groups"]) or [None])[0],
                domain=f"{name}.localhost",  # every app gets its own host: APP.dev.localhost
            )
    finally:
        db.close()


@dataclass
class DevStack:
    home: Path
    port: int = DEFAULT_PORT
    region: str = "us-east-1"
    workers: int = 2
    settings: DataPlaneSettings = field(default_factory=DataPlaneSettings)
    log: Callable[[str], None] = print
    emulator: Emulator | None = None
    db_url: str = ""
    worker: Any = None
    started_database: bool = False  # the embedded PostgreSQL was not running before start()
    boot: dict[str, Any] = field(default_factory=dict)  # what bootstrap_dev_environment made
    stages: list[str] = field(default_factory=list)  # more environments (pipeline stages), e.g. staging
    _thread: threading.Thread | None = None

    @contextmanager
    def _progress(self, what: str, every: float = 4.0):
        """'what …', a line every few seconds while it lasts, then how long it took."""
        t0 = time.monotonic()
        done = threading.Event()
        self.log(f"{what} …")

        def tick() -> None:
            while not done.wait(every):
                self.log(f"  … {time.monotonic() - t0:.0f}s")

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join()
        self.log(f"  done in {time.monotonic() - t0:.1f}s")

    @property
    def state_path(self) -> Path:
        return self.home / "dev-state.json"

    @property
    def profiles_path(self) -> Path:
        return self.home / "profiles.json"

    def start(self, run_worker: bool = True) -> dict[str, str]:
        from paas.db.migrate import upgrade

        self.home.mkdir(parents=True, exist_ok=True)
        for k, v in DEV_CREDENTIALS.items():
            os.environ.setdefault(k, v)
        if os.environ.get("PAAS_DATABASE_URL"):
            self.db_url = os.environ["PAAS_DATABASE_URL"]
        else:
            from paas.db.embedded import ensure_running, url_for

            pgdata = self.home / "pgdata"
            self.db_url = url_for(pgdata) or ""
            if not self.db_url:
                self.started_database = True
                what = (f"starting the embedded PostgreSQL in {pgdata}" if (pgdata / "PG_VERSION").exists() else
                        f"initialising a new embedded PostgreSQL in {pgdata} (first start only, about 15 s)")
                with self._progress(what):
                    self.db_url = ensure_running(pgdata)
        with self._progress("bringing the database schema up to date"):
            upgrade(self.db_url)
        with self._progress("starting the AWS emulator (moto + simulated ECS data plane)"):
            self.emulator = start_emulator(port=_free(self.port), region=self.region,
                                           profiles_path=self.profiles_path, dataplane_settings=self.settings)
        self.log(f"AWS emulator at {self.emulator.endpoint_url}")
        with self._progress("bootstrapping environment dev (VPC, subnets, load balancer, listener, ECS cluster)"):
            boot = bootstrap_dev_environment(self.emulator.endpoint_url, self.region, "dev")
            upsert_dev_environment(self.db_url, boot, self.emulator.endpoint_url)
        self.boot = boot
        for name in self.stages:
            add_environment(self.db_url, boot, self.emulator.endpoint_url, name)
            self.log(f"environment {name}: cluster paas-{name}, the same listener (hosts <app>.{name}.localhost)")
        self.log(f"environment dev: cluster {boot['cluster']}, listener {boot['listener_arn'].rsplit('/', 3)[-3]}")
        exports = {"PAAS_DATABASE_URL": self.db_url, "AWS_ENDPOINT_URL": self.emulator.endpoint_url,
                   "AWS_DEFAULT_REGION": self.region, "PAAS_ENV": "dev", **DEV_CREDENTIALS}
        for var in ("PAAS_CLOCK_EPOCH", "PAAS_CLOCK_RATE"):  # a warped clock is shared, or times disagree
            if os.environ.get(var):
                exports[var] = os.environ[var]
        state = {"pid": os.getpid(), "database_url": self.db_url, "aws_endpoint_url": self.emulator.endpoint_url,
                 "region": self.region, "profiles_path": str(self.profiles_path), "env": "dev"}
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, self.state_path)
        if run_worker:
            from paas.reconciler.worker import Worker

            self.worker = Worker(self.db_url, concurrency=self.workers)
            self._thread = threading.Thread(target=self.worker.run, name="paas-dev-worker", daemon=True)
            self._thread.start()
            self.log(f"worker running ({self.workers} concurrent reconciles)")
        return exports

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            if self._thread:
                self._thread.join(timeout=15)
        if self.emulator is not None:
            self.emulator.stop()
        try:
            state = json.loads(self.state_path.read_text())
            if state.get("pid") == os.getpid():
                self.state_path.unlink()
        except (OSError, ValueError):
            pass


def add_environment(db_url: str, boot: dict[str, Any], endpoint_url: str, name: str) -> dict[str, Any]:
    """Another environment on the local stack (e.g. `staging`, `production` for a pipeline): the
    same VPC and ALB listener as `dev` (apps route by host, `<app>.<name>.localhost`), its own
    ECS cluster ``paas-<name>`` (ECS service names are per cluster)."""
    import boto3

    cluster = f"paas-{name}"
    ecs = boto3.client("ecs", region_name=boot["region"], endpoint_url=endpoint_url)
    if not any(c.get("status") == "ACTIVE" for c in ecs.describe_clusters(clusters=[cluster])["clusters"]):
        ecs.create_cluster(clusterName=cluster)
    env_boot = dict(boot, cluster=cluster)
    upsert_dev_environment(db_url, env_boot, endpoint_url, name=name)
    return env_boot
