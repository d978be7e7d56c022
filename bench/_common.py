"""Shared helpers for bench/pickup_latency.py, bench/resync_cost.py and bench/vs_ecs_deploy.py.

* `scratch_database(tag)`: a fresh, migrated database on PAAS_DATABASE_URL's server, else on
  the embedded PostgreSQL (data dir under /tmp); dropped on exit.
* `running_emulator_stack(settings)`: the in-process AWS emulator (moto + simulated data
  plane) with a `dev` environment bootstrapped in it, and dummy AWS credentials.
* `RequestLog`: counts every request the emulator serves, by client (paas or other, from the
  User-Agent) and by IAM-style operation (``ecs:DescribeServices``); installed by wrapping
  the emulator's WSGI app at runtime (paas/devstack/emulator.py is not edited).
* `python bench/_common.py probe-cli`: the CLI's side of `paas deploy` in its own process,
  printing the wall-clock times around its COMMIT (see `probe_cli_main`).
* `python bench/_common.py probe-worker`: a real `paas worker` (the same start-up as the CLI
  command) whose `paas.db.queue.claim` is wrapped to print one JSON line per claim with the
  wall-clock time the claim returned (committed). Nothing else is changed.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PGDATA = Path(os.environ.get("PAAS_BENCH_PGDATA", "/tmp/paas-bench-pgdata"))
DUMMY_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
             "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


# ---------------------------------------------------------------------------------- numbers
def pct(xs: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = max(0, min(len(xs) - 1, int(round(p / 100 * len(xs) + 0.5)) - 1))
    return xs[k]


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def banner(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 86 - len(title)), flush=True)


def machine() -> str:
    load = os.getloadavg()
    return (f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


# ---------------------------------------------------------------------------------- database
def server_url() -> str:
    from paas.db.url import to_libpq

    explicit = os.environ.get("PAAS_DATABASE_URL")
    if explicit:
        return to_libpq(explicit)
    from paas.db.embedded import ensure_running

    return ensure_running(PGDATA, database="postgres")


def with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def admin(url: str, sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        conn.cursor().execute(sql)
    finally:
        conn.close()


@contextmanager
def scratch_database(tag: str) -> Iterator[str]:
    """A new, migrated database; dropped (connections terminated) on exit."""
    import logging

    from paas.db.migrate import upgrade

    server = server_url()
    name = f"paas_bench_{tag}_{uuid.uuid4().hex[:8]}"
    admin(server, f'CREATE DATABASE "{name}"')
    url = with_db(server, name)
    try:
        upgrade(url)
        logging.getLogger("alembic").setLevel(logging.WARNING)
        yield url
    finally:
        admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redact(url: str) -> str:
    from paas.db.url import redact as r

    return r(url)


# ---------------------------------------------------------------------------------- emulator
def dummy_aws_env() -> None:
    for k, v in DUMMY_AWS.items():
        os.environ.setdefault(k, v)


@contextmanager
def emulator_stack(db_url: str, **settings: Any) -> Iterator[tuple[Any, dict]]:
    """Emulator + simulated data plane (fast timings unless overridden) + `dev` environment."""
    from paas.devstack.bootstrap import bootstrap_dev_environment
    from paas.devstack.dataplane import DataPlaneSettings
    from paas.devstack.emulator import start_emulator
    from paas.devstack.up import upsert_dev_environment

    dummy_aws_env()
    fast = dict(tick_seconds=0.05, steady_state_seconds=0.2, crash_seconds=0.2, metric_period_seconds=1.0)
    fast.update(settings)
    emu = start_emulator(port=0, dataplane_settings=DataPlaneSettings(**fast))
    try:
        boot = bootstrap_dev_environment(emu.endpoint_url, "us-east-1", "dev")
        upsert_dev_environment(db_url, boot, emu.endpoint_url)
        yield emu, boot
    finally:
        emu.stop()


# ---------------------------------------------------------------------------------- request log
_IAM = {"elasticloadbalancing": "elasticloadbalancing", "monitoring": "cloudwatch", "elbv2": "elasticloadbalancing"}


class RequestLog:
    """WSGI middleware counting requests by (client, operation); wraps the emulator's app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.counts: Counter[tuple[str, str]] = Counter()

    @classmethod
    def install(cls, emu: Any) -> "RequestLog":
        server = emu._server  # werkzeug BaseWSGIServer: its handler calls server.app per request
        log = cls(server.app)
        server.app = log
        return log

    @staticmethod
    def _operation(environ: dict) -> tuple[str, str, bytes | None]:
        from paas.devstack.throttle import aws_operation

        service, op, _, body = aws_operation(environ)
        if op == "?":
            op = f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO', '')}"
        return _IAM.get(service, service), op, body

    def __call__(self, environ: dict, start_response: Any) -> Any:
        service, op, body = self._operation(environ)
        if body is not None:
            environ["wsgi.input"] = io.BytesIO(body)
        client = "paas" if "paas" in environ.get("HTTP_USER_AGENT", "") else "other"
        with self.lock:
            self.counts[(client, f"{service}:{op}")] += 1
        return self.app(environ, start_response)

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()

    def take(self) -> dict[str, dict[str, int]]:
        """{client: {operation: n}} since the last reset, then reset."""
        with self.lock:
            out: dict[str, dict[str, int]] = {}
            for (client, op), n in self.counts.items():
                out.setdefault(client, {})[op] = n
            self.counts.clear()
        return out


