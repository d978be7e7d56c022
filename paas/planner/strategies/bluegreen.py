"""Blue-green: the new release starts on the idle colour, takes 100% in one ModifyRule once
healthy, and the previous colour keeps running (for the GC keep window) so a rollback is one
weight flip. Worker processes: the new colour scales up and the old one down once healthy.
"""

from __future__ import annotations

from datetime import datetime

from paas.domain.observed import Observed
from paas.domain.specs import other, service_name
from paas.planner import release_phase
from paas.planner import steps as s
from paas.planner.desired import DeploymentSpec, Desired, Policy
from paas.planner.strategies import common


def choose_colours(d: Desired, dep: DeploymentSpec, obs: Observed) -> s.Step | None:
    if dep.colours:
        return None
    colours = {}
    for p in dep.release.processes:
        live = common.live_colour(d, obs, p)
        svc = obs.services.get(service_name(d.app, p, live))
        serving = svc is not None and svc.status == "ACTIVE" and svc.desired > 0
        # Nothing serving yet (first deploy): start on the live colour itself.
        colours[p] = other(live) if serving else live
    return s.ChooseColours(f"new release goes to {', '.join(f'{p}={c}' for p, c in sorted(colours.items()))}",
                           colours)


def new_colour(dep: DeploymentSpec, p: str) -> str:
    return dep.colours.get(p, "blue")


def start_new_colour(d: Desired, dep: DeploymentSpec, obs: Observed, policy: Policy,
                     now: datetime) -> s.Step | None:
    """Stack, task definitions, the release phase, the new colour scaled up and healthy: shared
    with canary."""
    target = dep.release
    colour_of = lambda p: new_colour(dep, p)  # noqa: E731
    step = (common.stack_step(d, target, obs, policy, dep)
            or common.task_definition_step(d, target, obs)
            or release_phase.step(d, dep, obs, policy, now)
            or common.service_step(d, target, obs, policy, colour_of=colour_of))
    if step is not None:
        return step
    r = common.rollout(d, target, obs, colour_of=colour_of)
    failed = r.failed or common.too_many_failed_tasks(dep)
    if failed:
        return common.failure(d, dep, failed)
    if not r.ok:
        if common.deadline_passed(dep, policy, now):
            return common.failure(d, dep, f"new colour not healthy within {policy.rollout_deadline:.0f}s")
        return s.Wait(f"waiting for v{target.version} to become healthy on the idle colour", policy.poll_interval,
                      r.detail)
    return None


def shift(d: Desired, dep: DeploymentSpec, obs: Observed, p: str, percent: int, **kw) -> s.Step | None:
    """ShiftTraffic so the new colour gets `percent`, unless it already does."""
    infra = obs.stack.infra.get(p) if obs.stack else None
    if infra is None or not infra.rule_arn:
        return None
    new = new_colour(dep, p)
    if common.weight_of(obs, d, p, new) == percent and kw.get("rollback_to") is None:
        return None
    weights = {infra.target_group(new): percent, infra.target_group(other(new)): 100 - percent}
    reason = kw.pop("reason", f"shift {p} traffic: {new} {percent}%, {other(new)} {100 - percent}%")
    return s.ShiftTraffic(reason, p, infra.rule_arn, weights, percent, **kw)


def revert(d: Desired, dep: DeploymentSpec, obs: Observed, policy: Policy) -> s.Step:
    """Rolling back: traffic to the old colour in one call, then the new colour scaled down."""
    for p in dep.release.processes:
        proc = dep.release.manifest.processes.get(p)
        if proc is not None and proc.is_web and common.weight_of(obs, d, p, new_colour(dep, p)) not in (0, None):
            step = shift(d, dep, obs, p, 0, rollback_to=dep.target.version,
                         reason=f"take {p} traffic off v{dep.release.version}"
                                + (f" ({dep.rollback_reason})" if dep.rollback_reason else ""))
            if step:
                return step
    for p in dep.release.processes:
        name = service_name(d.app, p, new_colour(dep, p))
        svc = obs.services.get(name)
        if svc is not None and svc.status == "ACTIVE" and svc.desired > 0 and d.current is not None:
            return s.ScaleService(f"scale {name} (v{dep.release.version}) down", p, d.env.cluster, name, 0)
    state = dep.end_state or common.finish_state(dep)
    return s.Finish(f"traffic back on v{dep.target.version}: {dep.rollback_reason or ''}".rstrip(": "),
                    dep.id, state)


def retire_old_workers(d: Desired, dep: DeploymentSpec, obs: Observed) -> s.Step | None:
    """Worker processes have no traffic to flip: the old colour stops once the new one is healthy."""
    for p in dep.release.processes:
        proc = dep.release.manifest.processes.get(p)
        if proc is not None and proc.is_web:
            continue
        name = service_name(d.app, p, other(new_colour(dep, p)))
        svc = obs.services.get(name)
        if svc is not None and svc.status == "ACTIVE" and svc.desired > 0:
            return s.ScaleService(f"scale the previous colour {name} down: the new one is healthy", p,
                                  d.env.cluster, name, 0)
    return None


def plan(d: Desired, dep: DeploymentSpec, obs: Observed, policy: Policy, now: datetime) -> s.Step:
    step = choose_colours(d, dep, obs)
    if step is not None:
        return step
    if dep.rolling_back:
        return revert(d, dep, obs, policy)
    if dep.cancel_requested or dep.abort_requested:
        return common.failure(d, dep, "cancelled by request" if dep.cancel_requested else "aborted by request")
    step = start_new_colour(d, dep, obs, policy, now)
    if step is not None:
        return step
    for p in dep.release.processes:
        proc = dep.release.manifest.processes.get(p)
        if proc is not None and proc.is_web:
            step = shift(d, dep, obs, p, 100)
            if step is not None:
                return step
    step = retire_old_workers(d, dep, obs)
    if step is not None:
        return step
    if dep.release.copied_from is not None:
        return s.Finish(f"rolled back to v{dep.release.copied_from} (as v{dep.release.version}): traffic is on "
                        "the colour running it", dep.id, "succeeded")
    return s.Finish(f"v{dep.release.version} serving 100% on the new colour; the previous colour stays up "
                    "for instant rollback", dep.id, "succeeded")
