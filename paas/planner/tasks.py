"""What the planner records about tasks, each once (pure).

Three kinds of facts come from tasks rather than from services, and each is recorded once,
however many passes see it (the rule: compare what was observed with what the database already
holds, loaded into `Desired`):

* a tracked task (a release phase, a `paas run`, a job's) stopped → `RecordTaskStopped` with its
  exit code, stopped reason, container reason and last log lines;
* a task of the deployment in flight failed (exited non-zero, failed to start, failed its ELB
  health checks) → `RecordStoppedTasks`, one ``task_stopped`` event per task ARN (a unique
  index makes a second insert a no-op, should two workers ever race);
* a scheduled job's task appeared or stopped → `RecordJobRuns`.

`keep_watching` turns a steady Idle into a short Wait while a tracked task still runs (a
detached `paas run`, or one whose CLI was interrupted, is recorded by the worker), and into a
shorter Idle for an app with jobs, so their runs are seen while ECS still lists them (it keeps
stopped tasks for at least an hour).
"""

from __future__ import annotations

from paas.domain import names
from paas.domain.observed import Observed
from paas.planner import steps as s
from paas.planner.desired import Desired, Policy


def _release_of(d: Desired, obs: Observed, task_definition: str) -> int | None:
    for key, arn in obs.task_definitions.items():
        if arn == task_definition:
            version = key.rsplit(":", 1)[-1]
            return int(version) if version.isdigit() else None
    return None


def record_step(d: Desired, obs: Observed) -> s.Step | None:
    for run in d.open_runs:
        task = obs.tasks.get(run.task_arn or "")
        if task is not None and task.stopped:
            what = {"release": "release phase", "run": "one-off", "job": f"job {run.job}"}.get(run.kind, run.kind)
            return s.RecordTaskStopped(f"{what} task {names.task_id(task.arn)} stopped: {task.why()}", run.id,
                                       run.kind, run.deployment_id, task, run.command)
    if d.active is not None and obs.stopped_tasks:
        new = [t for t in obs.stopped_tasks if t.arn not in d.active.recorded_stops]
        if new:
            found = tuple((t, t.container, _release_of(d, obs, t.task_definition)) for t in new)
            return s.RecordStoppedTasks(f"{len(new)} task(s) of deployment {d.active.id} stopped: {new[0].why()}",
                                        d.active.id, found)
    if obs.job_tasks:
        runs = []
        for t in obs.job_tasks:
            job = names.job_of_task_group(t.group)
            seen = d.job_runs.get(t.arn)
            if job is None or seen is True or (seen is False and not t.stopped):
                continue
            rec = d.job_schedules.get(job)
            runs.append((job, t.container or "", rec.release_id if rec else None, t))
        if runs:
            return s.RecordJobRuns(f"{len(runs)} job run(s) seen: " + ", ".join(sorted({r[0] for r in runs})),
                                   tuple(runs))
    return None


def has_jobs(d: Desired) -> bool:
    return bool(d.job_schedules) or bool(d.current is not None and d.current.manifest.jobs)


def keep_watching(d: Desired, step: s.Step, policy: Policy) -> s.Step:
    """Come back soon while a tracked task runs, and often enough to see jobs' runs."""
    if not isinstance(step, s.Idle):
        return step
    if d.open_runs:
        return s.Wait(f"{len(d.open_runs)} task(s) running: {step.reason}", policy.poll_interval)
    if has_jobs(d):
        return s.Idle(step.reason, min(step.seconds or policy.jobs_poll, policy.jobs_poll))
    return step
