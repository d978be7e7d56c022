"""Scheduled jobs: `[jobs.NAME]` as EventBridge Scheduler schedules of the live release, fired by the
dev stack's clock, their runs recorded, and `paas jobs`."""

from __future__ import annotations

import json
import time

import pytest

from paas.devstack.profiles import set_profile
from paas.domain import names

JOBS = """
[processes.web]
port = 8080

[jobs.report]
schedule = "rate(1 minute)"
command = "report --daily"

[jobs.cleanup]
schedule = "cron(0 3 * * ? *)"
command = "cleanup --old"
cpu = 512
memory = 1024
"""

ONE_JOB = """
[processes.web]
port = 8080

[jobs.cleanup]
schedule = "cron(30 4 * * ? *)"
command = "cleanup --older"
"""


def _manifest(stack, text, name="paas.toml"):
    path = stack.tmp / name
    path.write_text(text)
    return str(path)


def _jobs(stack, app):
    r = stack.paas("jobs", app, "--json")
    assert r.code == 0, r.err
    return {j["job"]: j for j in r.json()["jobs"]}


def _schedules(stack, app):
    sch = stack.client("scheduler")
    group = names.schedule_group(app, "dev")
    try:
        listed = sch.list_schedules(GroupName=group)["Schedules"]
    except sch.exceptions.ResourceNotFoundException:
        return {}
    out = {}
    for s in listed:
        try:
            out[s["Name"]] = sch.get_schedule(GroupName=group, Name=s["Name"])
        except sch.exceptions.ResourceNotFoundException:
            pass  # the worker deleted it between the two calls
    return out


