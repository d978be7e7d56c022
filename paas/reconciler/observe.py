"""Read what AWS has for one app+environment: as few calls as the plan needs.

Task definition ARNs are remembered in the `task_definitions` table (they are immutable). What
else a pass may reuse comes from the worker's memory of its own previous pass under the same
continuous lease (paas/reconciler/memo.py): a settled stack, listener weights, target health
confirmed for a service that has not changed since. So a pass that only waits (a rollout in
progress, a canary's bake) costs one DescribeServices (plus GetMetricData while a canary step is
judged); DescribeTargetHealth is asked only where ECS says a rollout is done and health is what
is left to confirm.
"""

from __future__ import annotations

from paas import clock

from dataclasses import replace
from typing import Any

from paas.aws.driver import Driver, MetricQuery
from paas.domain.observed import MetricWindow, Observed, ServiceState, StackState, TargetHealth
from paas.domain.specs import COLOURS, family, service_name, stack_name
from paas.planner import gc, priorities
from paas.planner.desired import Desired, Policy, ReleaseSpec
from paas.reconciler.memo import Known


def releases_of_interest(d: Desired) -> list[ReleaseSpec]:
    out: dict[int, ReleaseSpec] = {}
    for r in (d.active.release if d.active else None, d.active.rollback_target if d.active else None,
              d.pending.release if d.pending else None, d.current, d.known_good):
        if r is not None:
            out[r.id] = r
    return list(out.values())


def load_balancer_arn(listener_arn: str | None) -> str | None:
    """arn:…:listener/app/NAME/ID/LID → arn:…:loadbalancer/app/NAME/ID."""
    if not listener_arn or ":listener/" not in listener_arn:
        return None
    return listener_arn.replace(":listener/", ":loadbalancer/").rsplit("/", 1)[0]


def canary_metrics(driver: Driver, d: Desired, obs: Observed, policy: Policy) -> dict[str, MetricWindow]:
    """GetMetricData for both colours of each web process whose canary step is being judged."""
    from paas.planner.strategies import canary

    if d.active is None or d.active.strategy != "canary" or obs.stack is None:
        return {}
    starts = canary.metric_window_start(d.active, obs, d)
    lb = load_balancer_arn(d.env.listener_arn)
    if not starts or lb is None:
        return {}
    end = obs.at.timestamp()
    out: dict[str, MetricWindow] = {}
    for p, started in starts.items():
        infra = obs.stack.infra[p]
        begin = started.timestamp()
        tgs = {c: infra.target_group(c) for c in COLOURS}
        queries = []
        for c, tg in tgs.items():
            if not tg:
                continue
            for metric, stat, tag in (("RequestCount", "Sum", "r"), ("HTTPCode_Target_5XX_Count", "Sum", "e"),
                                      ("TargetResponseTime", "p99", "l")):
                queries.append(MetricQuery(f"{tag}{c}", metric, tg, lb, stat, policy.metric_period))
        # EndTime a period ahead: CloudWatch (and moto) exclude datapoints at or after EndTime
        # truncated to the period, so `now` would hide the newest, possibly breaching, one.
        data = driver.metric_data(queries, begin - policy.metric_period, end + policy.metric_period)
        for c, tg in tgs.items():
            req, err, lat = data.get(f"r{c}", []), data.get(f"e{c}", []), data.get(f"l{c}", [])
            req = [x for x in req if x[0] >= begin - 1]
            err = [x for x in err if x[0] >= begin - 1]
            lat = [x for x in lat if x[0] >= begin - 1]
            if tg:
                out[tg] = MetricWindow(
                    requests=sum(v for _, v in req), errors_5xx=sum(v for _, v in err),
                    p99_ms=max((v * 1000.0 for _, v in lat), default=None), datapoints=len(req),
                    start=begin, end=end, last_datapoint=max((t for t, _ in req + err + lat), default=None),
                )
    return out


def service_names(d: Desired) -> list[str]:
    processes = sorted({p for r in releases_of_interest(d) for p in r.processes} | set(d.active_colour))
    return [service_name(d.app, p, c) for p in processes for c in COLOURS]


def refresh_after(driver: Driver, d: Desired, obs: Observed, step, call=None) -> Observed | None:
    """After a step, re-read only what it changed; None means look at everything again."""
    from paas.planner import steps as s

    if isinstance(step, s.RegisterTaskDefinition):
        return obs  # the caller folded the new ARN into task_definitions
    if isinstance(step, (s.CreateService, s.UpdateService, s.ScaleService)):
        seen = getattr(call, "observed", None)
        if isinstance(seen, ServiceState):  # the response described the service: no second look
            return replace(obs, services={**obs.services, seen.name: seen}, at=clock.now())
        names = service_names(d)
        return replace(obs, services=driver.describe_services(d.env.cluster, names) if names else {},
                       at=clock.now())
    return None


def health_wanted(d: Desired, stack: StackState | None, services: dict[str, ServiceState],
                  tds: dict[str, str]) -> dict[str, ServiceState]:
    """Target group → its service, for the services whose health is what is left to confirm.

    The planner judges health only where a service runs the release it rolls to (the deployment's
    target, or the current release when steady) and ECS says that rollout is done (one
    deployment, COMPLETED, running = desired): anywhere else the answer cannot change the plan.
    """
    if stack is None:
        return {}
    releases = [d.active.target, d.active.release] if d.active else [d.current]
    out: dict[str, ServiceState] = {}
    for r in releases:
        if r is None:
            continue
        for p in r.processes:
            infra = stack.infra.get(p)
            td = tds.get(d.td_key(p, r))
            if infra is None or td is None:
                continue
            for c in COLOURS:
                tg = infra.target_group(c)
                svc = services.get(service_name(d.app, p, c))
                if tg and svc is not None and svc.desired > 0 and svc.task_definition == td and svc.steady:
                    out[tg] = svc
    return out