def print_calls(title: str, calls: dict[str, int], indent: str = "  ") -> None:
    total = sum(calls.values())
    print(f"{indent}{title}: {total} calls")
    for op, n in sorted(calls.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"{indent}  {n:>6}  {op}")


# ---------------------------------------------------------------------------------- probe worker
def probe_worker_main() -> None:
    """`paas worker --concurrency 1`, plus one stdout line per claim: {"claim": key, "t": epoch}."""
    from paas.cli import workers
    from paas.db import queue

    real_claim = queue.claim
    out = sys.stdout
    lock = threading.Lock()

    def claim(db, owner, ttl, limit=1):  # noqa: ANN001
        got = real_claim(db, owner, ttl, limit)
        if got:
            t = time.time()  # the claim's UPDATE has committed (queue.claim commits)
            with lock:
                for c in got:
                    out.write(json.dumps({"claim": c.key, "t": t}) + "\n")
                out.flush()
        return got

    queue.claim = claim
    concurrency = int(os.environ.get("BENCH_WORKER_CONCURRENCY", "1"))
    workers._start(concurrency, False, None, os.environ.get("BENCH_WORKER_LOG_LEVEL", "warning"))


def probe_cli_main() -> None:
    """The CLI's side of a deploy, in a process of its own (no emulator threads competing for
    the GIL, as with the real `paas deploy`): for each app name read from stdin, run
    `paas.service.releases.deploy` in one transaction exactly as `paas deploy` does, and print
    {"deployment_id", "t_before", "t_after", "db_t0"}: wall-clock time just before COMMIT is
    sent and just after it returns, and the database's clock_timestamp() right after."""
    from paas.db.sql import connect
    from paas.service.releases import deploy

    db = connect(os.environ["PAAS_DATABASE_URL"], "paas-cli")
    for line in sys.stdin:
        name = line.strip()
        if not name:
            continue
        req = deploy(db, name, "dev", f"registry.example.com/{name}:1", actor="bench@bench",
                     message="pickup bench")
        t_before = time.time()
        db.commit()  # COMMIT: the NOTIFY is delivered now
        t_after = time.time()
        db_t0 = db.scalar("SELECT extract(epoch FROM clock_timestamp())::float8")
        db.commit()
        print(json.dumps({"deployment_id": req.deployment_id, "t_before": t_before, "t_after": t_after,
                          "db_t0": db_t0}), flush=True)
    db.close()


if __name__ == "__main__":
    if sys.argv[1:] == ["probe-worker"]:
        probe_worker_main()
    elif sys.argv[1:] == ["probe-cli"]:
        probe_cli_main()
    else:
        raise SystemExit("usage: _common.py probe-worker | probe-cli")