def _wait(what, check, timeout=60.0, stack=None, app=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    seen = ""
    if stack is not None:
        hist = stack.paas("history", app, "--json").json()
        seen = (f"; jobs: {stack.paas('jobs', app, '--json').out}; schedules: {list(_schedules(stack, app))}; "
                f"last events: {[(e['kind'], e['message']) for e in stack.events(hist[0]['deployment_id'])][-8:]}; "
                f"queue: {_queue(stack)}; recorded task definitions: {_recorded_tds(stack)}; "
                f"ECS revisions: {_revisions(stack, app)}")
    pytest.fail(f"{what} within {timeout:.0f}s{seen}")


def _recorded_tds(stack):
    return [(r.family, r.task_version, r.arn.rsplit("/", 1)[-1])
            for r in stack.sql("SELECT family, task_version, arn FROM task_definitions ORDER BY recorded_at")]


def _revisions(stack, app):
    """Each revision of the app's web family with its paas:release tag and status."""
    ecs = stack.client("ecs")
    out = []
    for status in ("ACTIVE", "INACTIVE"):
        for arn in ecs.list_task_definitions(familyPrefix=f"{app}-dev-web", status=status)["taskDefinitionArns"]:
            tags = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"]).get("tags") or []
            out.append((arn.rsplit("/", 1)[-1], status, {t["key"]: t["value"] for t in tags}.get("paas:release")))
    return out


def _queue(stack):
    from paas.db.sql import connect

    db = connect(stack.db_url)
    try:
        return [dict(r) for r in db.all("SELECT run_after, attempts, last_error, lease_owner FROM work_queue")]
    finally:
        db.close()


def _td(stack, app, version):
    arn = stack.client("ecs").describe_task_definition(taskDefinition=f"{app}-dev-web:{version}")
    return arn["taskDefinition"]["taskDefinitionArn"]


@pytest.fixture
def worker(stack, monkeypatch):
    monkeypatch.setenv("PAAS_JOBS_POLL", "0.3")
    return stack.start_worker()


def test_jobs_are_scheduled_on_each_release_removed_with_paas_toml_and_restored_by_a_rollback(stack, worker):
    app = stack.app()
    image = f"registry.example.com/{app}"
    set_profile(stack.emulator.profiles_path, f"{image}:*", run_seconds=0.3, exit_code=0, log=["report sent"])
    r = stack.paas("deploy", app, "--image", f"{image}:1", "--manifest", _manifest(stack, JOBS), "--wait")
    assert r.code == 0, r.out + r.err
    jobs = _wait("both jobs scheduled", lambda: (j := _jobs(stack, app)) and all(
        x["state"] == "scheduled" for x in j.values()) and j)
    assert set(jobs) == {"report", "cleanup"} and jobs["report"]["release_version"] == 1
    sch = _schedules(stack, app)
    assert set(sch) == {"report", "cleanup"}
    cleanup = sch["cleanup"]
    assert cleanup["ScheduleExpression"] == "cron(0 3 * * ? *)" and cleanup["State"] == "ENABLED"
    ecs = cleanup["Target"]["EcsParameters"]
    assert ecs["TaskDefinitionArn"] == _td(stack, app, 1) and ecs["Group"] == "paas-job:cleanup"
    assert json.loads(cleanup["Target"]["Input"]) == {
        "containerOverrides": [{"name": "web", "command": ["cleanup", "--old"]}], "cpu": "512", "memory": "1024"}
    assert cleanup["Target"]["RoleArn"].split(":role/")[1].startswith("paas/")  # the stack's scheduler role
    group_arn = stack.client("scheduler").get_schedule_group(Name=names.schedule_group(app, "dev"))["Arn"]
    tags = {t["Key"]: t["Value"] for t in stack.client("scheduler").list_tags_for_resource(
        ResourceArn=group_arn)["Tags"]}
    assert tags == {"paas:app": app, "paas:env": "dev"}
    assert jobs["cleanup"]["next_run_at"].endswith("03:00:00+00:00")

    # a rate job fires at once on the dev stack's clock; its run and exit code are recorded
    ran = _wait("the report job's run recorded", lambda: (j := _jobs(stack, app)["report"])["last_exit_code"] == 0
                and j)
    assert ran["last_task_id"] and ran["last_run_at"]
    runs = stack.paas("tasks", app, "--all", "--json").json()
    job_runs = [x for x in runs if x["kind"] == "job" and x["job"] == "report"]
    assert job_runs and job_runs[0]["command"] == "report --daily" and job_runs[0]["release_version"] == 1
    assert len({x["task_arn"] for x in job_runs}) == len(job_runs)  # each run recorded once
    table = stack.paas("jobs", app).out
    assert "report" in table and "rate(1 minute)" in table and "scheduled" in table

    # v2 moves the jobs to its task definition
    assert stack.paas("deploy", app, "--image", f"{image}:2", "--manifest", _manifest(stack, JOBS), "--wait").code == 0
    _wait("the jobs on v2", lambda: all(
        s["Target"]["EcsParameters"]["TaskDefinitionArn"] == _td(stack, app, 2) for s in _schedules(stack, app).values()))
    # v3 drops `report` and changes `cleanup`
    r = stack.paas("deploy", app, "--image", f"{image}:3", "--manifest", _manifest(stack, ONE_JOB, "one.toml"),
                   "--wait")
    assert r.code == 0, r.out + r.err
    sch = _wait("report removed", lambda: (s := _schedules(stack, app)) and set(s) == {"cleanup"} and s,
                stack=stack, app=app)
    assert sch["cleanup"]["ScheduleExpression"] == "cron(30 4 * * ? *)"
    _wait("paas jobs agreeing", lambda: set(_jobs(stack, app)) == {"cleanup"})
    # a rollback to v2 restores v2's jobs, on v2's task definition
    assert stack.paas("rollback", app, "--to", "v2", "--wait").code == 0
    sch = _wait("v2's jobs back", lambda: (s := _schedules(stack, app)) and set(s) == {"report", "cleanup"} and all(
        x["Target"]["EcsParameters"]["TaskDefinitionArn"] == _td(stack, app, 2) for x in s.values()) and s,
                stack=stack, app=app)
    assert sch["cleanup"]["ScheduleExpression"] == "cron(0 3 * * ? *)"
    dep = stack.paas("history", app, "--json").json()[0]["deployment_id"]
    assert any(e["kind"] == "jobs" and "report" in e["message"] for e in stack.events(dep))


@pytest.mark.parametrize("toml,needle", [
    ('[jobs.report]\nschedule = "every hour"\ncommand = "x"', "invalid schedule"),
    ('[jobs.report]\nschedule = "rate(1 hours)"\ncommand = "x"', "rate(1 hour)"),
    ('[jobs.report]\nschedule = "cron(0 3 * * * *)"\ncommand = "x"', "'?'"),
    ('[jobs.report]\nschedule = "cron(0 25 * * ? *)"\ncommand = "x"', "out of range"),
    ('[jobs.Report]\nschedule = "rate(1 hour)"\ncommand = "x"', "invalid job name"),
    ('[jobs.report-of-the-day-and-the-night-too]\nschedule = "rate(1 hour)"\ncommand = "x"', "invalid job name"),
    ('[jobs.report]\nschedule = "rate(1 hour)"', "needs a command"),
    ('[jobs.report]\nschedule = "rate(1 hour)"\ncommand = "x"\nprocess = "worker"', "names no process"),
    ('[release]\ncommand = "migrate"\nprocess = "nope"', "names no process"),
])
def test_bad_jobs_are_refused_with_one_line_and_exit_2(stack, toml, needle):
    app = stack.app()
    r = stack.paas("deploy", app, "--image", "shop:1", "--manifest", _manifest(stack, toml))
    assert r.code == 2, r.out + r.err
    assert needle in r.err and len(r.err.strip().splitlines()) == 1
    assert stack.paas("history", app, "--json").json() == []
