"""The release phase, scheduled jobs and task records, planned on plain data: no database, no AWS."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from paas.domain import names
from paas.domain.manifest import parse_manifest
from paas.domain.observed import ScheduleState, TaskState
from paas.planner import build, jobs, release_phase
from paas.planner import steps as s
from paas.planner.desired import JobRecord, TaskRun
from paas.planner.plan import plan
from tests.test_planner import NOW, POLICY, deployment, desired, key, observed, release, svc, td

MANIFEST = parse_manifest("""
[processes.web]
port = 8080
[release]
command = "manage migrate --noinput"
timeout = 30
[jobs.report]
schedule = "rate(1 hour)"
command = "report --daily"
[jobs.cleanup]
schedule = "cron(0 3 * * ? *)"
command = "cleanup"
cpu = 512
memory = 1024
""")


def rel(version, kind="deploy", manifest=MANIFEST):
    return replace(release(version), manifest=manifest, kind=kind)


def with_stack_outputs(o, **outputs):
    return replace(o, stack=replace(o.stack, outputs={**o.stack.outputs, **outputs}))


def a_run(**kw) -> TaskRun:
    return TaskRun(**{"id": 7, "kind": "release", "task_arn": "arn:aws:ecs:us-east-1:1:task/c1/abc",
                      "process": "web", "command": ("manage", "migrate", "--noinput"),
                      "created_at": NOW - timedelta(seconds=5), "deployment_id": 10, **kw})


def stopped_task(exit_code=0, stop_code="EssentialContainerExited", **kw) -> TaskState:
    return TaskState(arn="arn:aws:ecs:us-east-1:1:task/c1/abc", task_definition=td(2), last_status="STOPPED",
                     desired_status="STOPPED", container="web", stop_code=stop_code, exit_code=exit_code,
                     stopped_reason="Essential container in task exited", **kw)


# --- the release phase ------------------------------------------------------------------------------

def test_the_release_task_runs_after_the_task_definition_and_before_any_service_change():
    v2 = rel(2)
    dep = deployment(v2)
    d = desired(active=dep)
    assert isinstance(plan(d, observed(d, v2), POLICY, NOW), s.RegisterTaskDefinition)
    o = observed(d, v2, [svc("blue", td(1), 2, 2)], {"blue": 2}, tds={key(2): td(2)})
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.RunReleaseTask)
    assert step.spec.command == ("manage", "migrate", "--noinput") and step.spec.task_definition == td(2)
    assert step.spec.started_by == names.release_started_by("shop", "dev", dep.id, dep.created_at.isoformat())
    assert len(step.spec.started_by) <= 36 and step.spec.security_groups == ("sg-1",)
    # running: wait (the topic, not the elapsed time, decides what the timeline records)
    d = desired(active=replace(dep, release_run=a_run()))
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.Wait) and step.topic == "release phase starting"
    # exited 0: on to the services
    d = desired(active=replace(dep, release_run=a_run(stopped_at=NOW, exit_code=0,
                                                      stop_code="EssentialContainerExited")))
    assert isinstance(plan(d, o, POLICY, NOW), s.UpdateService)


def test_a_failed_release_task_fails_the_deployment_with_its_exit_code_and_last_lines():
    v2 = rel(2)
    run = a_run(stopped_at=NOW, exit_code=3, stop_code="EssentialContainerExited",
                log_tail=("start", "applying 0042", "", "error: relation exists"))
    d = desired(active=deployment(v2, release_run=run))
    o = observed(d, v2, [svc("blue", td(1), 2, 2)], {"blue": 2}, tds={key(2): td(2)})
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.Finish) and step.state == "failed"
    assert "`manage migrate --noinput` (task abc) exited with code 3" in step.reason
    assert step.reason.endswith("last lines: start | applying 0042 | error: relation exists")
    stopped = replace(run, exit_code=None, stop_code="UserInitiated", stopped_reason="stopped by alice")
    step = plan(desired(active=deployment(v2, release_run=stopped)), o, POLICY, NOW)
    assert "stopped: stopped by alice" in step.reason


def test_a_release_task_past_its_timeout_is_stopped_once():
    v2 = rel(2)
    old = a_run(created_at=NOW - timedelta(seconds=31))
    d = desired(active=deployment(v2, release_run=old))
    running = replace(stopped_task(), last_status="RUNNING", desired_status="RUNNING", stop_code=None, exit_code=None)
    o = replace(observed(d, v2, tds={key(2): td(2)}), tasks={old.task_arn: running})
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.StopTask) and step.task_arn == old.task_arn and "30s" in step.why
    stopping = replace(running, desired_status="STOPPED")
    assert isinstance(plan(d, replace(o, tasks={old.task_arn: stopping}), POLICY, NOW), s.Wait)


@pytest.mark.parametrize("kind,asked,runs", [
    ("deploy", None, True), ("config", None, True), ("secret", None, True), ("scale", None, False),
    ("rollback", None, False), ("rollback", True, True), ("deploy", False, False),
])
def test_which_releases_run_the_release_phase(kind, asked, runs):
    assert release_phase.wanted(deployment(rel(2, kind), run_release_phase=asked)) is runs


def test_no_release_phase_without_the_key_or_while_rolling_back():
    plain = parse_manifest("[processes.web]\nport = 8080")
    assert not release_phase.wanted(deployment(rel(2, manifest=plain)))
    assert not release_phase.wanted(deployment(rel(2), rollback_target=rel(1)))


# --- task records ---------------------------------------------------------------------------------

def test_a_tracked_task_that_stopped_is_recorded_before_anything_else():
    v1 = replace(rel(1), known_good=True)
    run = a_run(kind="run", deployment_id=None)
    d = replace(desired(current=v1, finished=NOW - timedelta(hours=1)), open_runs=(run,),
                gc_state={"checked_at": NOW.isoformat()})
    o = replace(observed(d, v1, [svc("blue", td(1), 2, 2)], {"blue": 2}, tds={key(1): td(1)}),
                tasks={run.task_arn: stopped_task(exit_code=2, log_tail=("boom",))},
                schedules={}, schedule_group=False)
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.RecordTaskStopped) and step.run_id == 7 and step.task.log_tail == ("boom",)
    # still running: the worker keeps looking (a detached `paas run`)
    o = replace(o, tasks={})
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.Wait) and step.seconds == POLICY.poll_interval


def test_failed_tasks_of_the_deployment_are_recorded_once_each():
    v2 = rel(2)
    t1 = replace(stopped_task(exit_code=137), arn="arn:t/1")
    t2 = replace(stopped_task(exit_code=137), arn="arn:t/2")
    dep = deployment(v2, recorded_stops=frozenset({"arn:t/1"}))
    d = desired(active=dep)
    o = replace(observed(d, v2, tds={key(2): td(2)}), stopped_tasks=(t1, t2))
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.RecordStoppedTasks)
    assert [(t.arn, p, r) for t, p, r in step.tasks] == [("arn:t/2", "web", 2)]
    d = desired(active=replace(dep, recorded_stops=frozenset({"arn:t/1", "arn:t/2"})))
    assert not isinstance(plan(d, o, POLICY, NOW), s.RecordStoppedTasks)


def test_job_runs_are_recorded_when_new_and_again_when_they_stop():
    v1 = rel(1)
    job_task = replace(stopped_task(), group="paas-job:report", last_status="RUNNING", stop_code=None)
    d = replace(desired(current=v1), job_runs={})
    o = replace(observed(d, v1, tds={key(1): td(1)}), job_tasks=(job_task,))
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.RecordJobRuns) and step.runs[0][0] == "report"
    d = replace(d, job_runs={job_task.arn: False})
    assert not isinstance(plan(d, o, POLICY, NOW), s.RecordJobRuns)  # seen, still running
    o = replace(o, job_tasks=(replace(stopped_task(), group="paas-job:report"),))
    assert isinstance(plan(d, o, POLICY, NOW), s.RecordJobRuns)


# --- scheduled jobs ------------------------------------------------------------------------------

ROLE = "arn:aws:iam::1:role/paas/shop-dev-SchedulerRole-x"


def steady(jobs_recorded=None, schedules=None, group=True, manifest=MANIFEST):
    v1 = rel(1, manifest=manifest)
    d = replace(desired(current=v1, finished=NOW - timedelta(hours=1)), job_schedules=jobs_recorded or {})
    o = observed(d, v1, [svc("blue", td(1), 2, 2)], {"blue": 2}, tds={key(1): td(1)})
    o = replace(with_stack_outputs(o, SchedulerRoleArn=ROLE), schedules=schedules, schedule_group=group)
    return d, v1, o


def state_of(spec) -> ScheduleState:
    return ScheduleState(spec.name, spec.group, spec.expression, "ENABLED", spec.cluster_arn, spec.role_arn,
                         spec.task_definition, spec.overrides(), spec.subnets, spec.security_groups,
                         spec.assign_public_ip, spec.task_group)


def test_each_job_gets_a_schedule_of_the_live_release_in_an_owned_group():
    d, v1, o = steady(schedules={}, group=False)
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.EnsureScheduleGroup) and step.group == "paas-shop-dev"
    assert step.owner == {"paas:app": "shop", "paas:env": "dev"}
    d, v1, o = steady(schedules={})
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.PutSchedule) and step.create and step.job == "cleanup"
    spec = step.spec
    assert (spec.expression, spec.task_definition, spec.role_arn, spec.task_group) == (
        "cron(0 3 * * ? *)", td(1), ROLE, "paas-job:cleanup")
    assert spec.cluster_arn == "arn:aws:ecs:us-east-1:1:cluster/c1"
    assert spec.overrides() == {"containerOverrides": [{"name": "web", "command": ["cleanup"]}],
                                "cpu": "512", "memory": "1024"}


def test_a_schedule_that_differs_is_updated_one_no_job_wants_is_deleted_then_the_record_follows():
    d, v1, o = steady(schedules={})
    want = jobs.wanted(d, v1, o)
    current = {n: state_of(x) for n, x in want.items()}
    stale = replace(current["report"], task_definition=td(0))
    d, v1, o = steady(schedules={**current, "report": stale})
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.PutSchedule) and not step.create and step.job == "report"
    disabled = replace(current["report"], state="DISABLED")
    assert isinstance(plan(*steady(schedules={**current, "report": disabled})[::2], POLICY, NOW), s.PutSchedule)
    gone = replace(current["report"], name="old-job")
    d, v1, o = steady(schedules={**current, "old-job": gone})
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.DeleteSchedule) and step.job == "old-job"
    d, v1, o = steady(schedules=current)
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.RecordJobSchedules) and set(step.jobs) == {"report", "cleanup"}
    recorded = {j: JobRecord(j, x.expression, x.task_definition, 1, NOW) for j, x in want.items()}
    d, v1, o = steady(jobs_recorded=recorded, schedules=current)
    step = plan(d, o, POLICY, NOW)
    assert not isinstance(step, (s.PutSchedule, s.DeleteSchedule, s.RecordJobSchedules))


def test_jobs_removed_from_paas_toml_are_deleted_and_nothing_is_read_for_apps_without_jobs():
    plain = parse_manifest("[processes.web]\nport = 8080")
    d, v1, o = steady(schedules={"report": ScheduleState("report", "paas-shop-dev", "rate(1 hour)", "ENABLED")},
                      manifest=plain)
    assert isinstance(plan(d, o, POLICY, NOW), s.DeleteSchedule)
    d, v1, o = steady(schedules=None, manifest=plain)
    assert jobs.sync_step(d, v1, o) is None


def test_an_app_with_jobs_is_looked_at_every_jobs_poll():
    d, v1, o = steady(schedules={})
    recorded = {j: JobRecord(j, x.expression, x.task_definition, 1, NOW)
                for j, x in jobs.wanted(d, v1, o).items()}
    current = {n: state_of(x) for n, x in jobs.wanted(d, v1, o).items()}
    d, v1, o = steady(jobs_recorded=recorded, schedules=current)
    d = replace(d, current=replace(d.current, known_good=True), gc_state={"checked_at": NOW.isoformat()})
    step = plan(d, o, replace(POLICY, jobs_poll=7), NOW)
    assert isinstance(step, s.Idle) and step.seconds == 7


def test_the_stack_gets_a_scheduler_role_only_with_jobs():
    d, v1, o = steady(schedules={})
    template = build.stack_spec(d, v1).template
    role = template["Resources"]["SchedulerRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    actions = {a for st in role["Policies"][0]["PolicyDocument"]["Statement"] for a in st["Action"]}
    assert actions == {"ecs:RunTask", "ecs:TagResource", "iam:PassRole"}
    assert "SchedulerRoleArn" in template["Outputs"]
    plain = replace(v1, manifest=parse_manifest("[processes.web]\nport = 8080"))
    assert "SchedulerRole" not in build.stack_spec(d, plain).template["Resources"]
