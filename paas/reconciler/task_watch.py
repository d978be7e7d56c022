"""Observe the tasks a pass needs to know about, after `observe` has read the services.

Only what something waits for is read, so an app with nothing to watch pays no call:

* tracked tasks still open (a release phase, a `paas run` whose CLI went away): DescribeTasks
  (≤ 100 a call); one that stopped gets its last log lines (GetLogEvents from the end). A task
  ECS no longer knows (listed as MISSING) after `MISSING_GRACE` is taken as stopped unknown;
* the deployment in flight, while one of its services reports failed tasks or a failed rollout:
  ListTasks of that service's stopped tasks and DescribeTasks of those not yet in its timeline;
  those of its releases that failed (paas.domain.observed.TaskState.failed) get their last lines;
* steady state with jobs wanted or recorded: the app's schedule group and schedules, and the
  tasks of the jobs' process families (running and stopped) that carry a job's task group.

A stopped task that is no job's, or whose stop is not a failure, never becomes one (a task's
group and its end are facts): such ARNs are remembered for the life of the process, so a busy
service's stopped tasks are described once.

Everything lands in the `Observed` fields the planner's task steps read (paas/planner/tasks.py,
release_phase.py, jobs.py).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timezone

from paas.aws.driver import Driver
from paas.domain import names
from paas.domain.observed import Observed, TaskState
from paas.domain.specs import COLOURS, family, service_name
from paas.planner import tasks as planner_tasks
from paas.planner.desired import Desired

LOG_LINES = 10  # last lines kept for a task that stopped
MAX_TAILS = 5  # log tails read per pass (the rest wait for the next pass)
MISSING_GRACE = 300.0  # seconds a just-started task may be MISSING (ECS is eventually consistent)

_IGNORED_MAX = 50_000
_ignored: dict[str, None] = {}  # stopped task ARNs known to need no record (bounded, oldest dropped first)
_lock = threading.Lock()


def _ignore(arn: str) -> None:
    with _lock:
        _ignored[arn] = None
        while len(_ignored) > _IGNORED_MAX:
            del _ignored[next(iter(_ignored))]


def _unknown(arns: list[str]) -> list[str]:
    with _lock:
        return [a for a in dict.fromkeys(arns) if a not in _ignored]


def _log_group(d: Desired, obs: Observed) -> str:
    outputs = obs.stack.outputs if obs.stack else {}
    return outputs.get("LogGroupName") or names.log_group_name(d.app, d.env.name)


def with_tail(driver: Driver, d: Desired, obs: Observed, t: TaskState) -> TaskState:
    if not t.container:
        return t
    tail = driver.log_tail(_log_group(d, obs), names.log_stream(t.container, t.arn), LOG_LINES)
    return replace(t, log_tail=tuple(tail))


def _open_runs(driver: Driver, d: Desired, obs: Observed, now: datetime) -> dict[str, TaskState]:
    runs = {r.task_arn: r for r in d.open_runs if r.task_arn}
    if d.active is not None and d.active.release_run and not d.active.release_run.stopped:
        runs.setdefault(d.active.release_run.task_arn or "", d.active.release_run)
    runs.pop("", None)
    if not runs:
        return {}
    found = driver.task_states(d.env.cluster, list(runs))
    out = {}
    tails = 0
    for arn, t in found.items():
        if t.last_status == "MISSING":
            age = (now - runs[arn].created_at).total_seconds()
            if age < MISSING_GRACE:
                continue
            t = TaskState(arn=arn, task_definition="", last_status="STOPPED", desired_status="STOPPED",
                          container=runs[arn].process, stop_code="Missing",
                          stopped_reason="ECS no longer lists this task (it stopped long ago)")
        elif t.stopped and tails < MAX_TAILS:
            t, tails = with_tail(driver, d, obs, t), tails + 1
        out[arn] = t
    return out


def _failed_deployment_tasks(driver: Driver, d: Desired, obs: Observed) -> tuple[TaskState, ...]:
    dep = d.active
    if dep is None:
        return ()
    releases = {r.id: r for r in (dep.release, dep.rollback_target) if r is not None}
    tds = {obs.task_definitions.get(d.td_key(p, r)) for r in releases.values() for p in r.processes}
    tds.discard(None)
    out: list[TaskState] = []
    for p in sorted({p for r in releases.values() for p in r.processes}):
        for colour in COLOURS:
            svc = obs.services.get(service_name(d.app, p, colour))
            if svc is None or not any(x.failed_tasks or x.rollout_state == "FAILED" for x in svc.deployments
                                      if x.task_definition in tds):
                continue
            arns = [a for a in _unknown(driver.list_tasks(d.env.cluster, service=svc.name, status="STOPPED"))
                    if a not in dep.recorded_stops]
            if not arns:
                continue
            for t in driver.task_states(d.env.cluster, arns).values():
                if t.task_definition in tds and t.failed:
                    out.append(t)
                elif t.stopped:
                    _ignore(t.arn)
    out.sort(key=lambda t: (t.stopped_at or datetime.min.replace(tzinfo=timezone.utc), t.arn))
    return tuple(with_tail(driver, d, obs, t) if i < MAX_TAILS else t for i, t in enumerate(out[:50]))


def _jobs(driver: Driver, d: Desired, obs: Observed) -> Observed:
    if d.active is not None or d.current is None or not planner_tasks.has_jobs(d):
        return obs
    group = names.schedule_group(d.app, d.env.name)
    exists = driver.schedule_group_exists(group)
    schedules = driver.schedules(group) if exists else {}
    manifest = d.current.manifest
    seen: list[TaskState] = []
    scheduled = {manifest.task_process(j.process) for j in manifest.jobs.values() if j.name in schedules}
    for p in sorted(scheduled):  # no schedule, no run to look for
        fam = family(d.app, d.env.name, p)
        arns = [a for status in ("RUNNING", "STOPPED") for a in driver.list_tasks(d.env.cluster, family=fam,
                                                                                    status=status)]
        arns = [a for a in _unknown(arns) if d.job_runs.get(a) is not True]
        if not arns:
            continue
        for arn, t in driver.task_states(d.env.cluster, arns).items():
            if names.job_of_task_group(t.group) is None:
                if t.stopped:
                    _ignore(arn)
                continue
            if d.job_runs.get(arn) is None or t.stopped:
                seen.append(with_tail(driver, d, obs, t) if t.stopped else t)
    return replace(obs, schedule_group=exists, schedules=schedules, job_tasks=tuple(seen))


def observe_tasks(driver: Driver, d: Desired, obs: Observed) -> Observed:
    """`obs` with the task observations this pass needs (see the module docstring)."""
    now = datetime.now(timezone.utc)
    found = _open_runs(driver, d, obs, now)
    stopped = _failed_deployment_tasks(driver, d, obs)
    if found or stopped:
        obs = replace(obs, tasks=found, stopped_tasks=stopped)
    return _jobs(driver, d, obs)
