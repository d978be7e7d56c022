"""Listener-rule priorities: allocated from the listener's free ones, stored, never derived.

A web process gets its priority once, from the rules the listener has when it is first
deployed (paas.domain.routing.allocate_priority keeps the listener ordered by specificity and
refuses a second catch-all), and keeps it: the number is stored per app, environment and
process. If CloudFormation reports the number taken anyway (another tool took it meanwhile),
the stored numbers are released and allocated again from a fresh read of the listener.

The routes are the release's, with the environment's app domain applied: an app that routes
no host of its own gets `<app>.<app_domain>`.
"""

from __future__ import annotations

from dataclasses import replace

from paas.domain import routing
from paas.domain.errors import UserError
from paas.domain.manifest import Manifest
from paas.domain.observed import ListenerRuleState, Observed
from paas.planner import steps as s
from paas.planner.desired import Desired, ReleaseSpec


def manifest_for_env(d: Desired, manifest: Manifest) -> Manifest:
    """The manifest with the environment's app domain applied to routes without a host."""
    domain = d.env.app_domain
    if not domain:
        return manifest
    host = f"{d.app}.{domain}"
    procs = {n: (replace(p, routing=replace(p.routing, host=host)) if p.routing is not None and p.routing.host is None
                 else p) for n, p in manifest.processes.items()}
    top = manifest.routing if manifest.routing.host else replace(manifest.routing, host=host)
    return replace(manifest, routing=top, processes=procs)


def routes(d: Desired, release: ReleaseSpec) -> dict[str, routing.Routing]:
    return manifest_for_env(d, release.manifest).web_routes()


def missing(d: Desired, release: ReleaseSpec) -> list[str]:
    """Web processes of `release` with no stored priority (only where there is a listener)."""
    if not d.env.listener_arn:
        return []
    return sorted(p for p in routes(d, release) if p not in d.rule_priorities)


def _rule(r: ListenerRuleState, owner: str) -> routing.Rule:
    paths = tuple(r.paths) or (routing.CATCH_ALL,)
    return routing.Rule(r.priority or 0, routing.Routing(paths=paths, host=r.hosts[0] if r.hosts else None), owner)


def allocate(d: Desired, release: ReleaseSpec, obs: Observed) -> s.Step:
    """One step storing a priority for every web process that lacks one, or a Wait for the read."""
    if obs.listener_rules is None:
        return s.Wait("reading the listener's rules to allocate a priority", 0.0, topic="listener rules")
    mine = {arn for i in (obs.stack.infra.values() if obs.stack else ()) if (arn := i.rule_arn)}
    me = f"{d.app} in {d.env.name}"
    existing = [_rule(r, me if r.arn in mine else f"rule {r.arn.rsplit('/', 1)[-1]} (priority {r.priority})")
                for r in obs.listener_rules if r.priority is not None]
    taken = {r.priority for r in existing} | set(d.rule_priorities.values())
    wanted = routes(d, release)
    chosen: dict[str, int] = {}
    for p in sorted(missing(d, release), key=lambda p: routing.specificity(wanted[p])):
        r = wanted[p]
        try:
            prio = routing.allocate_priority(taken, routing.specificity(r), existing, routing=r, owner=me)
        except UserError as e:
            return s.Finish(f"cannot route {p}: {e}", d.active.id, "failed") if d.active else \
                s.Idle(f"cannot route {p}: {e}", None)
        chosen[p] = prio
        taken.add(prio)
        existing.append(routing.Rule(prio, r, me))
    return s.AllocateRulePriorities(
        "allocate listener-rule priorities: " + ", ".join(f"{p} → {n}" for p, n in sorted(chosen.items())),
        d.env.listener_arn, chosen)


def taken_by_another(obs: Observed) -> bool:
    """CloudFormation failed the stack because a rule's priority is in use (PriorityInUse)."""
    st = obs.stack
    reason = (st.reason or "") if st else ""
    return st is not None and ("PriorityInUse" in reason or "priority" in reason.lower() and "in use" in reason.lower())
