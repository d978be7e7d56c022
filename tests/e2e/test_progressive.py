"""Progressive delivery end to end: blue-green, metric-gated canary, instant rollback."""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.conftest import deployment_id


def weights(stack, app, process="web"):
    st = stack.paas("status", app, "--json").json()
    return st["processes"][process]["weights"]


def alb_weights(stack, app) -> list[int]:
    """The app's listener-rule weights straight from the ALB, smallest first."""
    from paas.aws.session import make_driver

    drv = make_driver("us-east-1", endpoint_url=stack.emulator.endpoint_url)
    infra = drv.describe_stack(f"paas-{app}-dev").infra["web"]
    rule = stack.client("elbv2").describe_rules(RuleArns=[infra.rule_arn])["Rules"][0]
    fwd = next(a for a in rule["Actions"] if a["Type"] == "forward")
    return sorted(tg["Weight"] for tg in fwd["ForwardConfig"]["TargetGroups"])


def events(stack, dep, kind=None):
    return [e for e in stack.events(dep) if kind is None or e["kind"] == kind]


def test_blue_green_shifts_in_one_call_and_keeps_the_old_colour(stack):
    app = stack.app()
    stack.start_worker()
    assert stack.paas("deploy", app, "--image", "shop:1", "--strategy", "blue-green", "--wait").code == 0
    r = stack.paas("deploy", app, "--image", "shop:2", "--strategy", "blue-green", "--wait")
    assert r.code == 0, r.out + r.err
    st = stack.paas("status", app, "--json").json()["processes"]["web"]
    assert st["release"] == 2
    assert sorted(st["weights"].values()) == [0, 100]
    live = st["active_colour"]
    assert st["weights"][live] == 100
    # the previous colour still runs v1, ready for an instant rollback
    old = [c for c in st["colours"] if c != live][0]
    assert st["colours"][old]["release"] == 1 and st["colours"][old]["running_count"] >= 1
    dep = json.loads(stack.paas("history", app, "--json").out)[0]["deployment_id"]
    shifts = [e for e in events(stack, dep, "step") if e["step"].startswith("ShiftTraffic")]
    assert len(shifts) == 1 and shifts[0]["aws_request_id"]


def test_rollback_after_blue_green_is_a_single_modify_rule(stack):
    from paas.aws.accounting import reset, snapshot

    app = stack.app()
    stack.start_worker()
    assert stack.paas("deploy", app, "--image", "shop:1", "--strategy", "blue-green", "--wait").code == 0
    assert stack.paas("deploy", app, "--image", "shop:2", "--strategy", "blue-green", "--wait").code == 0
    reset()
    r = stack.paas("rollback", app, "--wait")
    assert r.code == 0, r.out + r.err
    calls = snapshot()["calls"]
    mutating = {k: v for k, v in calls.items()
                if not any(k.split(":")[1].startswith(p) for p in ("Describe", "List", "Get"))}
    assert mutating == {"elasticloadbalancing:ModifyRule": 1}, calls
    assert stack.paas("status", app, "--json").json()["processes"]["web"]["release"] == 3  # v3 copies v1


def test_healthy_canary_is_promoted_with_evidence(stack):
    app = stack.app()
    stack.start_worker()
    assert stack.paas("deploy", app, "--image", "shop:1", "--wait").code == 0
    r = stack.paas("deploy", app, "--image", "shop:2", "--strategy", "canary", "--wait")
    assert r.code == 0, r.out + r.err
    dep = json.loads(stack.paas("history", app, "--json").out)[0]["deployment_id"]
    gates = events(stack, dep, "gate")
    assert gates, "every sample read is recorded"
    traffic = events(stack, dep, "traffic")
    assert [e["data"]["percent"] for e in traffic] == [10, 100]
    promotion = traffic[1]["data"]["evidence"]["gate"]
    assert promotion["verdict"] == "pass" and promotion["canary"]["requests"] >= 20
    assert weights(stack, app)[stack.paas("status", app, "--json").json()["processes"]["web"]["active_colour"]] == 100


def test_canary_with_5xx_is_taken_out_and_rolled_back(stack):
    from paas.devstack.profiles import set_profile

    app = stack.app()
    set_profile(stack.emulator.profiles_path, "*:bad5xx*", error_rate=0.3)
    stack.start_worker()
    assert stack.paas("deploy", app, "--image", "shop:1", "--wait").code == 0
    r = stack.paas("deploy", app, "--image", "shop:bad5xx", "--strategy", "canary", "--wait")
    assert r.code == 1, r.out + r.err
    dep = json.loads(stack.paas("history", app, "--json").out)[0]
    assert dep["state"] == "rolled_back"
    rb = events(stack, dep["deployment_id"], "rollback_started")
    assert rb and "5xx rate" in rb[0]["message"]
    assert rb[0]["data"]["evidence"]["gate"]["verdict"] == "breach"
    assert max(e["data"]["percent"] for e in events(stack, dep["deployment_id"], "traffic")) == 10
    st = stack.paas("status", app, "--json").json()["processes"]["web"]
    assert st["release"] == 1 and st["weights"][st["active_colour"]] == 100


def test_canary_latency_regression_relative_to_stable_is_rolled_back(stack):
    from paas.devstack.profiles import set_profile

    app = stack.app()
    set_profile(stack.emulator.profiles_path, "*:slow-p99*", p99_ms=400)  # stable ~40 ms, ratio 10×
    stack.start_worker()
    assert stack.paas("deploy", app, "--image", "shop:1", "--wait").code == 0
    r = stack.paas("deploy", app, "--image", "shop:slow-p99", "--strategy", "canary", "--wait")
    assert r.code == 1
    dep = json.loads(stack.paas("history", app, "--json").out)[0]
    rb = events(stack, dep["deployment_id"], "rollback_started")
    assert rb and "stable" in rb[0]["message"]


