"""bench/pipeline: from an ECR push to 100% of production on the local stack, by phase.

Set-up (bench/_progressive.py): scratch database, in-process emulator (fast data plane, metric
period 1 s), environments `staging` and `production` (own ECS clusters, the same ALB), one
worker in this process (so `paas.aws.accounting` counts every AWS call paas makes; the pushes
themselves go through plain boto3 and are not counted). Durations: the e2e suite's (poll 0.2 s,
bake 1 s) with a 2 s staging soak; SQS long polls of 20 s (PAAS_PUSH_WAIT, the production value).

1. Detection latency at an idle worker: N pushes one after the other (tests that fail, so
   nothing deploys and the worker is idle again before the next), each measured from the
   message's SentTimestamp (when it landed on the queue) to the check row being written (the
   pass that starts the check) and to RunTask's answer being recorded.
2. Push → 100% of production: M healthy pushes of an app that runs a release in both stages
   (a canary needs one), each split into phases from the database's timestamps: detection,
   checks, staging (deployment), known-good (staging's bake), soak, canary 10%, canary 100%;
   plus AWS calls per promoted image (everything paas sent from the push to the release,
   including the workers' steady-state passes meanwhile).

    .venv/bin/python bench/pipeline.py [--detections 20] [--pushes 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _progressive as b  # noqa: E402
from _common import banner, machine, median, pct  # noqa: E402

SOAK = 2

MANIFEST = """
app = "{app}"
[strategy]
min_requests = 5
[pipeline]
repository = "{app}"
tags = "main-*"
test_command = "pytest -q"
[[pipeline.stages]]
environment = "staging"
soak = "{soak}s"
[[pipeline.stages]]
environment = "production"
strategy = "canary"
canary_steps = [10, 100]
"""


def wait(what: str, check, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def setup_app(st: b.Stack, baseline: bool) -> str:
    app = st.new_app("web")
    toml = Path(st.tmp.name) / f"{app}.toml"
    toml.write_text(MANIFEST.format(app=app, soak=SOAK))
    st.ok("pipeline", "set", app, "--manifest", str(toml))
    if baseline:
        for env in ("staging", "production"):
            st.ok("deploy", app, "--image", f"registry.example.com/{app}:base", "-e", env, "--manifest", str(toml),
                  "--wait")
    return app


def push(st: b.Stack, app: str, tag: str, profile: str) -> dict:
    from paas.devstack.push import dev_push

    return dev_push(st.emulator.endpoint_url, "us-east-1", f"{app}:{tag}", preset=profile,
                    profiles_path=st.emulator.profiles_path)


def row(st: b.Stack, digest: str):
    return st.db.one("""
        SELECT i.id, i.state, i.end_reason, i.queued_at, i.seen_at, c.created_at AS check_at,
               c.started_at AS task_at, c.finished_at AS checked_at, i.ended_at
          FROM image_pushes i LEFT JOIN image_checks c ON c.push_id = i.id WHERE i.digest = %(d)s""", d=digest)


def detections(st: b.Stack, n: int) -> None:
    app = setup_app(st, baseline=False)
    to_row, to_task = [], []
    for i in range(n):
        time.sleep(0.5)  # idle: the previous push's passes are over
        p = push(st, app, f"main-{i}", "failing-tests")
        r = wait("the check", lambda: (lambda r: r if r is not None and r.task_at is not None else None)(
            row(st, p["digest"])), 60)
        to_row.append((r.check_at - r.queued_at).total_seconds())
        to_task.append((r.task_at - r.queued_at).total_seconds())
        wait("the push's end", lambda: row(st, p["digest"]).state != "active", 60)
    banner(f"detection latency, idle worker, {n} pushes (SQS long poll {b.os.environ['PAAS_PUSH_WAIT']} s)")
    for label, xs in (("queue → check recorded", to_row), ("queue → RunTask answered", to_task)):
        print(f"{label:<28} p50 {median(xs) * 1000:7.0f} ms   p99 {pct(xs, 99) * 1000:7.0f} ms   "
              f"max {max(xs) * 1000:7.0f} ms")


PHASES = ("detection", "checks", "staging", "known-good", "soak", "canary 10%", "canary 100%", "total")


def phases(st: b.Stack, digest: str) -> dict[str, float]:
    r = row(st, digest)
    proms = st.db.all("""
        SELECT p.stage, p.created_at, d.id AS deployment_id, d.finished_at, rel.known_good_at
          FROM promotions p JOIN deployments d ON d.id = p.deployment_id JOIN releases rel ON rel.id = d.release_id
         WHERE p.push_id = %(p)s ORDER BY p.stage""", p=r.id)
    staging, production = proms
    shift = st.db.scalar("""
        SELECT min(at) FROM deployment_events WHERE deployment_id = %(d)s AND kind = 'traffic'
           AND (data->>'percent')::int = 100""", d=production.deployment_id)
    s = lambda a, z: (z - a).total_seconds()  # noqa: E731
    return {"detection": s(r.queued_at, r.check_at), "checks": s(r.check_at, r.checked_at),
            "staging": s(staging.created_at, staging.finished_at),
            "known-good": s(staging.finished_at, staging.known_good_at),
            "soak": s(staging.known_good_at, production.created_at),
            "canary 10%": s(production.created_at, shift), "canary 100%": s(shift, production.finished_at),
            "total": s(r.queued_at, r.ended_at)}


def to_production(st: b.Stack, m: int) -> None:
    from paas.aws import accounting

    app = setup_app(st, baseline=True)
    runs, calls = [], []
    for i in range(m):
        time.sleep(1.0)
        accounting.reset()
        p = push(st, app, f"main-{i}", "healthy")
        r = wait("the release", lambda: (lambda r: r if r is not None and r.state != "active" else None)(
            row(st, p["digest"])), 180)
        if r.state != "released":
            raise SystemExit(f"push {i} ended {r.state}: {r.end_reason}")
        calls.append(Counter(accounting.snapshot()["calls"]))
        runs.append(phases(st, p["digest"]))
    banner(f"push → 100% of production, {m} pushes (staging soak {SOAK} s, bake {b.os.environ['PAAS_BAKE']} s, "
           "canary 10 → 100)")
    for ph in PHASES:
        xs = [r[ph] for r in runs]
        print(f"{ph:<14} median {median(xs):6.2f} s   min {min(xs):6.2f} s   max {max(xs):6.2f} s")
    totals = [sum(c.values()) for c in calls]
    print(f"\nAWS calls per promoted image: median {median(totals):.0f} (min {min(totals)}, max {max(totals)})")
    mid = sorted(range(m), key=lambda i: totals[i])[m // 2]
    for op, n in calls[mid].most_common():
        print(f"  {op:<44} {n}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--detections", type=int, default=20)
    ap.add_argument("--pushes", type=int, default=3)
    a = ap.parse_args()
    env = {"PAAS_POLL_INTERVAL": "0.2", "PAAS_BAKE": "1", "PAAS_PUSH_WAIT": "20", "PAAS_PIPELINE_RESYNC": "3600"}
    with b.Stack("pipeline", env=env) as st:
        from paas.devstack.up import add_environment

        for name in ("staging", "production"):
            add_environment(st.db_url, st.boot, st.emulator.endpoint_url, name)
        w = st.start_worker()
        print(machine())
        setup_app(st, baseline=False)  # the worker makes the push route once a pipeline exists
        wait("the push queue", lambda: w.consumers and all(c.queue_url for c in w.consumers.values()), 60)
        detections(st, a.detections)
        to_production(st, a.pushes)


if __name__ == "__main__":
    main()
