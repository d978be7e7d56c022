"""Garbage collection end to end: the CLI, real Postgres, a worker, the boto3 driver, the emulator.

"GC keeps exactly what the policy says" (issue 4): old task-definition revisions are
deregistered down to the policy's count, nothing a running or rollback-ready release needs goes,
the previous colour is scaled to 0 only after its keep window, and `paas gc --dry-run` says
beforehand exactly what then happens.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from functools import partial

from paas.db.sql import connect
from tests.e2e.conftest import wait_for as _wait_for

# GC's waits: shorter than the shared default, polled less often
wait_for = partial(_wait_for, timeout=40.0, every=0.2)


def revisions(stack, app: str) -> list[int]:
    """ACTIVE revisions of the app's web family, straight from the emulator."""
    ecs = stack.client("ecs")
    arns = ecs.list_task_definitions(familyPrefix=f"{app}-dev-web", status="ACTIVE")["taskDefinitionArns"]
    return sorted(int(a.rsplit(":", 1)[1]) for a in arns if a.rsplit("/", 1)[1].rsplit(":", 1)[0] == f"{app}-dev-web")


def service(stack, app: str, colour: str) -> dict:
    out = stack.client("ecs").describe_services(cluster=stack.boot["cluster"], services=[f"{app}-web-{colour}"])
    return out["services"][0]


def colours(stack, app: str) -> tuple[str, str]:
    live = stack.paas("status", app, "--json").json()["processes"]["web"]["active_colour"]
    return live, "green" if live == "blue" else "blue"


def gc_events(stack, app: str) -> list[dict]:
    db = connect(stack.db_url)
    try:
        return [dict(r) for r in db.all(
            "SELECT e.* FROM deployment_events e JOIN deployments d ON d.id = e.deployment_id "
            "JOIN apps a ON a.id = d.app_id WHERE a.name = %(n)s AND e.kind = 'gc' ORDER BY e.id", n=app)]
    finally:
        db.close()


def db_value(stack, sql: str, **kw):
    db = connect(stack.db_url)
    try:
        return db.scalar(sql, **kw)
    finally:
        db.close()


def stop_workers(stack) -> None:
    """Stop the worker threads only (Stack.stop also deletes the test's services)."""
    for w, _ in stack.workers:
        w.stop()
    for _, t in stack.workers:
        t.join(timeout=15)


def deploy(stack, app: str, n: int) -> None:
    r = stack.paas("deploy", app, "--image", f"shop:{n}", "--strategy", "blue-green", "--wait")
    assert r.code == 0, r.out + r.err


def test_gc_keeps_exactly_what_the_policy_says(stack, monkeypatch):
    """Web defaults (keep 5) with a short previous-colour window from the settings."""
    monkeypatch.setenv("PAAS_GC_PREVIOUS_COLOUR_KEEP", "6")
    monkeypatch.setenv("PAAS_GC_INTERVAL", "1")
    app = stack.app("web")
    stack.start_worker()
    for n in range(1, 8):
        deploy(stack, app, n)
    live, prev = colours(stack, app)
    # inside the keep window the previous colour still runs v6, ready for a one-flip rollback
    assert service(stack, app, prev)["desiredCount"] > 0
    assert service(stack, app, prev)["taskDefinition"].endswith(":6")

    wait_for("old revisions deregistered", lambda: revisions(stack, app) == [3, 4, 5, 6, 7])
    wait_for("previous colour scaled to 0", lambda: service(stack, app, prev)["desiredCount"] == 0)

    # exactly the policy: the newest 5 revisions, which include the current (7) and the previous colour's (6)
    time.sleep(1.5)  # a few more passes (the GC interval is 1 s) change nothing
    assert revisions(stack, app) == [3, 4, 5, 6, 7]
    cur = service(stack, app, live)
    assert cur["taskDefinition"].endswith(":7") and cur["desiredCount"] >= 1
    st = stack.paas("status", app, "--json").json()["processes"]["web"]
    assert st["release"] == 7 and st["weights"][live] == 100

    events = gc_events(stack, app)
    deregistered = sorted(int(e["data"]["arn"].rsplit(":", 1)[1]) for e in events
                          if e["step"].startswith("DeregisterTaskDefinition"))
    assert deregistered == [1, 2]
    scaled = [e for e in events if e["step"].startswith("ScaleService")]
    assert len(scaled) == 1 and f"{app}-web-{prev}" in scaled[0]["message"]
    finished = db_value(stack, "SELECT max(d.finished_at) FROM deployments d JOIN apps a ON a.id = d.app_id "
                               "WHERE a.name = %(n)s", n=app)
    assert (scaled[0]["at"] - finished).total_seconds() >= 6.0  # not before the keep window ended
    assert all(e["aws_request_id"] for e in events)


