"""The release phase: `[release] command` runs as a one-off task of each new release before any
service changes; a failure changes nothing; a rollback runs it again only when asked."""

from __future__ import annotations

import json

from paas.devstack.profiles import set_profile

MANIFEST = """
[processes.web]
port = 8080

[release]
command = "manage migrate --noinput"
"""


def _manifest(stack, text=MANIFEST):
    path = stack.tmp / "paas.toml"
    path.write_text(text)
    return str(path)


def _release_runs(stack, app):
    r = stack.paas("tasks", app, "--all", "--json")
    assert r.code == 0, r.err
    return [t for t in r.json() if t["kind"] == "release"]


def _service(stack, app):
    return stack.client("ecs").describe_services(cluster=stack.boot["cluster"],
                                                 services=[f"{app}-web-blue"])["services"][0]


def test_the_release_phase_runs_before_the_services_change(stack):
    app = stack.app()
    image = f"registry.example.com/{app}:1"
    set_profile(stack.emulator.profiles_path, image, run_seconds=0.3, log=["migrated 3 tables"])
    stack.start_worker()
    r = stack.paas("deploy", app, "--image", image, "--manifest", _manifest(stack), "--wait")
    assert r.code == 0, r.out + r.err
    [run] = _release_runs(stack, app)
    assert (run["command"], run["exit_code"], run["state"], run["release_version"]) == (
        "manage migrate --noinput", 0, "succeeded", 1)
    assert run["log_tail"][-1] == "migrated 3 tables"
    dep = stack.paas("history", app, "--json").json()[0]["deployment_id"]
    steps = [e["step"].split(":")[0] for e in stack.events(dep) if e["kind"] == "step"]
    assert steps.index("RunReleaseTask") < steps.index("CreateService")
    assert steps.index("RegisterTaskDefinition") < steps.index("RunReleaseTask")
    assert "release phase" in r.err  # the timeline says it ran
    # a scale request runs no release phase (same image, same config)
    assert stack.paas("scale", app, "web=2", "--wait").code == 0
    assert len(_release_runs(stack, app)) == 1
    # a config change does (new configuration a migration may read)
    assert stack.paas("config", "set", app, "FEATURE=1", "--wait").code == 0
    assert [x["release_version"] for x in _release_runs(stack, app)] == [3, 1]


def test_a_failing_release_phase_fails_the_deployment_and_changes_no_service(stack):
    app = stack.app()
    good, bad = f"registry.example.com/{app}:1", f"registry.example.com/{app}:2"
    set_profile(stack.emulator.profiles_path, good, run_seconds=0.2)
    set_profile(stack.emulator.profiles_path, bad, run_seconds=0.2, exit_code=3,
                log=["applying 0043_drop_column"], crash_message="django.db.utils.ProgrammingError: column missing")
    stack.start_worker()
    manifest = _manifest(stack)
    assert stack.paas("deploy", app, "--image", good, "--manifest", manifest, "--wait").code == 0
    before = _service(stack, app)

    r = stack.paas("deploy", app, "--image", bad, "--manifest", manifest, "--wait")
    assert r.code == 1, r.out + r.err
    assert "FAILED: release phase `manage migrate --noinput`" in r.out and "exited with code 3" in r.out
    assert "| django.db.utils.ProgrammingError: column missing" in r.out  # the last lines
    assert f"next: paas logs {app} -e dev --task " in r.out
    after = _service(stack, app)
    assert after["taskDefinition"] == before["taskDefinition"] and after["desiredCount"] == before["desiredCount"]
    assert len(after["deployments"]) == 1
    hist = stack.paas("history", app, "--json").json()[0]
    assert hist["state"] == "failed" and "exited with code 3" in hist["error"]
    assert "column missing" in hist["error"]
    steps = [e["step"] for e in stack.events(hist["deployment_id"]) if e["kind"] == "step"]
    assert not [s for s in steps if s.startswith(("UpdateService", "CreateService", "ShiftTraffic"))]
    stopped = [e for e in stack.events(hist["deployment_id"]) if e["kind"] == "task_stopped"]
    assert len(stopped) == 1 and stopped[0]["data"]["exit_code"] == 3
    show = stack.paas("deployments", "show", str(hist["deployment_id"]))
    assert "why it failed:" in show.out and "release phase task" in show.out
    assert json.loads(stack.paas("deployments", "show", str(hist["deployment_id"]), "--json").out)[
        "failure"]["task"]["exit_code"] == 3
    # the app still serves v1
    assert stack.paas("status", app, "--json").json()["processes"]["web"]["release"] == 1


def test_a_rollback_runs_the_release_phase_only_when_asked(stack):
    app = stack.app()
    set_profile(stack.emulator.profiles_path, f"registry.example.com/{app}:*", run_seconds=0.2)
    stack.start_worker()
    manifest = _manifest(stack)
    for tag in ("1", "2"):
        r = stack.paas("deploy", app, "--image", f"registry.example.com/{app}:{tag}", "--manifest", manifest, "--wait")
        assert r.code == 0, r.out + r.err
    assert len(_release_runs(stack, app)) == 2
    assert stack.paas("rollback", app, "--to", "v1", "--wait").code == 0
    assert len(_release_runs(stack, app)) == 2, "a rollback does not migrate again by default"
    r = stack.paas("rollback", app, "--to", "v2", "--run-release-phase", "--wait")
    assert r.code == 0, r.out + r.err
    runs = _release_runs(stack, app)
    assert len(runs) == 3 and runs[0]["release_version"] == 4
    show = stack.paas("deployments", "show", str(stack.paas("history", app, "--json").json()[0]["deployment_id"]),
                      "--json").json()
    assert show["requested"]["run_release_phase"] is True