def test_canary_without_traffic_is_inconclusive_then_fails_at_the_deadline(stack, tmp_path):
    app = stack.app()
    stack.emulator.dataplane.update_settings(requests_per_second=0)
    try:
        toml = tmp_path / "paas.toml"
        toml.write_text('[processes.web]\nport = 8080\n[strategy]\nstep_deadline = "3s"\nbake = "1s"\n')
        stack.start_worker()
        assert stack.paas("deploy", app, "--image", "shop:1", "--manifest", str(toml), "--wait").code == 0
        r = stack.paas("deploy", app, "--image", "shop:2", "--strategy", "canary", "--manifest", str(toml), "--wait")
        assert r.code == 1
    finally:
        stack.emulator.dataplane.update_settings(requests_per_second=50)
    dep = json.loads(stack.paas("history", app, "--json").out)[0]
    assert dep["state"] == "failed"
    verdicts = {g["data"]["gate"]["verdict"] for g in events(stack, dep["deployment_id"], "gate")}
    assert verdicts == {"inconclusive"}


def test_pause_at_holds_until_promote(stack):
    app = stack.app()
    stack.start_worker()
    assert stack.paas("deploy", app, "--image", "shop:1", "--wait").code == 0
    dep = deployment_id(stack.paas("deploy", app, "--image", "shop:2", "--strategy", "canary",
                                   "--pause-at", "10", "--json"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any("paused" in e["message"] for e in events(stack, dep, "gate")):
            break
        time.sleep(0.2)
    else:
        pytest.fail("never paused")
    # the worker keeps polling the paused canary; its timeline records the pause once, not per poll
    worker = stack.workers[-1][0]
    seen = worker.passes
    deadline = time.monotonic() + 60
    while worker.passes < seen + 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker.passes >= seen + 10
    assert stack.deployment(dep)["state"] == "in_progress"
    paused = [e for e in events(stack, dep, "gate") if "paused" in e["message"]]
    assert len(paused) == 1, [e["message"] for e in paused]
    assert stack.paas("promote", app).code == 0
    assert stack.wait_state(dep)["state"] == "succeeded"


def test_second_quick_deploy_supersedes_cleanly(stack):
    app = stack.app()
    stack.start_worker()
    assert stack.paas("deploy", app, "--image", "shop:1", "--wait").code == 0
    first = deployment_id(stack.paas("deploy", app, "--image", "shop:2", "--strategy", "canary", "--json"))
    stack.wait_state(first, states=("in_progress",))  # the second arrives while the first is in flight
    second = deployment_id(stack.paas("deploy", app, "--image", "shop:3", "--strategy", "canary", "--json"))
    assert stack.wait_state(second)["state"] == "succeeded"
    assert stack.deployment(first)["state"] in ("superseded", "rolled_back")
    st = stack.paas("status", app, "--json").json()["processes"]["web"]
    assert st["release"] == 3 and st["weights"][st["active_colour"]] == 100


def test_promote_and_abort_with_nothing_in_flight_is_bad_input(stack):
    app = stack.app()
    for verb in ("promote", "abort"):
        r = stack.paas(verb, app)
        assert r.code == 2 and "nothing to" in r.err


def test_worker_killed_during_a_canary_step_resumes_at_that_step(stack, tmp_path, monkeypatch):
    import signal

    toml = tmp_path / "paas.toml"
    toml.write_text('[processes.web]\nport = 8080\n[strategy]\nbake = "4s"\n')
    app = stack.app()
    stack.start_worker()
    assert stack.paas("deploy", app, "--image", "shop:1", "--manifest", str(toml), "--wait").code == 0
    stack.stop_workers()  # from here on a real worker process that we can kill
    first = stack.spawn_worker()
    dep = deployment_id(stack.paas("deploy", app, "--image", "shop:2", "--strategy", "canary",
                                   "--manifest", str(toml), "--json"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not events(stack, dep, "traffic"):
        time.sleep(0.1)
    assert [e["data"]["percent"] for e in events(stack, dep, "traffic")] == [10]
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert alb_weights(stack, app) == [10, 90]  # the canary holds its step while nobody watches
    stack.spawn_worker()
    assert stack.wait_state(dep)["state"] == "succeeded"
    traffic = events(stack, dep, "traffic")
    assert [e["data"]["percent"] for e in traffic] == [10, 100], "resumed at 10%, shifted once to 100%"
    assert traffic[1]["data"]["evidence"]["gate"]["verdict"] == "pass"
    steps = [e["step"] for e in events(stack, dep, "step")]
    assert len(steps) == len(set(steps))


def test_abort_takes_a_paused_canary_out_at_once(stack):
    app = stack.app()
    stack.start_worker()
    assert stack.paas("deploy", app, "--image", "shop:1", "--wait").code == 0
    dep = deployment_id(stack.paas("deploy", app, "--image", "shop:2", "--strategy", "canary",
                                   "--pause-at", "10", "--json"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any("paused" in e["message"] for e in events(stack, dep, "gate")):
        time.sleep(0.2)
    assert alb_weights(stack, app) == [10, 90]
    r = stack.paas("abort", app, "--wait")
    assert r.code == 1, r.out + r.err  # rolled back: not a success
    assert stack.deployment(dep)["state"] == "rolled_back"
    assert alb_weights(stack, app) == [0, 100]
    rb = events(stack, dep, "rollback_started")
    assert rb and "aborted by request" in rb[0]["message"]
