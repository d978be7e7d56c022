"""AWS requests per deploy: a rolling deploy costs no more than ecs-deploy's 10 for the same
change (bench/vs_ecs_deploy.py), and a canary gate sample with nothing else changing costs two
(GetMetricData and DescribeServices), with the same checks made: stack state, target health and
listener weights.

Calls are counted by paas's own accounting (paas/aws/accounting.py: every call paas's boto3
clients make, by operation), process-wide: the worker runs in this process, alone.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.e2e.conftest import deployment_id, wait_for

ECS_DEPLOY_REQUESTS = 10  # bench/vs_ecs_deploy.py: what ecs-deploy sends for the same rolling deploy
READ = ("Describe", "Get", "List")


def _calls() -> Counter:
    from paas.aws import accounting

    return Counter(accounting.snapshot()["calls"])


def _known_good_and_idle(stack, app: str, version: int) -> bool:
    """The release is known-good and the app's work item is neither leased nor due soon (its
    steady duties, garbage collection included, are done)."""
    from paas.db.sql import connect

    db = connect(stack.db_url)
    try:
        r = db.one(
            """
            SELECT r.known_good_at IS NOT NULL AS kg,
                   w.lease_owner IS NULL AND w.run_after > now() + interval '60 seconds' AS idle
              FROM releases r JOIN apps a ON a.id = r.app_id
              JOIN work_queue w ON w.app_id = a.id AND w.environment_id = r.environment_id
             WHERE a.name = %(a)s AND r.version = %(v)s
            """, a=app, v=version)
        return bool(r and r.kg and r.idle)
    finally:
        db.close()


def _rolling_deploy_calls(stack, app: str, tag: str) -> Counter:
    before = _calls()
    r = stack.paas("deploy", app, "--image", f"shop:{tag}", "--json")
    assert r.code == 0, r.err
    d = stack.wait_state(deployment_id(r), timeout=60)
    assert d["state"] == "succeeded", d
    return _calls() - before


def test_a_rolling_deploy_costs_no_more_aws_requests_than_ecs_deploy(stack, monkeypatch):
    # the poll interval bench/vs_ecs_deploy.py gives both tools (ecs-deploy --sleep-time 1)
    monkeypatch.setenv("PAAS_POLL_INTERVAL", "1")
    app = stack.app()
    worker = stack.start_worker(concurrency=1)
    assert stack.paas("deploy", app, "--image", "shop:1", "--wait").code == 0
    wait_for("v1 known-good and the worker idle", lambda: _known_good_and_idle(stack, app, 1))

    # Cold: the worker remembers nothing of the app (a restarted worker, or another one's lease).
    worker.memo.clear()
    cold = _rolling_deploy_calls(stack, app, "2")
    assert sum(cold.values()) <= ECS_DEPLOY_REQUESTS, dict(cold)
    # ... and it made the same checks as before: the stack's state, the listener weights, the
    # new tasks' target health, the owner of what it changed (tags read in the same pass)
    for op in ("cloudformation:DescribeStacks", "elasticloadbalancing:DescribeRules",
               "elasticloadbalancing:DescribeTargetHealth", "ecs:DescribeServices",
               "ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition", "ecs:UpdateService"):
        assert cold[op] >= 1, (op, dict(cold))

    # Warm: the next deploy, by the worker that saw the stack settle under its own lease.
    wait_for("v2 known-good and the worker idle", lambda: _known_good_and_idle(stack, app, 2))
    warm = _rolling_deploy_calls(stack, app, "3")
    assert sum(warm.values()) <= ECS_DEPLOY_REQUESTS, dict(warm)
    assert warm["cloudformation:DescribeStacks"] == 0, dict(warm)  # settled, seen by this very worker
    assert warm["elasticloadbalancing:DescribeTargetHealth"] >= 1, dict(warm)  # the new tasks' health
    assert warm["elasticloadbalancing:DescribeRules"] == 1, dict(warm)  # a new request: weights re-read


@pytest.fixture
def passes(monkeypatch):
    """Every reconcile pass of in-process workers, with the AWS calls it made."""
    import paas.reconciler.worker as worker_module

    real = worker_module.reconcile_once
    seen: list[tuple[Counter, object]] = []

    def counted(*args, **kwargs):
        before = _calls()
        out = real(*args, **kwargs)
        seen.append((_calls() - before, out))
        return out

    monkeypatch.setattr(worker_module, "reconcile_once", counted)
    return seen


def test_a_steady_canary_gate_sample_costs_at_most_two_calls(stack, passes):
    app = stack.app()
    stack.start_worker(concurrency=1)
    assert stack.paas("deploy", app, "--image", "shop:1", "--wait").code == 0
    wait_for("v1 known-good and the worker idle", lambda: _known_good_and_idle(stack, app, 1))
    dep = deployment_id(stack.paas("deploy", app, "--image", "shop:2", "--strategy", "canary",
                                   "--pause-at", "10", "--json"))
    start = len(passes)
    wait_for("the canary paused at 10%",
          lambda: any("paused" in e["message"] for e in stack.events(dep) if e["kind"] == "gate"))
    paused_at = len(passes)
    wait_for("a few passes of the paused canary", lambda: len(passes) >= paused_at + 5)

    # a gate sample: a pass that read the canary's metrics and changed nothing (after a pass that
    # failed, e.g. an emulator timeout on a loaded machine, everything is read afresh: not steady)
    samples = [calls for (calls, _), (_, before) in zip(passes[start + 1:], passes[start:])
               if calls["cloudwatch:GetMetricData"] and all(op.split(":")[1].startswith(READ) for op in calls)
               and not before.error]
    assert len(samples) >= 5, [dict(c) for c, _ in passes[start:]]
    worst = max(samples, key=lambda c: sum(c.values()))
    assert sum(worst.values()) <= 2, [dict(c) for c in samples]
    assert all(c["ecs:DescribeServices"] == 1 for c in samples), [dict(c) for c in samples]
    assert stack.paas("abort", app).code == 0
    stack.wait_state(dep, timeout=60)
