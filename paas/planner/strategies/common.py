"""Checks every strategy shares: the stack, task definitions, services, stability, failure."""

from __future__ import annotations

import math

from dataclasses import dataclass, field
from datetime import datetime

from paas.domain.observed import Observed
from paas.domain.specs import COLOURS, other, service_name
from paas.planner import build, gc, jobs, priorities
from paas.planner import steps as s
from paas.planner.desired import DeploymentSpec, Desired, Policy, ReleaseSpec

FAILED_STACK = ("ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "CREATE_FAILED", "ROLLBACK_FAILED",
                "DELETE_FAILED", "UPDATE_FAILED")


def live_colour(d: Desired, obs: Observed, process: str) -> str:
    """The colour serving now: by listener weights for web processes, else the one scaled up."""
    infra = obs.stack.infra.get(process) if obs.stack else None
    if infra and infra.rule_arn in obs.weights:
        w = obs.weights[infra.rule_arn]
        b, g = w.get(infra.blue_target_group or "", 0), w.get(infra.green_target_group or "", 0)
        if b != g:
            return "blue" if b > g else "green"
    up = [c for c in COLOURS
          if (svc := obs.services.get(service_name(d.app, process, c))) and svc.status == "ACTIVE" and svc.desired > 0]
    if len(up) == 1:
        return up[0]
    return d.colour(process)


def serving_colour(d: Desired, obs: Observed, process: str, release: ReleaseSpec) -> str:
    """The colour that runs `release` and should take the traffic: the one whose service runs the
    release's task definition (of two, the one with more weight), else the live colour. Weights
    alone are not trusted here: a stale request may have moved them."""
    td = obs.task_definitions.get(d.td_key(process, release))
    running = [c for c in COLOURS if (svc := obs.services.get(service_name(d.app, process, c)))
               and svc.status == "ACTIVE" and svc.desired > 0 and td is not None and svc.task_definition == td]
    if len(running) == 1:
        return running[0]
    return live_colour(d, obs, process)


def traffic_drift_step(d: Desired, release: ReleaseSpec, obs: Observed) -> s.Step | None:
    """Steady state: each web process's rule sends 100% to the colour serving the release. A weight
    changed outside paas (by hand, or by a request a frozen worker sent late) is put back."""
    if obs.stack is None:
        return None
    for p in release.processes:
        infra = obs.stack.infra.get(p)
        if infra is None or not infra.rule_arn or infra.rule_arn not in obs.weights:
            continue
        colour = serving_colour(d, obs, p, release)
        tg, other_tg = infra.target_group(colour), infra.target_group(other(colour))
        if not tg:
            continue
        want = {tg: 100, **({other_tg: 0} if other_tg else {})}
        have = obs.weights[infra.rule_arn]
        if {k: have.get(k, 0) for k in want} != want or any(w for k, w in have.items() if k not in want):
            shown = ", ".join(f"{c} {have.get(infra.target_group(c) or '', 0)}%" for c in COLOURS)
            return s.RevertTrafficDrift(f"drift reverted: {p} traffic was {shown}; {colour} serves "
                                        f"v{release.version} and gets 100%", p, infra.rule_arn, want)
    return None


def weight_of(obs: Observed, d: Desired, process: str, colour: str) -> int | None:
    infra = obs.stack.infra.get(process) if obs.stack else None
    if not infra or infra.rule_arn not in obs.weights:
        return None
    return obs.weights[infra.rule_arn].get(infra.target_group(colour) or "", 0)


