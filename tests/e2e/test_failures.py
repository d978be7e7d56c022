"""Failures that say why, and following a deployment: `--wait`, `paas watch`, `paas deployments watch`."""

from __future__ import annotations

import json

from paas.devstack.profiles import set_profile
from tests.e2e.conftest import deployment_id


def test_a_crash_looping_release_ends_with_the_reason_the_last_lines_and_the_next_command(stack):
    app = stack.app()
    good, crash = f"registry.example.com/{app}:1", f"registry.example.com/{app}:2-crash"
    set_profile(stack.emulator.profiles_path, crash, crash_loop=True, exit_code=137, log=["booting"],
                crash_message="fatal: out of memory")
    stack.start_worker()
    assert stack.paas("deploy", app, "--image", good, "--wait").code == 0
    r = stack.paas("deploy", app, "--image", crash, "--wait")
    assert r.code == 1, r.out + r.err
    assert "ROLLED BACK" in r.out
    assert "(web v2) stopped: Essential container in task exited; exit code 137" in r.out
    assert "| fatal: out of memory" in r.out and "| booting" in r.out
    assert f"next: paas logs {app} -e dev --task " in r.out
    assert "task_stopped" in r.err  # each failed task is in the timeline as it happens
    # the progress line shows failed tasks; identical consecutive lines are printed once
    progress = [ln for ln in r.err.splitlines() if ln.startswith("  ")]
    assert any("failed task" in ln for ln in progress)
    assert all(a != b for a, b in zip(progress, progress[1:]))

    dep = stack.paas("history", app, "--json").json()[0]["deployment_id"]
    stops = [e for e in stack.events(dep) if e["kind"] == "task_stopped"]
    arns = [e["data"]["task_arn"] for e in stops]
    assert stops and len(arns) == len(set(arns)), "each task's stop is recorded once"
    assert all(e["data"]["exit_code"] == 137 and e["data"]["release"] == 2 for e in stops)
    show = stack.paas("deployments", "show", str(dep))
    assert "why it failed:" in show.out and "| fatal: out of memory" in show.out
    failure = stack.paas("deployments", "show", str(dep), "--json").json()["failure"]
    assert failure["failed_tasks"] == len(stops) and failure["task"]["log_tail"][-1] == "fatal: out of memory"
    # and `paas logs` shows the crashing task's lines
    task = failure["task"]["task_id"]
    lines = stack.paas("logs", app, "--task", task, "--json").json()
    assert [x["message"] for x in lines][-1] == "fatal: out of memory"
    assert {x["task_id"] for x in lines} == {task} and {x["process"] for x in lines} == {"web"}


def test_a_request_no_worker_claims_says_so_and_timeout_gives_up(stack):
    app = stack.app()
    r = stack.paas("deploy", app, "--image", "shop:1", "--wait", "--timeout", "11s")
    assert r.code == 1
    assert "no worker has claimed this request: is `paas worker` running?" in r.err
    assert r.err.count("no worker has claimed") == 1
    assert "gave up waiting after 11s" in r.err and "paas deployments watch 1" in r.err
    bad = stack.paas("deploy", app, "--image", "shop:1", "--wait", "--timeout", "soon")
    assert bad.code == 2 and "--timeout" in bad.err


def test_ctrl_c_during_wait_says_the_deployment_continues_and_watch_reattaches(stack, monkeypatch):
    import paas.cli.follow as follow

    app = stack.app()
    dep = deployment_id(stack.paas("deploy", app, "--image", "shop:1", "--json"))

    def interrupted(seconds):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(follow.time, "sleep", interrupted)
        r = stack.paas("deployments", "watch", str(dep))
    assert r.code == 130
    assert f"deployment {dep} continues" in r.err and f"paas deployments watch {dep}" in r.err
    stack.start_worker()
    r = stack.paas("watch", app)
    assert r.code == 0, r.out + r.err
    assert f"following deployment {dep}" in r.err and f"deployment #{dep} (release v1) succeeded" in r.out
    again = stack.paas("deployments", "watch", str(dep), "--json")
    assert again.code == 0 and json.loads(again.out)["state"] == "succeeded"
    assert stack.paas("deployments", "watch", "999").code == 2
    assert stack.paas("watch", stack.app()).code == 2  # nothing deployed yet


def test_a_half_failing_release_is_rolled_back_though_ecs_breaker_never_trips(stack):
    """Every second task of v2 crashes. ECS's breaker resets on each healthy task and never trips;
    paas counts the failures in the timeline and rolls back at ECS's threshold (3 for 4 tasks)."""
    import time

    app = stack.app()
    good, half = f"registry.example.com/{app}:1", f"registry.example.com/{app}:2-half"
    set_profile(stack.emulator.profiles_path, half, fail_ratio=0.5, exit_code=3, crash_message="flaky start")
    stack.start_worker()
    assert stack.paas("deploy", app, "--image", good, "--wait").code == 0
    assert stack.paas("scale", app, "web=4", "--wait").code == 0
    started = time.monotonic()
    r = stack.paas("deploy", app, "--image", half, "--wait")
    took = time.monotonic() - started
    assert r.code == 1 and "ROLLED BACK" in r.out, r.out + r.err
    dep = stack.paas("history", app, "--json").json()[0]
    assert "tasks of v3 failed during its rollout" in dep["error"], dep
    stops = [e for e in stack.events(dep["deployment_id"]) if e["kind"] == "task_stopped"]
    assert sum(e["data"]["release"] == 3 for e in stops) >= 3
    print(f"half-failing release rolled back {took:.1f}s after `paas deploy`")