def _target_health(driver: Driver, wanted: dict[str, ServiceState], known: Known) -> dict[str, TargetHealth]:
    """DescribeTargetHealth for each wanted target group, unless health confirmed earlier still
    holds (its service reports the very state it had then)."""
    out: dict[str, TargetHealth] = {}
    ask = []
    for tg, svc in wanted.items():
        th = known.target_health(tg, svc)
        if th is not None:
            out[tg] = th
        else:
            ask.append(tg)
    if ask:
        got = driver.target_health(ask)
        for tg in ask:
            known.see_health(tg, wanted[tg], got.get(tg))
        out.update(got)
    return out


def observe(driver: Driver, d: Desired, cached_tds: dict[str, str], policy: Policy | None = None,
            known: Known | None = None) -> Observed:
    """Read AWS for one pass. `known` (paas/reconciler/memo.py) holds what this worker saw under
    the same continuous lease and may reuse: a settled stack, rule weights, confirmed health."""
    known = known if known is not None else Known()
    stack = known.stack_state()
    if stack is None:
        stack = driver.describe_stack(stack_name(d.app, d.env.name))
        known.see_stack(stack)
    releases = releases_of_interest(d)
    names = service_names(d)
    services = driver.describe_services(d.env.cluster, names) if names else {}

    tds: dict[str, str] = {}
    for r in releases:
        for p in r.processes:
            key = d.td_key(p, r)
            arn = cached_tds.get(key) or driver.find_task_definition(family(d.app, d.env.name, p), r.task_version)
            if arn:
                tds[key] = arn

    rules: list[str] = []
    if stack is not None:
        rules = [infra.rule_arn for infra in stack.infra.values() if infra.rule_arn]
    weights: dict[str, dict[str, int]] = {}
    if rules:
        weights = known.rule_weights(rules)
        if weights is None:
            weights = driver.rule_weights(rules)
            known.see_weights(weights)
    targets = _target_health(driver, health_wanted(d, stack, services, tds), known)
    registered = None  # ListTaskDefinitions only when garbage collection is due (planner/gc.py)
    if policy is not None and gc.gc_due(d, policy, clock.now()):
        registered = {f: driver.list_task_definitions(f) for f in gc.families(d)}
    listener_rules = None  # the listener's rules only when a priority must be allocated
    if d.env.listener_arn and any(priorities.missing(d, r) for r in releases):
        listener_rules = tuple(driver.listener_rules(d.env.listener_arn))
    obs = Observed(stack=stack, services=services, targets=targets, weights=weights,
                   task_definitions=tds, at=clock.now(), registered=registered,
                   listener_rules=listener_rules)
    if policy is not None:
        metrics = canary_metrics(driver, d, obs, policy)
        if metrics:
            obs = replace(obs, metrics=metrics)
    return obs


def summary(d: Desired, obs: Observed) -> dict[str, Any]:
    """The observation record `paas status` shows (and the TD cache the next pass reuses)."""
    procs: dict[str, Any] = {}
    release_by_td = {}
    for r in releases_of_interest(d):
        for p in r.processes:
            arn = obs.task_definitions.get(d.td_key(p, r))
            if arn:
                release_by_td[arn] = (r.version, r.pinned_image)
    names = sorted({p for r in releases_of_interest(d) for p in r.processes} | set(d.active_colour))
    from paas.planner.strategies.common import live_colour

    for p in names:
        colour = live_colour(d, obs, p)
        infra = obs.stack.infra.get(p) if obs.stack else None
        weights = {}
        if infra and infra.rule_arn and infra.rule_arn in obs.weights:
            w = obs.weights[infra.rule_arn]
            weights = {c: w.get(infra.target_group(c) or "", 0) for c in COLOURS}
        colours = {}
        for c in COLOURS:
            svc = obs.services.get(service_name(d.app, p, c))
            if svc is None:
                continue
            tg = infra.target_group(c) if infra else None
            th = obs.targets.get(tg) if tg else None
            rel = release_by_td.get(svc.task_definition, (svc.release, None))
            colours[c] = {
                "service": svc.name, "release": rel[0], "image": rel[1],
                "task_definition": svc.task_definition, "desired_count": svc.desired,
                "running_count": svc.running, "pending_count": svc.pending,
                "healthy_count": th.healthy if th else None, "rollout_state": svc.rollout_state,
            }
        live = colours.get(colour, {})
        procs[p] = {
            "active_colour": colour,
            "image": live.get("image"),
            "release": live.get("release"),
            "desired_count": live.get("desired_count", 0),
            "running_count": live.get("running_count", 0),
            "healthy_count": live.get("healthy_count"),
            "rollout_state": live.get("rollout_state"),
            "weights": weights,
            "colours": colours,
            # what resync compares with DescribeRules: the rule and each colour's target group
            "rule_arn": infra.rule_arn if infra else None,
            "target_groups": {c: infra.target_group(c) for c in COLOURS} if infra else {},
        }
    return {
        "processes": procs,
        "stack": {"status": obs.stack.status, "reason": obs.stack.reason} if obs.stack else None,
        "observed_at": obs.at.isoformat(),
    }
