"""`paas logs`: an app's task lines from CloudWatch Logs (the simulated data plane writes them)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from paas.devstack.profiles import set_profile
from tests.conftest import ROOT


def _app(stack, **profile):
    app = stack.app()
    image = f"registry.example.com/{app}:1"
    set_profile(stack.emulator.profiles_path, image, **profile)
    stack.start_worker()
    r = stack.paas("deploy", app, "--image", image, "--wait")
    assert r.code == 0, r.out + r.err
    return app


def test_logs_prints_one_line_per_event_with_time_process_and_task(stack):
    app = _app(stack, run_seconds=0.2, log=["line one", "line two"])
    assert stack.paas("run", app, "--", "say", "hello").code == 0
    run = stack.paas("tasks", app, "--json").json()[0]
    r = stack.paas("logs", app)
    assert r.code == 0, r.err
    mine = [ln for ln in r.out.splitlines() if run["task_id"][:12] in ln]
    assert [ln.split("  ")[-1] for ln in mine][1:] == ["line one", "line two"]
    assert all(" web " in ln for ln in mine)
    events = stack.paas("logs", app, "--json").json()
    assert {"timestamp", "process", "task_id", "stream", "message"} <= set(events[0])
    tasks = {e["task_id"] for e in events}
    assert run["task_id"] in tasks and len(tasks) >= 2  # the service's task logged too
    only = stack.paas("logs", app, "--task", run["task_id"], "--json").json()
    assert {e["task_id"] for e in only} == {run["task_id"]} and only[-1]["message"] == "line two"
    assert stack.paas("logs", app, "--task", run["task_arn"], "--json").json() == only
    assert stack.paas("logs", app, "--process", "web", "--since", "10m", "--json").json() == events
    assert stack.paas("logs", app, "--since", "1s", "--json").code == 0


def test_follow_prints_new_lines_until_its_timeout(stack):
    app = _app(stack, run_seconds=0.5, log=["tick"], log_every_seconds=0.2)
    env = {**os.environ}
    follower = subprocess.Popen([sys.executable, "-m", "paas.cli.main", "logs", app, "-f", "--timeout", "6s",
                                 "--json"], cwd=str(ROOT), env={**env, "PAAS_LOG_POLL": "0.2"},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # the follower has printed what was there; what follows is new
    r = stack.paas("run", app, "--detach", "--", "tick")
    assert r.code == 0, r.err
    task = r.out.strip()
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    import json

    lines = [json.loads(x) for x in out.splitlines()]
    new = [x for x in lines if x["task_id"] == task]
    # a follower prints lines as they arrive; a line can arrive after a later one (a loaded data plane
    # writes a task's lines late, with their own times), so the order checked is the lines' times
    new.sort(key=lambda x: x["timestamp"])
    assert new and new[0]["message"].endswith("command: tick") and "tick" in [x["message"] for x in new], new
    assert len({(x["stream"], x["timestamp"], x["message"]) for x in lines}) == len(lines)  # none twice


@pytest.mark.parametrize("args,needle", [
    (["--since", "yesterday"], "--since"),
    (["--process", "nope"], "unknown process 'nope'"),
    (["--task", "../etc"], "invalid --task"),
    (["-f", "--timeout", "x"], "--timeout"),
])
def test_bad_input_is_one_line_and_exit_2(stack, args, needle):
    app = _app(stack)
    r = stack.paas("logs", app, *args)
    assert r.code == 2, r.out + r.err
    assert needle in r.err and len(r.err.strip().splitlines()) == 1
