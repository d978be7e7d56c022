"""`paas run`, `paas tasks`: one-off tasks of the live release on the local stack."""

from __future__ import annotations

import pytest

from paas.devstack.profiles import set_profile
from tests.e2e.conftest import wait_for


def _deployed(stack, image_tag="1", **profile):
    app = stack.app()
    image = f"registry.example.com/{app}:{image_tag}"
    if profile:
        set_profile(stack.emulator.profiles_path, image, **profile)
    stack.start_worker()
    r = stack.paas("deploy", app, "--image", image, "--wait")
    assert r.code == 0, r.out + r.err
    return app, image


def _runs(stack, app, *extra):
    r = stack.paas("tasks", app, "--json", *extra)
    assert r.code == 0, r.err
    return r.json()




def test_run_streams_the_tasks_lines_and_exits_with_its_code(stack):
    app, image = _deployed(stack, run_seconds=0.5, exit_code=3, log=["applying 0042_add_index", "migration failed"],
                           crash_message="error: relation already exists")
    r = stack.paas("run", app, "--", "manage", "migrate", "--plan")
    assert r.code == 3, r.out + r.err
    lines = r.out.splitlines()
    assert lines[0] == f"[paas devstack] simulated container web started from {image}, command: manage migrate --plan"
    assert lines[1:] == ["applying 0042_add_index", "migration failed", "error: relation already exists"]
    assert "exited with code 3" in r.err and f"on {app} v1 (web) in dev" in r.err

    [run] = _runs(stack, app)
    assert (run["command"], run["exit_code"], run["state"], run["actor"]) == ("manage migrate --plan", 3, "failed",
                                                                            "tester@test")
    assert run["release_version"] == 1 and run["process"] == "web" and run["log_tail"][-1] == "error: relation already exists"
    # who ran what, when, with which exit code: in `paas history` and in SQL
    hist = stack.paas("history", app, "--json").json()
    assert [h.get("type") for h in hist] == ["run", None]
    assert hist[0]["command"] == "manage migrate --plan" and hist[0]["exit_code"] == 3
    table = stack.paas("history", app).out
    assert f"run {run['run_id']}" in table and "failed (exit 3)" in table
    [row] = stack.sql("SELECT app, environment, kind, release_version, command, actor, exit_code, state, task_id "
                        "FROM paas_task_runs")
    assert (row.app, row.kind, row.release_version, row.command, row.exit_code, row.state) == (
        app, "run", 1, "manage migrate --plan", 3, "failed")
    assert row.task_id == run["task_id"]


def test_a_successful_run_exits_zero_and_the_task_has_the_commands_override(stack):
    app, _ = _deployed(stack, run_seconds=0.2, log=["ok"])
    r = stack.paas("run", app, "--process", "web", "--cpu", "512", "--memory", "1024", "--", "echo", "hi there")
    assert r.code == 0, r.out + r.err
    [run] = _runs(stack, app)
    t = stack.client("ecs").describe_tasks(cluster=stack.boot["cluster"], tasks=[run["task_arn"]])["tasks"][0]
    assert t["overrides"]["containerOverrides"][0]["command"] == ["echo", "hi there"]
    assert (t["overrides"].get("cpu"), t["overrides"].get("memory")) == ("512", "1024")
    assert t["startedBy"].startswith(f"paas-run-{run['run_id']}-") and len(t["startedBy"]) <= 36
    assert run["state"] == "succeeded" and run["exit_code"] == 0


def test_detach_prints_the_task_and_a_worker_records_its_end_and_tasks_stop_stops_it(stack):
    app, _ = _deployed(stack, run_seconds=3600)
    r = stack.paas("run", app, "--detach", "--", "sleep", "infinity")
    assert r.code == 0, r.err
    task_id = r.out.strip()
    assert task_id and "\n" not in task_id and "paas tasks stop" in r.err
    [run] = _runs(stack, app)
    assert run["task_id"] == task_id and run["state"] == "running"

    r = stack.paas("tasks", "stop", app, task_id)
    assert r.code == 0, r.err
    done = wait_for("the worker recording the stopped task",
                    lambda: (x := _runs(stack, app)[0])["state"] != "running" and x, timeout=30)
    assert done["state"] == "stopped" and done["stop_code"] == "UserInitiated"
    assert "stopped by tester@test" in done["stopped_reason"]
    again = stack.paas("tasks", "stop", app, task_id)
    assert again.code == 2 and "already stopped" in again.err


def test_ctrl_c_leaves_the_task_running_and_says_how_to_stop_it(stack, monkeypatch):
    app, _ = _deployed(stack, run_seconds=1.5)
    import paas.cli.run as cli_run

    def interrupted(seconds):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(cli_run.time, "sleep", interrupted)
        r = stack.paas("run", app, "--", "manage", "migrate")
    assert r.code == 130, r.err
    assert "keeps running" in r.err and f"paas tasks stop {app} " in r.err
    done = wait_for("the worker recording the task's end", lambda: (x := _runs(stack, app)[0])["state"] != "running"
                    and x, timeout=30)
    assert done["state"] == "succeeded" and done["exit_code"] == 0


@pytest.mark.parametrize("args,needle", [
    (["--"], "no command given"),
    ([], "no command given"),
    (["--process", "nope", "--", "ls"], "unknown process 'nope'"),
    (["--process", "Bad", "--", "ls"], "invalid process name"),
    (["--cpu", "300", "--", "ls"], "cpu"),
    (["--cpu", "1024", "--", "ls"], "cpu/memory pair"),
    (["--", "sh", "-c", "x\x1b[2J"], "control character"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(stack, args, needle):
    app, _ = _deployed(stack)
    r = stack.paas("run", app, *args)
    assert r.code == 2, r.out + r.err
    assert needle in r.err and len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
    assert stack.sql("SELECT count(*) AS n FROM task_runs")[0].n == 0


def test_run_before_any_deploy_says_so(stack):
    app = stack.app()
    r = stack.paas("run", app, "--", "ls")
    assert r.code == 2 and "no live release" in r.err


def test_a_task_stopped_by_someone_else_exits_1_with_the_reason(stack):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    app, _ = _deployed(stack, run_seconds=3600)
    proc = subprocess.Popen([sys.executable, "-m", "paas.cli.main", "run", app, "--", "sleep", "infinity"],
                            cwd=str(ROOT), env={**os.environ, "PAAS_LOG_POLL": "0.2"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    run = wait_for("the run to start its task", lambda: (r := _runs(stack, app)) and r[0]["task_id"] and r[0],
                   timeout=30)
    assert stack.paas("tasks", "stop", app, str(run["run_id"])).code == 0
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert f"task {run['task_id']} stopped: stopped by tester@test (paas tasks stop)" in err
    assert _runs(stack, app)[0]["state"] == "stopped"
