"""Shared helpers for bench/rollback_speed.py, bench/breach_to_safe.py and bench/canary_calls.py.

`Stack` is the same set-up as tests/e2e (conftest.py): a fresh, migrated database (on
PAAS_DATABASE_URL's server, else the embedded PostgreSQL with its data directory under /tmp),
the in-process AWS emulator (moto + the simulated ECS data plane) with fast timings, the `dev`
environment bootstrapped in it and upserted into the database, dummy AWS credentials, fast
worker durations in the environment (set *before* any Worker is created: `Worker` reads them
when it is constructed), and `paas.reconciler.worker.Worker` threads in this process.

The CLI is driven two ways:
* `Stack.cli(...)`: the real entry point (`paas.cli.main.main`) called in this process, the
  way tests/conftest.py `run_cli` does;
* `Stack.cli_proc(...)`: the real `paas` console script (.venv/bin/paas) as a child process.

AWS is read back independently of the controller with plain boto3 clients against the
emulator (not counted by paas.aws.accounting, which only hooks paas's own clients).
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PAAS_BIN = Path(sys.executable).with_name("paas")

# Fast durations, like the end-to-end suite's (tests/e2e/conftest.py FAST).
FAST = {
    "PAAS_POLL_INTERVAL": "0.2", "PAAS_STACK_POLL": "0.1", "PAAS_BAKE": "1", "PAAS_ROLLOUT_DEADLINE": "20",
    "PAAS_SWEEP_INTERVAL": "0.5", "PAAS_LEASE_TTL": "15", "PAAS_HEARTBEAT": "2", "PAAS_METRIC_PERIOD": "1",
    "PAAS_RESYNC_INTERVAL": "3600", "PAAS_AWS_RPS": "200",
}
DUMMY_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
             "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
# emulator settings, like the end-to-end suite's
FAST_DATAPLANE = dict(tick_seconds=0.05, steady_state_seconds=0.2, crash_seconds=0.2, metric_period_seconds=1.0)


# ------------------------------------------------------------- numbers and the database
from _common import banner, machine, median, pct, scratch_database, server_url  # noqa: E402,F401


def fmt_s(x: float | None) -> str:
    return "-" if x is None else f"{x * 1000:7.0f} ms"


# ---------------------------------------------------------------------------------- the stack
@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Rule:
    """An app's listener rule and its two target groups, from the stack's outputs."""

    app: str
    process: str
    rule_arn: str
    tg: dict[str, str]  # colour → target group ARN

    def colour_of(self, tg_arn: str) -> str:
        return next((c for c, a in self.tg.items() if a == tg_arn), tg_arn)


_CLI_LOCK = threading.Lock()  # redirect_stdout is process-wide


class Stack:
    def __init__(self, tag: str, env: dict[str, str] | None = None, dataplane: dict[str, Any] | None = None,
                 quiet: bool = True) -> None:
        self.tag = tag
        self.env = {**FAST, **(env or {})}
        self.dataplane = {**FAST_DATAPLANE, **(dataplane or {})}
        self.quiet = quiet
        self.bytecode_cache = True
        self.workers: list[tuple[Any, threading.Thread]] = []
        self._ctx: list[Any] = []
        self._clients: dict[str, Any] = {}
        self._rules: dict[tuple[str, str], Rule] = {}

    # --- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> "Stack":
        import logging

        if self.quiet:
            logging.basicConfig(level=logging.ERROR)
            for name in ("paas", "werkzeug", "botocore", "alembic"):
                logging.getLogger(name).setLevel(logging.ERROR)
        for k, v in DUMMY_AWS.items():
            os.environ.setdefault(k, v)
        if threading.current_thread() is threading.main_thread():  # `timeout` / kill: still clean up
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        self._db_cm = scratch_database(self.tag)
        self.db_url = self._db_cm.__enter__()
        self.tmp = tempfile.TemporaryDirectory(prefix=f"paas-bench-{self.tag}-")
        self.pycache = str(Path(self.tmp.name) / "pycache")
        try:
            from paas.devstack.bootstrap import bootstrap_dev_environment
            from paas.devstack.dataplane import DataPlaneSettings
            from paas.devstack.emulator import start_emulator
            from paas.devstack.up import upsert_dev_environment

            self.emulator = start_emulator(port=0, dataplane_settings=DataPlaneSettings(**self.dataplane))
            self.boot = bootstrap_dev_environment(self.emulator.endpoint_url, "us-east-1", "dev")
            upsert_dev_environment(self.db_url, self.boot, self.emulator.endpoint_url)
            for k, v in self.env.items():
                os.environ[k] = v
            os.environ.update({
                "PAAS_DATABASE_URL": self.db_url, "PAAS_ENV": "dev", "PAAS_ACTOR": "bench@bench",
                "PAAS_HOME": str(Path(self.tmp.name) / "home"), "AWS_ENDPOINT_URL": self.emulator.endpoint_url,
            })
            from paas.db.sql import connect

            self.db = connect(self.db_url, "paas-bench")
            self.db.conn.autocommit = True
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop_workers()
        if getattr(self, "db", None) is not None:
            self.db.close()
            self.db = None
        if getattr(self, "emulator", None) is not None:
            self.emulator.stop()
            self.emulator = None
        self.tmp.cleanup()
        self._db_cm.__exit__(*exc)

    # --- workers ---------------------------------------------------------------------
    def start_worker(self, concurrency: int = 2) -> Any:
        from paas.reconciler.worker import Worker

        w = Worker(self.db_url, concurrency=concurrency)  # reads PAAS_* durations now
        t = threading.Thread(target=w.run, name="bench-worker", daemon=True)
        t.start()
        self.workers.append((w, t))
        return w

    def stop_workers(self) -> None:
        for w, _ in self.workers:
            w.stop()
        for _, t in self.workers:
            t.join(timeout=20)
        self.workers.clear()

    # --- CLI ---------------------------------------------------------------------------
    def cli(self, *args: str) -> Result:
        """`paas ARGS` through the real entry point, in this process."""
        from paas.cli.main import main

        out, err = io.StringIO(), io.StringIO()
        code = 0
        with _CLI_LOCK, redirect_stdout(out), redirect_stderr(err):
            try:
                main(list(args))
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        return Result(code, out.getvalue(), err.getvalue())

    def child_env(self) -> dict[str, str]:
        """The environment for a `paas` child process. This sandbox sets PYTHONDONTWRITEBYTECODE=1,
        so every `paas` start would compile paas's modules from source (~70 ms here); a normal
        install has bytecode caches, so unless `bytecode_cache` is off the child writes and
        reuses them in the stack's scratch directory (PYTHONPYCACHEPREFIX: nothing is written into
        the repository; removed with the stack)."""
        env = dict(os.environ)
        if self.bytecode_cache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = self.pycache
        return env

    def cli_proc(self, *args: str, timeout: float = 120) -> Result:
        """`paas ARGS` as a child process of the real console script."""
        p = subprocess.run([str(PAAS_BIN), *args], capture_output=True, text=True, timeout=timeout,
                           env=self.child_env(), cwd=self.tmp.name)
        return Result(p.returncode, p.stdout, p.stderr)

    def ok(self, *args: str) -> Result:
        r = self.cli(*args)
        if r.code != 0:
            raise RuntimeError(f"paas {' '.join(args)} exited {r.code}: {r.err.strip() or r.out.strip()}")
        return r

    def new_app(self, app_type: str = "web") -> str:
        name = f"b{uuid.uuid4().hex[:8]}"
        self.ok("apps", "create", name, "--type", app_type)
        return name

    # --- database views ----------------------------------------------------------------
    def deployment(self, dep_id: int) -> dict:
        return dict(self.db.one("SELECT * FROM deployments WHERE id = %(i)s", i=dep_id))

    def latest_deployment(self, app: str) -> dict:
        return dict(self.db.one(
            "SELECT d.* FROM deployments d JOIN apps a ON a.id = d.app_id WHERE a.name = %(a)s "
            "ORDER BY d.id DESC LIMIT 1", a=app))

    def events(self, dep_id: int, kind: str | None = None) -> list[dict]:
        rows = self.db.all("SELECT *, extract(epoch FROM at)::float8 AS t FROM deployment_events "
                           "WHERE deployment_id = %(i)s ORDER BY id", i=dep_id)
        return [dict(r) for r in rows if kind is None or r.kind == kind]

    def wait_state(self, dep_id: int, timeout: float = 60, interval: float = 0.02,
                   states: tuple[str, ...] = ("succeeded", "failed", "rolled_back", "cancelled", "superseded"),
                   ) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            d = self.deployment(dep_id)
            if d["state"] in states:
                return d
            if time.monotonic() > deadline:
                tail = [e["message"] for e in self.events(dep_id)][-5:]
                raise RuntimeError(f"deployment {dep_id} still {d['state']} after {timeout:.0f}s: {tail}")
            time.sleep(interval)

    def wait_idle(self, app: str, timeout: float = 30) -> None:
        """No deployment in flight for the app (so the next request starts from a settled state)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            n = self.db.scalar("SELECT count(*) FROM deployments d JOIN apps a ON a.id = d.app_id "
                               "WHERE a.name = %(a)s AND d.state IN ('pending', 'in_progress')", a=app)
            if not n:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{app} still has a deployment in flight after {timeout:.0f}s")

    def wait_known_good(self, app: str, version: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.db.scalar("SELECT r.known_good_at IS NOT NULL FROM releases r JOIN apps a ON a.id = r.app_id "
                              "WHERE a.name = %(a)s AND r.version = %(v)s", a=app, v=version):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{app} v{version} not known-good after {timeout:.0f}s")

    # --- AWS, read independently of the controller --------------------------------------
    def client(self, service: str) -> Any:
        c = self._clients.get(service)
        if c is None:
            c = self._clients[service] = self.emulator.client(service)
        return c

    def rule(self, app: str, process: str = "web") -> Rule:
        key = (app, process)
        if key not in self._rules:
            from paas.aws.boto_driver import parse_infra
            from paas.domain.specs import stack_name

            st = self.client("cloudformation").describe_stacks(StackName=stack_name(app, "dev"))["Stacks"][0]
            infra = parse_infra({o["OutputKey"]: o.get("OutputValue", "") for o in st.get("Outputs") or []})[process]
            self._rules[key] = Rule(app, process, infra.rule_arn,
                                    {"blue": infra.blue_target_group, "green": infra.green_target_group})
        return self._rules[key]

    def weights(self, rule: Rule) -> dict[str, int]:
        """{colour: weight} straight from DescribeRules."""
        r = self.client("elbv2").describe_rules(RuleArns=[rule.rule_arn])["Rules"][0]
        out: dict[str, int] = {}
        for a in r.get("Actions") or []:
            for tg in (a.get("ForwardConfig") or {}).get("TargetGroups") or []:
                out[rule.colour_of(tg["TargetGroupArn"])] = int(tg.get("Weight", 0))
        return out

    def track_publishes(self) -> list[tuple[float, float]]:
        """Instrument the emulator's ALB-metrics publisher (this process's object, no file edited):
        a list that gets (wall time the datapoints were stored, their timestamp) per period.
        The data plane publishes at the end of its tick, under the lock every API request also
        takes, so a datapoint is readable through the API from (about) the first time on."""
        pub = self.emulator.dataplane._metrics
        real = pub.maybe_publish
        log: list[tuple[float, float]] = []

        def maybe_publish(elbv2: Any, cloudwatch: Any, healthy_profiles: Any, now: float) -> bool:
            did = real(elbv2, cloudwatch, healthy_profiles, now)
            if did:
                log.append((time.time(), now))
            return did

        pub.maybe_publish = maybe_publish
        return log

    def track_ticks(self) -> list[tuple[float, float, bool]]:
        """(start, duration, published) per data-plane tick: a tick holds the emulator's lock, so
        every API call waits for it."""
        dp = self.emulator.dataplane
        real = dp.tick
        log: list[tuple[float, float, bool]] = []

        def tick(now: float | None = None) -> None:
            t0 = time.time()
            last = dp._metrics._last
            real(now)
            log.append((t0, time.time() - t0, dp._metrics._last != last))

        dp.tick = tick
        return log

    def load_balancer_arn(self) -> str:
        return self.boot["listener_arn"].replace(":listener/", ":loadbalancer/").rsplit("/", 1)[0]


def poll(fn: Callable[[], Any], timeout: float, interval: float) -> tuple[float, Any] | tuple[None, None]:
    """Call fn() every `interval` until it returns something truthy: (time.time() it was seen, value)."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return time.time(), v
        if time.monotonic() > deadline:
            return None, None
        time.sleep(interval)


def image(app: str, tag: str) -> str:
    return f"registry.example.com/{app}:{tag}"


def print_calls_table(columns: dict[str, dict[str, int]]) -> None:
    """operation → calls, one column per run, with totals."""
    ops = sorted({op for c in columns.values() for op in c},
                 key=lambda op: (-sum(c.get(op, 0) for c in columns.values()), op))
    names = list(columns)
    w = max([len(op) for op in ops] + [len("operation"), len("total")])
    print(f"  {'operation':<{w}}  " + "  ".join(f"{n:>14}" for n in names))
    print(f"  {'-' * w}  " + "  ".join("-" * 14 for _ in names))
    for op in ops:
        print(f"  {op:<{w}}  " + "  ".join(f"{columns[n].get(op, 0):>14}" for n in names))
    print(f"  {'-' * w}  " + "  ".join("-" * 14 for _ in names))
    print(f"  {'total':<{w}}  " + "  ".join(f"{sum(columns[n].values()):>14}" for n in names))
