"""The driver's one-off tasks, log reading and job schedules, through boto3 against the emulator."""

from __future__ import annotations

import json
import time

import pytest

from paas.aws import logs as aws_logs
from paas.aws.errors import OwnershipConflict
from paas.domain.errors import PermanentError
from paas.domain.specs import ScheduleSpec, TaskRunSpec
from tests.aws.helpers import owner, sent_params, taskdef


def _td(aws_env, driver, app, release=1):
    aws_env.client("logs").create_log_group(logGroupName=f"/paas/test/{app}")
    return driver.register_task_definition(taskdef(app, release)).result["arn"]


def _spec(aws_env, td, started_by, **kw):
    return TaskRunSpec(cluster=aws_env.cluster, task_definition=td, container_name="web",
                       command=("manage", "migrate"), subnets=tuple(aws_env.subnets),
                       security_groups=tuple(aws_env.security_groups), started_by=started_by, **kw)


def _until(check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    pytest.fail("condition not met in time")


def test_run_task_is_found_again_by_started_by_and_ends_with_its_exit_code_and_lines(aws_env, driver, uid):
    if aws_env.kind != "devstack":
        pytest.skip("needs the simulated data plane")
    app = f"rt{uid}"
    td = _td(aws_env, driver, app)
    spec = _spec(aws_env, td, f"paas-run-1-{uid}", cpu=512, memory=1024)
    with sent_params(driver.api.clients.client("ecs"), "ecs", "RunTask") as sent:
        first = driver.run_task(spec, spec.started_by)
        again = driver.run_task(spec, spec.started_by)  # a retry after a lost answer
    assert again.result == {"task_arn": first.result["task_arn"], "existing": True}
    assert len(sent) == 1, "the retry found the task instead of starting a second"
    assert sent[0]["clientToken"] == spec.started_by and sent[0]["propagateTags"] == "TASK_DEFINITION"
    assert sent[0]["overrides"] == {"containerOverrides": [{"name": "web", "command": ["manage", "migrate"]}],
                                    "cpu": "512", "memory": "1024"}
    arn = first.result["task_arn"]
    done = _until(lambda: (t := driver.task_states(aws_env.cluster, [arn])[arn]).stopped and t)
    assert (done.stop_code, done.exit_code, done.container, done.started_by) == (
        "EssentialContainerExited", 0, "web", spec.started_by)
    assert driver.log_tail(f"/paas/test/{app}", f"web/web/{arn.rsplit('/', 1)[-1]}")[0].endswith(
        "command: manage migrate")
    # another task definition's task under the same startedBy is not taken for ours
    other = driver.register_task_definition(taskdef(app, 2)).result["arn"]
    third = driver.run_task(_spec(aws_env, other, spec.started_by), spec.started_by + "x")
    assert third.result["existing"] is False and third.result["task_arn"] != arn


def test_bad_started_by_and_client_token_are_refused_before_sending(aws_env, driver, uid):
    td = _td(aws_env, driver, f"bt{uid}")
    with pytest.raises(PermanentError, match="startedBy"):
        driver.run_task(_spec(aws_env, td, "x" * 37), "t")
    with pytest.raises(PermanentError, match="client token"):
        driver.run_task(_spec(aws_env, td, f"ok-{uid}"), "y" * 65)


def test_describe_batches_of_100_and_reports_unknown_tasks_missing(aws_env, driver):
    arns = [f"arn:aws:ecs:{aws_env.region}:123456789012:task/{aws_env.cluster}/{i:032x}" for i in range(150)]
    with sent_params(driver.api.clients.client("ecs"), "ecs", "DescribeTasks") as sent:
        found = driver.task_states(aws_env.cluster, arns)
    assert [len(p["tasks"]) for p in sent] == [100, 50]
    assert len(found) == 150 and {t.last_status for t in found.values()} == {"MISSING"}


def test_stop_task_checks_the_owner_first(aws_env, driver, uid):
    if aws_env.kind != "devstack":
        pytest.skip("needs the simulated data plane")
    app = f"st{uid}"
    td = _td(aws_env, driver, app)
    arn = driver.run_task(_spec(aws_env, td, f"paas-run-2-{uid}"), f"stop-{uid}").result["task_arn"]
    with pytest.raises(OwnershipConflict, match="belongs to app"):
        driver.stop_task(aws_env.cluster, arn, "no", owner=owner("someone-else"))
    driver.stop_task(aws_env.cluster, arn, "by the test", owner=owner(app, None))
    done = _until(lambda: (t := driver.task_states(aws_env.cluster, [arn])[arn]).stopped and t)
    assert (done.stop_code, done.stopped_reason) == ("UserInitiated", "by the test")


def test_log_events_follow_every_page_sort_by_time_and_filter_by_prefix(aws_env, driver, uid, monkeypatch):
    group = f"/paas/test/lg{uid}"
    cw = aws_env.client("logs")
    cw.create_log_group(logGroupName=group)
    for stream in ("web/web/a", "worker/worker/b"):
        cw.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    cw.put_log_events(logGroupName=group, logStreamName="web/web/a",
                      logEvents=[{"timestamp": now + 2 * i, "message": f"web {i}"} for i in range(5)])
    cw.put_log_events(logGroupName=group, logStreamName="worker/worker/b",
                      logEvents=[{"timestamp": now + 2 * i + 1, "message": f"worker {i}"} for i in range(5)])
    monkeypatch.setattr(aws_logs, "PAGE_EVENTS_MAX", 3)
    with sent_params(driver.api.clients.client("logs"), "logs", "FilterLogEvents") as sent:
        events = driver.log_events(group, start_ms=now - 1000)
    assert len(sent) >= 4 and all(p["limit"] == 3 for p in sent)
    assert [e.message for e in events] == [m for i in range(5) for m in (f"web {i}", f"worker {i}")]
    assert len({e.event_id for e in events}) == 10
    web = driver.log_events(group, prefix="web/", start_ms=now - 1000)
    assert [e.stream for e in web] == ["web/web/a"] * 5
    assert [e.message for e in driver.log_events(group, streams=["worker/worker/b"], start_ms=now + 6)] == [
        "worker 3", "worker 4"]
    assert driver.log_events(f"/paas/test/none{uid}") == []
    assert driver.log_tail(group, "web/web/a", 2) == ["web 3", "web 4"]
    assert driver.log_tail(group, "web/web/nope") == []


def _schedule(aws_env, td, app, name="report", expression="rate(1 hour)", **kw):
    return ScheduleSpec(group=f"paas-{app}-test", name=name, expression=expression,
                        cluster_arn=f"arn:aws:ecs:{aws_env.region}:123456789012:cluster/{aws_env.cluster}",
                        role_arn="arn:aws:iam::123456789012:role/paas/scheduler", task_definition=td,
                        container_name="web", command=("report", "--daily"), subnets=tuple(aws_env.subnets),
                        security_groups=tuple(aws_env.security_groups), task_group=f"paas-job:{name}",
                        owner=owner(app, None), **kw)


def test_schedules_are_created_updated_read_and_deleted_in_an_owned_group(aws_env, driver, uid):
    app = f"sc{uid}"
    td = _td(aws_env, driver, app)
    spec = _schedule(aws_env, td, app, cpu=512, memory=1024)
    assert not driver.schedule_group_exists(spec.group)
    assert driver.schedules(spec.group) == {}
    created = driver.ensure_schedule_group(spec.group, owner(app, None))
    assert created.operation == "scheduler:CreateScheduleGroup" and created.request_id
    with sent_params(driver.api.clients.client("scheduler"), "scheduler", "CreateScheduleGroup") as sent:
        again = driver.ensure_schedule_group(spec.group, owner(app, None))
    assert again.result["existing"] and sent == [], "an existing group is never created over (moto would wipe it)"
    driver.put_schedule(spec, create=True, token=f"{uid}-1")
    [got] = driver.schedules(spec.group).values()
    assert (got.name, got.expression, got.state, got.task_definition, got.task_group) == (
        "report", "rate(1 hour)", "ENABLED", td, "paas-job:report")
    assert got.input == spec.overrides() and set(got.subnets) == set(aws_env.subnets)
    # a create that finds the schedule (its earlier attempt's record was lost) updates it
    driver.put_schedule(_schedule(aws_env, td, app, expression="cron(0 3 * * ? *)"), create=True, token=f"{uid}-2")
    assert driver.schedules(spec.group)["report"].expression == "cron(0 3 * * ? *)"
    driver.delete_schedule(spec.group, "report", owner=owner(app, None), token=f"{uid}-3")
    assert driver.schedules(spec.group) == {}
    gone = driver.delete_schedule(spec.group, "report", owner=owner(app, None), token=f"{uid}-4")
    assert gone.result["existing"] is False


def test_a_group_another_owner_tagged_is_never_changed(aws_env, driver, uid):
    app = f"so{uid}"
    td = _td(aws_env, driver, app)
    spec = _schedule(aws_env, td, app)
    aws_env.client("scheduler").create_schedule_group(Name=spec.group, Tags=[
        {"Key": "paas:app", "Value": "intruder"}, {"Key": "paas:env", "Value": "test"}])
    with pytest.raises(OwnershipConflict, match="belongs to app intruder"):
        driver.ensure_schedule_group(spec.group, owner(app, None))
    with pytest.raises(OwnershipConflict):
        driver.put_schedule(spec, create=True, token=f"{uid}-1")
    with pytest.raises(OwnershipConflict):
        driver.delete_schedule(spec.group, "report", owner=owner(app, None), token=f"{uid}-2")
    with pytest.raises(PermanentError, match="schedule group name .* is not 1-64"):
        driver.put_schedule(_schedule(aws_env, td, "x" * 70), create=True, token="t")


def test_the_target_runs_the_task_definition_with_the_jobs_overrides(aws_env, driver, uid):
    from paas.aws.scheduler import target

    t = target(_schedule(aws_env, "arn:td:1", f"tg{uid}"))
    assert json.loads(t["Input"]) == {"containerOverrides": [{"name": "web", "command": ["report", "--daily"]}]}
    ecs = t["EcsParameters"]
    assert (ecs["TaskDefinitionArn"], ecs["LaunchType"], ecs["TaskCount"], ecs["PropagateTags"]) == (
        "arn:td:1", "FARGATE", 1, "TASK_DEFINITION")
    assert ecs["NetworkConfiguration"]["awsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"


def test_watching_tasks_costs_no_aws_call_when_nothing_needs_watching(aws_env, driver):
    """An app without open runs, failed tasks in flight or jobs pays nothing for this feature."""
    from dataclasses import replace

    from paas.domain.manifest import parse_manifest
    from paas.reconciler.task_watch import observe_tasks
    from tests.test_planner import deployment, desired, observed, release

    v1 = release(1)
    for d in (desired(current=v1), desired(active=deployment(release(2)), current=v1)):
        o = observed(d, v1)
        before = dict(driver.call_counts())
        assert observe_tasks(driver, d, o) is o
        assert driver.call_counts() == before
    # with jobs, the schedule group is read (and nothing else when it does not exist yet)
    with_jobs = replace(v1, manifest=parse_manifest('[jobs.x]\nschedule = "rate(1 hour)"\ncommand = "x"'))
    d = desired(current=with_jobs)
    d = replace(d, env=replace(d.env, cluster=aws_env.cluster))
    before = dict(driver.call_counts())
    seen = observe_tasks(driver, d, observed(d, with_jobs))
    sent = {k: n - before.get(k, 0) for k, n in driver.call_counts().items() if n != before.get(k, 0)}
    assert seen.schedule_group is False and seen.schedules == {}
    assert set(sent) == {"scheduler:GetScheduleGroup"}
