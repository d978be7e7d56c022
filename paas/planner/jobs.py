"""Scheduled jobs: the live release's ``[jobs.NAME]`` as EventBridge Scheduler schedules (pure).

A steady-state step (nothing in flight): each job of the live release's paas.toml has a
schedule in the app+environment's schedule group (paas/domain/names.py) that runs that
release's task definition of the job's process with the job's command (and size) as RunTask
overrides. One step per pass, in this order:

1. the group is missing and a job is wanted → `EnsureScheduleGroup` (tagged paas:app/paas:env:
   Scheduler tags groups, not schedules, so the group says who owns its schedules);
2. a wanted job has no schedule → `PutSchedule` (create); one differs from what is wanted
   (expression, task definition, command, size, role, network, disabled by hand) → `PutSchedule`
   (update): each release moves its jobs to its own task definition;
3. a schedule in the group that no job wants (removed from paas.toml, or the release rolled back
   to has fewer jobs) → `DeleteSchedule`;
4. AWS is as wanted but `job_schedules` says otherwise (a record lost with a crash) →
   `RecordJobSchedules`.

A rollback restores the target's jobs because the rollback release copies the target's
manifest, and the jobs follow the live release once it is steady.
"""

from __future__ import annotations

from paas.domain import names
from paas.domain.observed import Observed, ScheduleState
from paas.domain.specs import ScheduleSpec
from paas.planner import build
from paas.planner import steps as s
from paas.planner.desired import Desired, ReleaseSpec


def wanted(d: Desired, release: ReleaseSpec, obs: Observed) -> dict[str, ScheduleSpec] | None:
    """Job → its schedule; None while a task definition or the scheduler role is still missing."""
    out = {}
    for name, job in sorted(release.manifest.jobs.items()):
        spec = build.schedule_spec(d, release, job, obs)
        if spec is None:
            return None
        out[name] = spec
    return out


def matches(have: ScheduleState, want: ScheduleSpec) -> bool:
    return (have.expression == want.expression and have.state == "ENABLED"
            and have.task_definition == want.task_definition and have.role_arn == want.role_arn
            and have.cluster_arn == want.cluster_arn and (have.input or {}) == want.overrides()
            and set(have.subnets) == set(want.subnets) and set(have.security_groups) == set(want.security_groups)
            and have.assign_public_ip == want.assign_public_ip and have.task_group == want.task_group)


def sync_step(d: Desired, release: ReleaseSpec, obs: Observed) -> s.Step | None:
    if obs.schedules is None:  # not read this pass: no job wanted or recorded
        return None
    want = wanted(d, release, obs)
    if want is None:
        return None
    group = names.schedule_group(d.app, d.env.name)
    owner = build.tags(d)
    if want and not obs.schedule_group:
        return s.EnsureScheduleGroup(f"create the schedule group {group} for {d.app}'s jobs", group, owner)
    for job, spec in want.items():
        have = obs.schedules.get(spec.name)
        if have is None:
            return s.PutSchedule(f"schedule job {job} ({spec.expression}) on v{release.version}", job, spec, True,
                                 release.id)
        if not matches(have, spec):
            return s.PutSchedule(f"update job {job} ({spec.expression}) to v{release.version}", job, spec, False,
                                 release.id)
    for name in sorted(obs.schedules):
        if name not in {spec.name for spec in want.values()}:
            return s.DeleteSchedule(f"remove job {name}: not in v{release.version}'s paas.toml", name, group, owner)
    recorded = {j: (r.expression, r.task_definition) for j, r in d.job_schedules.items()}
    if recorded != {j: (spec.expression, spec.task_definition) for j, spec in want.items()}:
        return s.RecordJobSchedules(f"jobs of v{release.version} are scheduled", {
            j: (spec.expression, spec.task_definition, release.id) for j, spec in want.items()})
    return None
