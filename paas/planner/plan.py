"""plan(desired, observed, policy, now) → the first unfinished step.

Level-triggered: the plan is computed from scratch on every pass from what the database wants
and what AWS reports, so a lost message or a crashed worker only delays convergence. The order
of concerns is fixed: newer requests first (supersede / start), then the active deployment's
strategy recipe, then steady-state duties (known-good marking, drift, scheduled jobs). Facts about
tasks (a tracked task stopped, a deployment's task failed, a job ran) are recorded as soon as they
are seen, whatever else is going on (paas/planner/tasks.py).
"""

from __future__ import annotations

from datetime import datetime

from paas.domain.observed import Observed
from paas.domain.validate import STRATEGIES
from paas.planner import steps as s
from paas.planner import tasks
from paas.planner.desired import Desired, Policy
from paas.planner.strategies import bluegreen, canary, common, rolling

RECIPES = dict(zip(STRATEGIES, (rolling.plan, bluegreen.plan, canary.plan)))  # names: paas.domain.validate


def _recipe(strategy: str):
    return RECIPES[strategy]


def before_observing(d: Desired) -> s.Step | None:
    """Steps that need no look at AWS: starting the next request (so an AWS error is charged to it)."""
    if d.active is None and d.pending is not None:
        return s.StartDeployment(f"start deployment {d.pending.id} (v{d.pending.release.version})", d.pending.id)
    return None


def plan(d: Desired, obs: Observed, policy: Policy, now: datetime) -> s.Step:
    active, pending = d.active, d.pending
    if active is None and pending is not None:
        return s.StartDeployment(f"start deployment {pending.id} (v{pending.release.version})", pending.id)
    step = tasks.record_step(d, obs)
    if step is not None:
        return step
    if active is not None:
        if pending is not None and pending.id > active.id:
            step = _supersede(d, active, pending, obs, policy, now)
            if step is not None:
                return step
        return _recipe(active.strategy)(d, active, obs, policy, now)
    return tasks.keep_watching(d, common.steady(d, obs, policy, now), policy)


def _supersede(d: Desired, active, pending, obs: Observed, policy: Policy, now: datetime) -> s.Step | None:
    """Finish the active deployment at a safe point so the newer request can start.

    Rolling: right away (the newer one replaces the service definition). Progressive: a canary
    holding part of the traffic is taken out first (one ModifyRule), then superseded; one that
    has not shifted traffic is superseded at once; one at 100% finishes its recipe.
    """
    reason = f"superseded by deployment {pending.id} (v{pending.release.version})"
    if active.strategy == "rolling":
        return s.SupersedeActive(reason, active.id, pending.id)
    if active.rolling_back:
        return None  # let the rollback reach its safe point
    weights = [common.weight_of(obs, d, p, bluegreen.new_colour(active, p)) for p in active.release.processes]
    shifted = [w for w in weights if w]
    if not shifted:
        return s.SupersedeActive(reason, active.id, pending.id)
    if all(w >= 100 for w in shifted):
        return None
    for p in active.release.processes:
        w = common.weight_of(obs, d, p, bluegreen.new_colour(active, p))
        if w and w < 100:
            return bluegreen.shift(d, active, obs, p, 0, rollback_to=d.current.version if d.current else None,
                                   fail_state="superseded", reason=f"{reason}: taking {p} traffic off the canary first")
    return None