def stack_step(d: Desired, release: ReleaseSpec, obs: Observed, policy: Policy,
               dep: DeploymentSpec | None) -> s.Step | None:
    st = obs.stack
    if st is not None and not st.in_progress and st.status in FAILED_STACK and priorities.taken_by_another(obs):
        web = tuple(sorted(p for p in priorities.routes(d, release) if p in d.rule_priorities))
        if web:
            return s.ReleaseRulePriorities(f"a listener-rule priority is taken ({st.reason}); allocating anew", web)
    if priorities.missing(d, release):
        return priorities.allocate(d, release, obs)
    spec = build.stack_spec(d, release)
    if st is None:
        return s.ApplyStack("create the infrastructure stack", spec)
    if st.in_progress:
        return s.Wait(f"infrastructure stack is {st.status}", policy.stack_poll)
    if st.status == "UPDATE_ROLLBACK_FAILED":
        return s.ContinueStackRollback(f"stack is UPDATE_ROLLBACK_FAILED ({st.reason}); continuing the rollback", st.name)
    if st.template_hash == spec.template_hash and st.usable:
        return None
    applied = dep is not None and s.ApplyStack("", spec).key in dep.applied
    if applied and st.status in FAILED_STACK:
        return s.Finish(f"infrastructure stack {st.status}: {st.reason or 'no reason given'}",
                        dep.id, "failed")
    return s.ApplyStack(
        "create the infrastructure stack" if st.status == "ROLLBACK_COMPLETE" else "update the infrastructure stack",
        spec,
    )


def task_definition_step(d: Desired, release: ReleaseSpec, obs: Observed) -> s.Step | None:
    for p in release.processes:
        if d.td_key(p, release) not in obs.task_definitions:
            return s.RegisterTaskDefinition(
                f"register the task definition for {p} v{release.task_version}", p, release.task_version,
                build.task_def_spec(d, p, release, obs),
            )
    return None


def service_step(d: Desired, release: ReleaseSpec, obs: Observed, policy: Policy,
                 colour_of=None, counts: dict[str, int] | None = None, drift: bool = False) -> s.Step | None:
    """Create or update each process's service so it runs `release` at its count."""
    for p in release.processes:
        colour = colour_of(p) if colour_of else live_colour(d, obs, p)
        td = obs.task_definitions[d.td_key(p, release)]
        want = (counts or {}).get(p, release.count(p))
        spec = build.service_spec(d, p, colour, td, want, release, obs, policy)
        svc = obs.services.get(spec.name)
        if svc is None or svc.status != "ACTIVE":
            return s.CreateService(f"create service {spec.name} with v{release.version} × {want}", p, spec)
        if svc.task_definition != td or svc.desired != want:
            what = []
            if svc.task_definition != td:
                was = svc.release or next((k.rsplit(":", 1)[1] for k, v in obs.task_definitions.items()
                                           if v == svc.task_definition), None)
                what.append(f"v{was} → v{release.version}" if was else f"run v{release.version}")
            if svc.desired != want:
                what.append(f"count {svc.desired} → {want}")
            prefix = "drift reverted: " if drift else ""
            return s.UpdateService(f"{prefix}update service {spec.name}: {', '.join(what)}", p, spec, drift)
    return None


@dataclass
class Rollout:
    ok: bool = True
    failed: str | None = None
    detail: dict = field(default_factory=dict)


def rollout(d: Desired, release: ReleaseSpec, obs: Observed, colour_of=None,
            counts: dict[str, int] | None = None) -> Rollout:
    """Stable = rollout COMPLETED, running = desired, and (web) that many healthy targets."""
    r = Rollout()
    for p in release.processes:
        colour = colour_of(p) if colour_of else live_colour(d, obs, p)
        name = service_name(d.app, p, colour)
        svc = obs.services.get(name)
        td = obs.task_definitions.get(d.td_key(p, release))
        want = (counts or {}).get(p, release.count(p))
        proc = release.manifest.processes.get(p)
        healthy = None
        if proc is not None and proc.is_web and obs.stack is not None and p in obs.stack.infra:
            tg = obs.stack.infra[p].target_group(colour)
            th = obs.targets.get(tg) if tg else None
            healthy = th.healthy if th else 0
        if svc is None:
            r.ok = False
            r.detail[p] = {"service": name, "state": "missing"}
            continue
        prim = svc.primary
        if prim is not None and prim.task_definition == td and prim.rollout_state == "FAILED":
            r.failed = f"{name}: {prim.rollout_reason or 'ECS rollout failed'}"
        stable = svc.steady and svc.task_definition == td and (healthy is None or healthy >= want)
        r.ok = r.ok and stable
        r.detail[p] = {"service": name, "desired": svc.desired, "running": svc.running,
                       "pending": svc.pending, "healthy": healthy, "rollout": svc.rollout_state,
                       "failed_tasks": prim.failed_tasks if prim else 0}
    return r