def test_dry_run_shows_what_gc_then_does(stack, monkeypatch):
    """Per-app overrides (keep 2, previous colour 5 s); GC deregisters only when due or asked."""
    monkeypatch.setenv("PAAS_GC_INTERVAL", "3600")
    app = stack.app("web")
    r = stack.paas("apps", "gc-policy", app, "--keep-task-definitions", "2", "--previous-colour-keep", "5s", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["policy"] == {"keep_task_definitions": 2, "previous_colour_keep_seconds": 5.0,
                                           "idle_scale_to_zero_seconds": None}
    stack.start_worker()
    deploy(stack, app, 1)
    app_id = db_value(stack, "SELECT id FROM apps WHERE name = %(n)s", n=app)
    wait_for("the first GC check", lambda: db_value(
        stack, "SELECT gc_checked_at FROM observations WHERE app_id = %(a)s", a=app_id))
    for n in (2, 3, 4):
        deploy(stack, app, n)
    wait_for("v4 known-good", lambda: db_value(
        stack, "SELECT known_good_at FROM releases WHERE app_id = %(a)s AND version = 4", a=app_id))
    stop_workers(stack)  # no worker: nothing moves while we look
    finished = db_value(stack, "SELECT max(finished_at) FROM deployments WHERE app_id = %(a)s", a=app_id)
    time.sleep(max(0.0, 5.5 - (datetime.now(timezone.utc) - finished).total_seconds()))
    live, prev = colours(stack, app)
    assert revisions(stack, app) == [1, 2, 3, 4]  # not due (checked within the hour): nothing deregistered
    assert service(stack, app, prev)["desiredCount"] > 0

    r = stack.paas("gc", app, "--dry-run", "--json")
    assert r.code == 0, r.err
    dry = json.loads(r.out)
    assert dry["runs_now"] is True and dry["policy"]["keep_task_definitions"] == 2
    would_deregister = sorted(int(a["arn"].rsplit(":", 1)[1]) for a in dry["remove"] if a["kind"] == "deregister")
    would_scale = [a["service"] for a in dry["remove"] if a["kind"] == "scale_down"]
    assert would_deregister == [1, 2] and would_scale == [f"{app}-web-{prev}"], dry
    kept = sorted(int(k["name"].rsplit(":", 1)[1]) for k in dry["keep"] if k["kind"] == "task_definition")
    assert kept == [3, 4]
    text = stack.paas("gc", app, "--dry-run")
    assert text.code == 0 and "WOULD REMOVE" in text.out and f"{app}-dev-web:1" in text.out
    assert "older than the newest 2" in text.out and "current release v4" in text.out
    # a dry run changes nothing
    assert revisions(stack, app) == [1, 2, 3, 4] and service(stack, app, prev)["desiredCount"] > 0

    stack.start_worker()
    wait_for("previous colour scaled to 0", lambda: service(stack, app, prev)["desiredCount"] == 0)
    time.sleep(1.0)
    assert revisions(stack, app) == [1, 2, 3, 4]  # scaling needs no listing; deregistering waits to be due

    r = stack.paas("gc", app)
    assert r.code == 0 and "requested" in r.out, r.err
    wait_for("revisions deregistered", lambda: revisions(stack, app) == kept)
    events = gc_events(stack, app)
    assert sorted(int(e["data"]["arn"].rsplit(":", 1)[1]) for e in events
                  if e["step"].startswith("DeregisterTaskDefinition")) == would_deregister
    assert [e["message"] for e in events if e["step"].startswith("ScaleService")] == \
        [a["reason"] for a in dry["remove"] if a["kind"] == "scale_down"]
    assert service(stack, app, live)["desiredCount"] >= 1

    # a steady pass once GC has checked is cheap: no ListTaskDefinitions until the interval or a request
    from paas.aws.accounting import reset, snapshot
    from paas.db import queue

    worker = stack.workers[-1][0]
    wait_for("the GC check recorded", lambda: db_value(
        stack, "SELECT gc_request_handled_id FROM observations WHERE app_id = %(a)s", a=app_id))
    time.sleep(0.5)
    reset()
    passes = worker.passes
    db = connect(stack.db_url)
    try:
        queue.enqueue(db, app_id, db.scalar("SELECT id FROM environments WHERE name = 'dev'"))
        db.commit()
    finally:
        db.close()
    wait_for("a steady pass", lambda: worker.passes > passes)
    calls = snapshot()["calls"]
    assert calls.get("ecs:DescribeServices") and not calls.get("ecs:ListTaskDefinitions"), calls

    after = json.loads(stack.paas("gc", app, "--dry-run", "--json").out)
    assert after["remove"] == []


def test_gc_policy_input_is_checked(stack):
    app = stack.app("batch")
    for args in (["--keep-task-definitions", "0"], ["--previous-colour-keep", "soon"],
                 ["--idle-scale-to-zero", "-1"]):
        r = stack.paas("apps", "gc-policy", app, *args)
        assert r.code == 2 and r.err.count("\n") <= 1 and "invalid" in r.err, (args, r.err)
    shown = json.loads(stack.paas("apps", "gc-policy", app, "--json").out)
    assert shown["overrides"] == {} and shown["policy"]["keep_task_definitions"] == 3
    r = stack.paas("apps", "gc-policy", app, "--idle-scale-to-zero", "never", "--json")
    assert json.loads(r.out)["policy"]["idle_scale_to_zero_seconds"] is None
    assert stack.paas("gc", app).code == 2  # nothing deployed: nothing to collect
