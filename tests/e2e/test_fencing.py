"""Fencing AWS, which takes no token: a worker frozen mid-step sends nothing when it wakes, and
what a stale request could have changed is found and put back.

The freeze is real: a `paas worker` process stops itself (SIGSTOP, as a VM pause would catch it)
right before it sends a traffic shift (`PAAS_FAILPOINTS`), and is continued once another worker
has taken over and finished the deployment.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import deployment_id, wait_for


def _stopped(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
    except OSError:
        return False


def _rule_weights(stack, app: str) -> dict[str, int]:
    from paas.domain.specs import stack_name

    cfn = stack.client("cloudformation")
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in cfn.describe_stacks(StackName=stack_name(app, "dev"))["Stacks"][0]["Outputs"]}
    rule = next(v for k, v in outputs.items() if "Rule" in k)
    elb = stack.client("elbv2")
    r = elb.describe_rules(RuleArns=[rule])["Rules"][0]
    tgs = r["Actions"][0]["ForwardConfig"]["TargetGroups"]
    return rule, {t["TargetGroupArn"]: t["Weight"] for t in tgs}


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP")
def test_a_frozen_worker_sends_nothing_when_it_wakes_and_drift_is_put_back(stack):
    app = stack.app()
    helper = stack.start_worker()
    assert stack.paas("deploy", app, "--image", "shop:1", "--wait").code == 0
    stack.stop_workers()
    del helper

    # worker A freezes itself right before sending its first traffic shift
    frozen = stack.spawn_worker(env={"PAAS_FAILPOINTS": "before-aws:ShiftTraffic=stop"})
    dep = deployment_id(stack.paas("deploy", app, "--image", "shop:2", "--strategy", "canary",
                                   "--pause-at", "10", "--json"))
    wait_for("worker A to freeze before its shift", lambda: _stopped(frozen.pid), timeout=120)
    rule, before = _rule_weights(stack, app)

    # abort while A is frozen: recorded at once, whatever A holds
    t0 = time.monotonic()
    r = stack.paas("abort", app)
    assert r.code == 0, r.err
    assert time.monotonic() - t0 < 5, "a steering command waited behind a frozen worker"

    # worker B takes over once A's lease has expired and rolls the canary back
    stack.start_worker()
    d = stack.wait_state(dep, timeout=120)
    assert d["state"] in ("rolled_back", "cancelled"), d
    _, after_rescue = _rule_weights(stack, app)
    assert after_rescue == before  # the canary never got traffic: the stable colour has it all

    # A wakes: its shift is refused by the send guard, nothing reaches AWS
    frozen.send_signal(signal.SIGCONT)
    log = Path(stack.tmp / "worker-0.log")
    wait_for("worker A to find its lease gone", lambda: "not sent" in log.read_text(), timeout=60)
    time.sleep(0.5)  # anything A might still send would have left by now; the weights must not move
    assert _rule_weights(stack, app)[1] == before
    events = stack.events(dep)
    assert not any(e["kind"] == "traffic" for e in events), [e["message"] for e in events]

    # a weight changed by hand is drift: one resync finds it and the app's reconcile puts it back
    elb = stack.client("elbv2")
    tgs = list(before)
    live = max(before, key=before.get)
    other = next(t for t in tgs if t != live)
    elb.modify_rule(RuleArn=rule, Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": live, "Weight": 90}, {"TargetGroupArn": other, "Weight": 10}]}}])
    from paas.db.catalog import find_env
    from paas.db.sql import connect
    from paas.reconciler.drivers import driver_for
    from paas.reconciler.resync import resync_environment

    db = connect(stack.db_url)
    try:
        env = find_env(db, "dev")
        res = resync_environment(db, env, driver_for(env))
    finally:
        db.close()
    # the workers' own passes may see the drift first (the steady planner compares weights too);
    # then it is already back when this resync reads the rule
    assert any("listener weights" in x["what"] for x in res.drifted) or _rule_weights(stack, app)[1] == before, \
        res.drifted
    wait_for("the weights put back", lambda: _rule_weights(stack, app)[1] == before, timeout=60)
    drift = [e for e in stack.events(_live_deployment(stack, app)) if e["kind"] == "drift"]
    assert drift, "the drift and its repair are recorded"
    os.kill(frozen.pid, signal.SIGTERM)


def _live_deployment(stack, app: str) -> int:
    rows = json.loads(stack.paas("status", app, "--json").out)
    return rows["current_release"]["deployment_id"]
