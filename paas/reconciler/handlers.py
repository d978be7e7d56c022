"""One handler per step type: the AWS request it sends (if any) and what it records.

`HANDLERS` is the only table from step type to behaviour. A handler's `call` runs outside any
database transaction (the send guard in `paas.aws.guard` stops it once the lease may have
expired); its `record` runs inside one fenced transaction, so a worker whose lease was taken
over records nothing. Idempotency tokens derive from deployment id + step.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from paas import clock
from paas.aws.driver import Call, Driver
from paas.db import deployment_writes as w
from paas.db import task_runs
from paas.db.sql import Db
from paas.domain import names
from paas.domain.observed import TaskState
from paas.planner import steps as s
from paas.planner.desired import Desired


@dataclass(frozen=True)
class Context:
    """What a handler may use: the claim's identity, the desired state the step was planned from."""

    app_id: int
    env_id: int
    token: int
    worker: str
    d: Desired
    gc_request_id: int | None = None

    @property
    def event_target(self) -> int | None:
        """Steady-state steps (drift, GC, known-good) are recorded on the live deployment."""
        return self.d.active.id if self.d.active else self.d.current_deployment_id


@dataclass(frozen=True)
class Handler:
    record: Callable[[Db, Context, s.Step, Call | None], None]
    call: Callable[[Driver, Context, s.Step], Call] | None = None


def token(*parts: object, limit: int = 64) -> str:
    """[A-Za-z0-9-], bounded length: what every AWS idempotency token accepts."""
    raw = "-".join(str(p) for p in parts)
    if len(raw) <= limit and all(c.isalnum() or c == "-" for c in raw):
        return raw
    return f"{parts[0]}-{hashlib.sha256(raw.encode()).hexdigest()[: limit - len(str(parts[0])) - 1]}"


def owner(ctx: Context, process: str | None = None) -> dict[str, str]:
    """The paas:* tags a resource this step changes must carry (the driver refuses otherwise)."""
    tags = {"paas:app": ctx.d.app, "paas:env": ctx.d.env.name}
    if process:
        tags["paas:process"] = process
    return tags


def _dep_key(ctx: Context) -> str:
    return str(ctx.d.active.id) if ctx.d.active else f"steady{ctx.d.current_deployment_id or 0}"


# --- database-only steps ------------------------------------------------------------------------

def _start(db: Db, ctx: Context, step: s.StartDeployment, call: Call | None) -> None:
    w.start(db, step.deployment_id, ctx.worker, ctx.token)


def _supersede(db: Db, ctx: Context, step: s.SupersedeActive, call: Call | None) -> None:
    w.supersede(db, step.deployment_id, step.by_id, step.reason, ctx.token)


def _colours(db: Db, ctx: Context, step: s.ChooseColours, call: Call | None) -> None:
    w.choose_colours(db, ctx.d.active.id, step.colours, step.reason, ctx.token)


def _begin_rollback(db: Db, ctx: Context, step: s.BeginRollback, call: Call | None) -> None:
    dep = ctx.d.active
    w.begin_rollback(db, dep.id, step.to_release, step.reason, ctx.token,
                     data={"to_release": step.to_release, "from_release": dep.release.version})


def _finish(db: Db, ctx: Context, step: s.Finish, call: Call | None) -> None:
    dep = ctx.d.active if ctx.d.active and ctx.d.active.id == step.deployment_id else None
    rolled = dep is not None and dep.rolling_back
    error = step.reason if step.state == "failed" else (dep.rollback_reason if rolled else None)
    w.finish(db, step.deployment_id, step.state, step.reason, ctx.token, error=error, rolled_back=rolled)


def _known_good(db: Db, ctx: Context, step: s.MarkKnownGood, call: Call | None) -> None:
    if w.mark_known_good(db, step.release_id) and ctx.event_target:
        w.event(db, ctx.event_target, "known_good", step.reason, token=ctx.token, data={"release": step.version})