def failed_tasks_threshold(desired: int) -> int:
    """ECS's default circuit-breaker threshold: half the desired count, at least 3, at most 200."""
    return min(200, max(3, math.ceil(desired / 2)))


def too_many_failed_tasks(dep: DeploymentSpec) -> str | None:
    """Why the new release fails on its tasks' record, when ECS's breaker would not.

    ECS resets the breaker's count whenever a task turns healthy (resetOnHealthyTask), so a
    release whose every other task crashes may never trip it. paas counts every failed task of
    the release it rolls out, as recorded in the deployment's timeline, against the same threshold.
    """
    if dep.rolling_back:
        return None
    target = dep.target
    failed = dep.failed_tasks.get(target.version, 0)
    limit = failed_tasks_threshold(sum(target.count(p) for p in target.processes))
    if failed >= limit:
        return (f"{failed} tasks of v{target.version} failed during its rollout (threshold {limit}; "
                "ECS's circuit breaker forgets failures whenever a task turns healthy)")
    return None


def failure(d: Desired, dep: DeploymentSpec, reason: str) -> s.Step:
    """A failed rollout goes back to the last known-good release, never blindly to the previous one.

    Progressive strategies never moved the old colour, so they go back to what it serves.
    """
    if dep.rolling_back:
        return s.Finish(f"rollback to v{dep.target.version} failed too: {reason}", dep.id, "failed")
    if dep.strategy != "rolling" and d.current is not None:
        return s.BeginRollback(f"{reason}; returning to v{d.current.version} on the previous colour",
                               d.current.version)
    kg = d.known_good
    if kg is not None and kg.id != dep.release.id:
        return s.BeginRollback(f"{reason}; rolling back to known-good v{kg.version}", kg.version)
    if d.current is not None and d.current.id != dep.release.id:
        # Nothing has finished a bake yet (a young app): the release that was serving is still
        # a better place than a broken rollout.
        return s.BeginRollback(f"{reason}; no known-good release yet, rolling back to v{d.current.version}, "
                               "the release serving before", d.current.version)
    return s.Finish(f"{reason}; no earlier release to roll back to", dep.id, "failed")


def deadline_passed(dep: DeploymentSpec, policy: Policy, now: datetime) -> bool:
    started = dep.rollback_started_at if dep.rolling_back else None
    if started is None:
        started = dep.started_at or dep.created_at
    return (now - started).total_seconds() > policy.rollout_deadline


def finish_state(dep: DeploymentSpec) -> str:
    if not dep.rolling_back:
        return "succeeded"
    return "cancelled" if dep.cancel_requested else "rolled_back"


def steady(d: Desired, obs: Observed, policy: Policy, now: datetime) -> s.Step:
    """Nothing in flight: keep the current release running as recorded (its services, traffic and
    scheduled jobs), and mark it known-good."""
    c = d.current
    if c is None:
        return s.Idle("nothing deployed yet", None)
    step = (task_definition_step(d, c, obs)
            or service_step(d, c, obs, policy, colour_of=lambda p: serving_colour(d, obs, p, c), drift=True)
            or traffic_drift_step(d, c, obs)
            or jobs.sync_step(d, c, obs))
    if step is not None:
        return step
    if not c.known_good and d.current_finished_at is not None:
        baked = (now - d.current_finished_at).total_seconds()
        if baked < policy.bake:
            return s.Wait(f"baking v{c.version}: {baked:.0f}s of {policy.bake:.0f}s", policy.bake - baked)
        r = rollout(d, c, obs)
        if r.ok:
            return s.MarkKnownGood(f"v{c.version} stayed healthy through its {policy.bake:.0f}s bake window",
                                   c.id, c.version)
        return s.Wait(f"v{c.version} is not healthy yet; known-good waits", policy.poll_interval, r.detail)
    # garbage collection (planner/gc.py): one step at a time, or Idle until its next window ends
    idle = s.Idle(f"v{c.version} running as desired", policy.resync_interval)
    return gc.collect(d, obs, policy, now, {p: live_colour(d, obs, p) for p in c.processes}, idle)
