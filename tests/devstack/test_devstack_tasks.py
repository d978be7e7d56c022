"""One-off tasks (RunTask / StopTask) and task logs in CloudWatch Logs, through boto3."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from paas.devstack.profiles import load_profiles, profile_for_image, set_profile


@pytest.fixture
def logs(emulator):
    return emulator.client("logs")


def _task_definition(ecs, family, image, group, *, create_group=False, command=None):
    options = {"awslogs-group": group, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "app"}
    if create_group:
        options["awslogs-create-group"] = "true"
    container = {"name": "main", "image": image, "essential": True,
                 "logConfiguration": {"logDriver": "awslogs", "options": options}}
    if command:
        container["command"] = command
    return ecs.register_task_definition(
        family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[container],
    )["taskDefinition"]["taskDefinitionArn"]


def _run(ecs, env, td, **kwargs):
    return ecs.run_task(
        cluster=env["cluster"], taskDefinition=td, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": env["subnets"],
                                                      "securityGroups": env["security_groups"]}},
        **kwargs,
    )["tasks"][0]


def _describe(ecs, env, arn):
    return ecs.describe_tasks(cluster=env["cluster"], tasks=[arn])["tasks"][0]


def _lines(logs, group, stream):
    return [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName=stream,
                                                      startFromHead=True)["events"]]


def test_a_one_off_task_runs_to_completion_with_its_exit_code_and_logs(ecs, logs, emulator, env, name, wait):
    image = f"repo/{name}:migrate"
    set_profile(emulator.profiles_path, image, start_seconds=0.4, run_seconds=0.5, exit_code=3,
                log=["running migrations", "migration failed"], crash_message="error: relation exists")
    group = f"/paas/{name}"
    logs.create_log_group(logGroupName=group)
    td = _task_definition(ecs, name, image, group, command=["serve"])

    task = _run(ecs, env, td, overrides={"containerOverrides": [{"name": "main", "command": ["manage", "migrate"]}]})
    assert (task["lastStatus"], task["desiredStatus"]) == ("PROVISIONING", "RUNNING")
    task_id = task["taskArn"].rsplit("/", 1)[-1]

    statuses = []

    def stopped():
        t = _describe(ecs, env, task["taskArn"])
        statuses.append(t["lastStatus"])
        return t if t["lastStatus"] == "STOPPED" else None

    done = wait(stopped, timeout=10, interval=0.02, what="the one-off task to stop")
    seen = [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]
    assert seen[-1] == "STOPPED" and "RUNNING" in seen
    assert seen.index("RUNNING") > 0  # PROVISIONING / PENDING came first
    assert done["stoppedReason"] == "Essential container in task exited"
    assert done["stopCode"] == "EssentialContainerExited"
    assert done["containers"][0]["exitCode"] == 3
    assert done["overrides"]["containerOverrides"][0]["command"] == ["manage", "migrate"]
    assert (done["stoppedAt"] - done["startedAt"]).total_seconds() == pytest.approx(0.5, abs=0.01)

    lines = _lines(logs, group, f"app/main/{task_id}")
    assert lines[0] == f"[paas devstack] simulated container main started from {image}, command: manage migrate"
    assert lines[1:] == ["running migrations", "migration failed", "error: relation exists"]


def test_a_successful_one_off_task_exits_zero(ecs, logs, emulator, env, name, wait):
    image = f"repo/{name}:ok"
    set_profile(emulator.profiles_path, image, run_seconds=0.2, log=["done"], log_every_seconds=0)
    group = f"/paas/{name}"
    logs.create_log_group(logGroupName=group)
    task = _run(ecs, env, _task_definition(ecs, name, image, group))
    done = wait(lambda: (t := _describe(ecs, env, task["taskArn"]))["lastStatus"] == "STOPPED" and t,
                timeout=10, what="exit")
    assert done["containers"][0]["exitCode"] == 0
    assert done["stopCode"] == "EssentialContainerExited"
    stream = f"app/main/{task['taskArn'].rsplit('/', 1)[-1]}"
    assert _lines(logs, group, stream)[1:] == ["done"]


def test_periodic_log_lines_repeat_while_the_task_runs(ecs, logs, emulator, env, name, wait):
    image = f"repo/{name}:chatty"
    set_profile(emulator.profiles_path, image, run_seconds=1.0, log=["tick"], log_every_seconds=0.25)
    group = f"/paas/{name}"
    logs.create_log_group(logGroupName=group)
    task = _run(ecs, env, _task_definition(ecs, name, image, group))
    wait(lambda: _describe(ecs, env, task["taskArn"])["lastStatus"] == "STOPPED", timeout=10, what="exit")
    lines = _lines(logs, group, f"app/main/{task['taskArn'].rsplit('/', 1)[-1]}")
    assert lines.count("tick") == 1 + 4  # once at start, then at 0.25, 0.5, 0.75 and 1.0 s


def test_stop_task_stops_it_as_user_initiated_without_an_exit_code(ecs, logs, emulator, env, name, wait):
    image = f"repo/{name}:long"
    set_profile(emulator.profiles_path, image, run_seconds=3600)
    group = f"/paas/{name}"
    logs.create_log_group(logGroupName=group)
    task = _run(ecs, env, _task_definition(ecs, name, image, group))
    wait(lambda: _describe(ecs, env, task["taskArn"])["lastStatus"] == "RUNNING", timeout=10, what="RUNNING")

    resp = ecs.stop_task(cluster=env["cluster"], task=task["taskArn"], reason="cancelled by the test")["task"]
    assert resp["desiredStatus"] == "STOPPED" and resp["lastStatus"] == "RUNNING"
    done = wait(lambda: (t := _describe(ecs, env, task["taskArn"]))["lastStatus"] == "STOPPED" and t,
                timeout=10, what="STOPPED")
    assert (done["stopCode"], done["stoppedReason"]) == ("UserInitiated", "cancelled by the test")
    assert "exitCode" not in done["containers"][0]

    with pytest.raises(ClientError) as err:
        ecs.stop_task(cluster=env["cluster"], task="0123456789abcdef0123456789abcdef")
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"


def test_a_missing_log_group_fails_the_task_at_start_unless_it_may_create_it(ecs, logs, emulator, env, name, wait):
    image = f"repo/{name}:v1"
    missing = _run(ecs, env, _task_definition(ecs, f"{name}-a", image, f"/paas/{name}/missing"))
    done = wait(lambda: (t := _describe(ecs, env, missing["taskArn"]))["lastStatus"] == "STOPPED" and t,
                timeout=10, what="failed start")
    assert done["stopCode"] == "TaskFailedToStart"
    assert done["stoppedReason"].startswith("ResourceInitializationError:")
    assert "The specified log group does not exist" in done["stoppedReason"]
    assert "startedAt" not in done

    created = _run(ecs, env, _task_definition(ecs, f"{name}-b", image, f"/paas/{name}/auto", create_group=True))
    wait(lambda: _describe(ecs, env, created["taskArn"])["lastStatus"] == "STOPPED", timeout=10, what="exit")
    assert _describe(ecs, env, created["taskArn"])["stopCode"] == "EssentialContainerExited"
    groups = [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=f"/paas/{name}")["logGroups"]]
    assert groups == [f"/paas/{name}/auto"]


def test_service_tasks_write_their_logs_too(apps, ecs, logs, emulator, env, name, wait):
    image = f"repo/{name}:web"
    set_profile(emulator.profiles_path, image, log=["listening on :8080"])
    group = f"/paas/{name}"
    logs.create_log_group(logGroupName=group)
    td = _task_definition(ecs, name, image, group)
    apps.service(name, td, desired=1)
    apps.wait_completed(name, td, desired=1)
    (arn,) = ecs.list_tasks(cluster=env["cluster"], serviceName=name)["taskArns"]
    assert _lines(logs, group, f"app/main/{arn.rsplit('/', 1)[-1]}")[1:] == ["listening on :8080"]


def test_dev_cli_sets_exit_code_and_log_lines(tmp_path, monkeypatch):
    from tests.conftest import run_cli

    monkeypatch.setenv("PAAS_HOME", str(tmp_path))
    r = run_cli("dev", "profile", "set", "img:*", "--exit-code", "3", "--log", "migration failed",
                "--log", "bye", "--run-seconds", "2", "--fail-ratio", "0.5", "--health-code", "503", "--json")
    assert r.code == 0, r.err
    shown = json.loads(r.out)
    assert (shown["exit_code"], shown["log"], shown["run_seconds"]) == (3, ["migration failed", "bye"], 2.0)
    prof = profile_for_image(load_profiles(tmp_path / "profiles.json"), "img:v1")
    assert (prof.exit_code, prof.log, prof.fail_ratio, prof.health_code) == (3, ("migration failed", "bye"), 0.5, 503)

    bad = run_cli("dev", "profile", "set", "img:*", "--health-code", "42")
    assert bad.code == 2 and bad.err.strip().count("\n") == 0 and "health_code" in bad.err
    assert profile_for_image(load_profiles(tmp_path / "profiles.json"), "img:v1").health_code == 503