def _gc_checked(db: Db, ctx: Context, step: s.GcChecked, call: Call | None) -> None:
    w.gc_checked(db, ctx.app_id, ctx.env_id, ctx.gc_request_id)


def _priorities(db: Db, ctx: Context, step: s.AllocateRulePriorities, call: Call | None) -> None:
    w.store_rule_priorities(db, ctx.app_id, ctx.env_id, step.listener_arn, step.priorities)
    if ctx.event_target:
        w.event(db, ctx.event_target, "routing", step.reason, token=ctx.token,
                data={"listener": step.listener_arn, "priorities": step.priorities})


def _release_priorities(db: Db, ctx: Context, step: s.ReleaseRulePriorities, call: Call | None) -> None:
    w.forget_rule_priorities(db, ctx.app_id, ctx.env_id, step.processes)
    if ctx.event_target:
        w.event(db, ctx.event_target, "routing", step.reason, token=ctx.token, data={"released": list(step.processes)})


# --- steps that send one AWS request ----------------------------------------------------------------

def _record_aws(db: Db, ctx: Context, step: s.Step, call: Call | None) -> None:
    assert call is not None
    if ctx.event_target:
        kind = "gc" if getattr(step, "gc", False) else (
            "drift" if getattr(step, "drift", False) else "step")
        w.event(db, ctx.event_target, kind, step.reason, step=step.key, request_id=call.request_id,
                token=ctx.token, data={"operation": call.operation,
                                       **{k: v for k, v in call.result.items() if k != "raw"}})
    if ctx.d.active:
        w.set_current_step(db, ctx.d.active.id, step.key)


def _record_task_definition(db: Db, ctx: Context, step: s.RegisterTaskDefinition, call: Call | None) -> None:
    _record_aws(db, ctx, step, call)
    if call is not None and call.result.get("arn"):
        w.record_task_definition(db, ctx.app_id, ctx.env_id, step.spec.family, step.release, call.result["arn"])


def _record_deregister(db: Db, ctx: Context, step: s.DeregisterTaskDefinition, call: Call | None) -> None:
    _record_aws(db, ctx, step, call)
    w.forget_task_definition(db, ctx.app_id, ctx.env_id, step.arn)


def _record_shift(db: Db, ctx: Context, step: s.ShiftTraffic, call: Call | None) -> None:
    """Evidence for every promotion and every take-out stays in the timeline for good."""
    _record_aws(db, ctx, step, call)
    dep = ctx.d.active
    data: dict = {"process": step.process, "percent": step.percent, "weights": step.weights}
    if step.evidence:
        data["evidence"] = step.evidence
        canary = step.evidence.get("gate", {}).get("canary") or {}
        if step.rollback_to is not None and canary.get("end"):
            # `end` is when the worker read the breaching sample; the datapoint's own bucket
            # start is kept as evidence (with 60 s periods it says little about reaction time).
            data["breach_read_at"] = canary["end"]
            data["breach_datapoint_bucket"] = canary.get("last_datapoint")
            now = clock.time()  # the breach was read on the clock the metrics are stamped with
            data["seconds_from_breach_read_to_weights_back"] = round(now - float(canary["end"]), 3)
    if step.rollback_to is not None or step.fail_state:
        w.begin_rollback(db, dep.id, step.rollback_to, step.reason, ctx.token, end_state=step.fail_state, data=data)
    else:
        w.event(db, dep.id, "traffic", step.reason, token=ctx.token, data=data)


def _call_stack(drv: Driver, ctx: Context, step: s.ApplyStack) -> Call:
    return drv.apply_stack(step.spec, token(f"paas{_dep_key(ctx)}", step.spec.template_hash, limit=128))


def _call_continue(drv: Driver, ctx: Context, step: s.ContinueStackRollback) -> Call:
    now = datetime.now(timezone.utc).strftime("%H%M%S")
    return drv.continue_update_rollback(step.name, token(f"paas{_dep_key(ctx)}", "continue", now), owner=owner(ctx))


