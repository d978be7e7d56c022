"""Rolling: ECS replaces tasks in place (min healthy / max percent, circuit breaker on).

ensure stack → register task definition → release phase (paas.toml [release]; a non-zero exit
fails the deployment with nothing changed) → update service → wait until stable → succeeded.
A failed rollout, a tripped circuit breaker or the deadline rolls back to last known-good.
"""

from __future__ import annotations

from datetime import datetime

from paas.domain.observed import Observed
from paas.planner import release_phase
from paas.planner import steps as s
from paas.planner.desired import DeploymentSpec, Desired, Policy
from paas.planner.strategies import common


def plan(d: Desired, dep: DeploymentSpec, obs: Observed, policy: Policy, now: datetime) -> s.Step:
    if (dep.cancel_requested or dep.abort_requested) and not dep.rolling_back:
        return common.failure(d, dep, "cancelled by request" if dep.cancel_requested else "aborted by request")
    target = dep.target
    step = (common.stack_step(d, target, obs, policy, dep)
            or common.task_definition_step(d, target, obs)
            or release_phase.step(d, dep, obs, policy, now)
            or common.service_step(d, target, obs, policy))
    if step is not None:
        return step
    r = common.rollout(d, target, obs)
    failed = r.failed or common.too_many_failed_tasks(dep)
    if failed:
        return common.failure(d, dep, failed)
    if r.ok:
        verb = "rolled back to" if dep.rolling_back else "running"
        return s.Finish(f"{verb} v{target.version}: all processes stable and healthy", dep.id, common.finish_state(dep))
    if common.deadline_passed(dep, policy, now):
        return common.failure(d, dep, f"not stable within {policy.rollout_deadline:.0f}s")
    return s.Wait(f"waiting for v{target.version} to become stable", policy.poll_interval, r.detail)