# --- tasks: the release phase, tracked runs, failed tasks, scheduled jobs -----------------------------

def stop_data(t: TaskState, **extra: object) -> dict:
    """What a stopped task's event and record say about it."""
    return {"task_arn": t.arn, "task_id": names.task_id(t.arn), "process": t.container,
            "task_definition": t.task_definition, "stop_code": t.stop_code, "stopped_reason": t.stopped_reason,
            "exit_code": t.exit_code, "container_reason": t.container_reason,
            "stopped_at": t.stopped_at.isoformat() if t.stopped_at else None, "log_tail": list(t.log_tail),
            **extra}


def _call_release(drv: Driver, ctx: Context, st: s.RunReleaseTask) -> Call:
    return drv.run_task(st.spec, st.spec.started_by)


def _record_release(db: Db, ctx: Context, st: s.RunReleaseTask, call: Call | None) -> None:
    assert call is not None
    arn = call.result["task_arn"]
    dep = ctx.d.active
    task_runs.insert_release_run(db, ctx.app_id, ctx.env_id, release_id=dep.release.id, deployment_id=dep.id,
                                 process=st.process, command=list(st.spec.command), actor=dep.actor or "paas",
                                 task_arn=arn)
    found = " (started by an earlier attempt)" if call.result.get("existing") else ""
    w.event(db, dep.id, "step", f"{st.reason}: task {names.task_id(arn)}{found}", step=st.key,
            request_id=call.request_id, token=ctx.token,
            data={"operation": call.operation, "task_arn": arn, "command": list(st.spec.command),
                  "process": st.process, "release": st.release})
    w.set_current_step(db, dep.id, st.key)


def _record_stopped(db: Db, ctx: Context, st: s.RecordTaskStopped, call: Call | None) -> None:
    t = st.task
    task_runs.record_stop(db, st.run_id, stopped_at=t.stopped_at, exit_code=t.exit_code, stop_code=t.stop_code,
                          stopped_reason=t.stopped_reason, container_reason=t.container_reason,
                          log_tail=t.log_tail, started_at=t.started_at)
    if st.deployment_id is not None:
        w.task_stopped(db, st.deployment_id, st.reason,
                       stop_data(t, run_id=st.run_id, kind=st.kind, command=list(st.command)), ctx.token)


def _record_failed_tasks(db: Db, ctx: Context, st: s.RecordStoppedTasks, call: Call | None) -> None:
    for t, process, release in st.tasks:
        where = f"{process} v{release}" if process and release else (process or "a task")
        w.task_stopped(db, st.deployment_id, f"task {names.task_id(t.arn)} ({where}) stopped: {t.why()}",
                       stop_data(t, release=release, kind="service"), ctx.token)


def _record_job_runs(db: Db, ctx: Context, st: s.RecordJobRuns, call: Call | None) -> None:
    import shlex

    jobs = ctx.d.current.manifest.jobs if ctx.d.current else {}
    for job, process, release_id, t in st.runs:
        spec = jobs.get(job)
        task_runs.upsert_job_run(
            db, ctx.app_id, ctx.env_id, job=job, release_id=release_id, process=process or "",
            command=shlex.split(spec.command) if spec else [], task_arn=t.arn, created_at=t.created_at,
            started_at=t.started_at, stopped_at=t.stopped_at if t.stopped else None, exit_code=t.exit_code,
            stop_code=t.stop_code, stopped_reason=t.stopped_reason, container_reason=t.container_reason,
            log_tail=t.log_tail)


def _record_jobs(db: Db, ctx: Context, step: s.Step, call: Call | None) -> None:
    if ctx.event_target:
        data = {"operation": call.operation, **{k: v for k, v in call.result.items() if k != "raw"}} if call else {}
        w.event(db, ctx.event_target, "jobs", step.reason, step=step.key, request_id=call.request_id if call else None,
                token=ctx.token, data=data)


def _record_put_schedule(db: Db, ctx: Context, st: s.PutSchedule, call: Call | None) -> None:
    task_runs.put_job_schedule(db, ctx.app_id, ctx.env_id, st.job, st.spec.expression, st.spec.task_definition,
                               st.release_id)
    _record_jobs(db, ctx, st, call)


def _record_delete_schedule(db: Db, ctx: Context, st: s.DeleteSchedule, call: Call | None) -> None:
    task_runs.delete_job_schedule(db, ctx.app_id, ctx.env_id, st.job)
    _record_jobs(db, ctx, st, call)


def _record_job_schedules(db: Db, ctx: Context, st: s.RecordJobSchedules, call: Call | None) -> None:
    task_runs.replace_job_schedules(db, ctx.app_id, ctx.env_id, st.jobs)


HANDLERS: dict[type[s.Step], Handler] = {
    s.StartDeployment: Handler(_start),
    s.SupersedeActive: Handler(_supersede),
    s.ChooseColours: Handler(_colours),
    s.BeginRollback: Handler(_begin_rollback),
    s.Finish: Handler(_finish),
    s.MarkKnownGood: Handler(_known_good),
    s.GcChecked: Handler(_gc_checked),
    s.AllocateRulePriorities: Handler(_priorities),
    s.ReleaseRulePriorities: Handler(_release_priorities),
    s.ApplyStack: Handler(_record_aws, _call_stack),
    s.ContinueStackRollback: Handler(_record_aws, _call_continue),
    s.RegisterTaskDefinition: Handler(_record_task_definition,
                                      lambda drv, ctx, st: drv.register_task_definition(st.spec)),
    s.CreateService: Handler(_record_aws, lambda drv, ctx, st: drv.create_service(
        st.spec, token(_dep_key(ctx), st.spec.name, limit=36))),
    s.UpdateService: Handler(_record_aws, lambda drv, ctx, st: drv.update_service(st.spec)),
    s.ScaleService: Handler(_record_aws, lambda drv, ctx, st: drv.scale_service(
        st.cluster, st.name, st.desired, owner=owner(ctx, st.process))),
    s.ShiftTraffic: Handler(_record_shift, lambda drv, ctx, st: drv.set_weights(
        st.rule_arn, st.weights, owner=owner(ctx, st.process))),
    s.RevertTrafficDrift: Handler(_record_aws, lambda drv, ctx, st: drv.set_weights(
        st.rule_arn, st.weights, owner=owner(ctx, st.process))),
    s.DeregisterTaskDefinition: Handler(_record_deregister, lambda drv, ctx, st: drv.deregister_task_definition(
        st.arn, owner=owner(ctx))),
    s.RunReleaseTask: Handler(_record_release, _call_release),
    s.RecordTaskStopped: Handler(_record_stopped),
    s.StopTask: Handler(_record_aws, lambda drv, ctx, st: drv.stop_task(st.cluster, st.task_arn, st.why,
                                                                       owner=owner(ctx))),
    s.RecordStoppedTasks: Handler(_record_failed_tasks),
    s.RecordJobRuns: Handler(_record_job_runs),
    s.EnsureScheduleGroup: Handler(_record_jobs, lambda drv, ctx, st: drv.ensure_schedule_group(st.group, st.owner)),
    s.PutSchedule: Handler(_record_put_schedule, lambda drv, ctx, st: drv.put_schedule(
        st.spec, create=st.create, token=token(_dep_key(ctx), "schedule", st.job,
                                              st.spec.task_definition.rsplit(":", 1)[-1]))),
    s.DeleteSchedule: Handler(_record_delete_schedule, lambda drv, ctx, st: drv.delete_schedule(
        st.group, st.job, owner=st.owner, token=token(_dep_key(ctx), "unschedule", st.job))),
    s.RecordJobSchedules: Handler(_record_job_schedules),
}
