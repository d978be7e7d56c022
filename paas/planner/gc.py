"""Garbage collection per app type (pure): what old AWS resources to remove, and why.

The policy (three knobs, per app type, overridable per app and by settings) is defined in
paas/domain/gc_policy.py and re-exported here:

- `keep_task_definitions`: task-definition revisions kept per family (the newest N);
  older ones are deregistered.
- `previous_colour_keep_seconds`: how long the previous colour keeps running after a
  blue-green or canary deploy finished, so `paas rollback` is one weight flip; then it is
  scaled to 0.
- `idle_scale_to_zero_seconds`: when a colour with no traffic that no rollback needs (it runs
  the current release again) is scaled to 0; None = never.

Never removed, whatever the policy says: a revision any service with a desired count above 0
uses (either colour), the current release's, the last known-good's, and the one the previous
(rollback-ready) colour runs while it is inside its keep window. A colour that serves traffic or
runs the current release is never scaled down.

`plan_gc` decides; `collect` turns that into the one step the steady-state planner returns.
Listing registered revisions costs ListTaskDefinitions calls, so it happens only when GC is
due (`gc_due`: never checked, asked for by `paas gc`, or `gc_interval` since the last check).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from paas.domain.errors import UserError
from paas.domain.gc_policy import DEFAULTS, KEYS, MAX_KEEP, NEVER, GcPolicy, policy_for, validate_overrides
from paas.domain.names import process_of_family
from paas.domain.observed import Observed
from paas.domain.specs import family, other, service_name
from paas.planner import steps as s
from paas.planner.desired import Desired, Policy


# --------------------------------------------------------------------------- decisions

@dataclass(frozen=True)
class GcAction:
    kind: str  # deregister | scale_down
    reason: str
    arn: str | None = None  # deregister: the task definition revision
    process: str | None = None  # scale_down
    service: str | None = None  # scale_down
    colour: str | None = None  # scale_down

    def to_json(self) -> dict[str, Any]:
        return {k: val for k, val in self.__dict__.items() if val is not None}


@dataclass(frozen=True)
class GcKeep:
    kind: str  # task_definition | service
    name: str  # ARN or service name
    reason: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class GcReport:
    actions: list[GcAction] = field(default_factory=list)
    kept: list[GcKeep] = field(default_factory=list)
    recheck_in: float | None = None  # seconds until a keep window ends


def revision(arn: str) -> int:
    tail = arn.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def families(d: Desired) -> list[str]:
    """Task-definition families GC looks at: the processes whose services the reconciler observes."""
    procs = set(d.active_colour)
    for r in (d.current, d.known_good):
        if r is not None:
            procs |= set(r.processes)
    return [family(d.app, d.env.name, p) for p in sorted(procs)]


def _fmt(seconds: float) -> str:
    from paas.domain.validate import format_seconds

    return format_seconds(seconds)


__all__ = ["DEFAULTS", "KEYS", "MAX_KEEP", "NEVER", "GcPolicy", "policy_for", "validate_overrides",
           "GcAction", "GcKeep", "GcReport", "gc_report", "plan_gc", "gc_due", "collect", "families"]


def _weight(obs: Observed, process: str, colour: str) -> int | None:
    infra = obs.stack.infra.get(process) if obs.stack else None
    if not infra or infra.rule_arn not in obs.weights:
        return None
    return obs.weights[infra.rule_arn].get(infra.target_group(colour) or "", 0)


def gc_report(d: Desired, obs: Observed, policy: GcPolicy, now: datetime,
              registered: dict[str, list[str]] | None, live: dict[str, str]) -> GcReport:
    """Everything GC would do now, and everything it keeps, each with its reason.

    `registered`: ACTIVE revisions per family (None: not listed, so no deregistration is
    decided); `live`: the colour serving each process now. Scale-downs come first: the
    revision a scaled-down colour ran is then free to go (if it is old enough).
    """
    rep = GcReport()
    c = d.current
    if c is None:
        return rep
    elapsed = (now - d.current_finished_at).total_seconds() if d.current_finished_at else None

    def td_of(release, process):
        return obs.task_definitions.get(d.td_key(process, release)) if release is not None else None

    current_tds = {td_of(c, p): p for p in c.processes if td_of(c, p)}
    kg = d.known_good
    kg_tds = {td_of(kg, p): p for p in (kg.processes if kg else ()) if td_of(kg, p)}

    # --- colours: the previous (rollback-ready) one after its window, idle ones -----------------
    scaling: set[str] = set()
    rollback_ready: dict[str, str] = {}  # task definition → why it is kept
    for p in sorted(live):
        if p not in c.processes:
            continue
        prev = other(live[p])
        name = service_name(d.app, p, prev)
        svc = obs.services.get(name)
        if svc is None or svc.status != "ACTIVE" or svc.desired == 0:
            continue
        cur_td = td_of(c, p)
        weight = _weight(obs, p, prev)
        if weight:
            rep.kept.append(GcKeep("service", name, f"receives {weight}% of {p} traffic"))
            continue
        if cur_td is None:
            rep.kept.append(GcKeep("service", name, f"the task definition of v{c.version} is unknown"))
            continue
        serving = obs.services.get(service_name(d.app, p, live[p]))
        if serving is None or serving.status != "ACTIVE" or serving.desired == 0 or serving.task_definition != cur_td:
            # never leave a process without the current release running somewhere
            rep.kept.append(GcKeep("service", name, f"the {live[p]} colour does not run v{c.version}"))
            continue
        ready = svc.task_definition != cur_td
        window = policy.previous_colour_keep_seconds if ready else policy.idle_scale_to_zero_seconds
        runs = f"v{svc.release}" if svc.release is not None else f"revision {revision(svc.task_definition)}"
        what = (f"previous colour {prev} ({runs}, rollback-ready)"
                if ready else f"idle colour {prev} (runs v{c.version} again, no traffic)")
        if window is None:
            rep.kept.append(GcKeep("service", name, f"{what}: idle scale-to-zero is off"))
            continue
        if elapsed is None:
            rep.kept.append(GcKeep("service", name, f"{what}: v{c.version} has no finish time to count from"))
            if ready:
                rollback_ready[svc.task_definition] = f"run by the {what}"
            continue
        if elapsed >= window:
            scaling.add(name)
            rep.actions.append(GcAction(
                "scale_down", f"scale {what} {name} to 0: its {_fmt(window)} window after v{c.version} "
                f"finished has passed", process=p, service=name, colour=prev))
        else:
            left = window - elapsed
            rep.kept.append(GcKeep("service", name, f"{what}: kept {_fmt(left)} more ({_fmt(window)} after "
                                                    f"v{c.version} finished)"))
            rep.recheck_in = left if rep.recheck_in is None else min(rep.recheck_in, left)
            if ready:
                rollback_ready[svc.task_definition] = f"run by the {what}, inside its keep window"

    if registered is None:
        return rep

    # --- task definition revisions ---------------------------------------------------------------
    in_use: dict[str, str] = {}
    for name, svc in sorted(obs.services.items()):
        if svc.status != "ACTIVE" or name in scaling:
            continue
        if svc.desired > 0:
            in_use.setdefault(svc.task_definition, f"used by service {name} (desired {svc.desired})")
        for dep in svc.deployments:
            if dep.desired > 0 or dep.running > 0 or dep.pending > 0:
                in_use.setdefault(dep.task_definition, f"used by a deployment of service {name}")
    n = policy.keep_task_definitions
    for fam in sorted(registered):
        revs = sorted(set(registered[fam]), key=revision)
        newest = set(revs[-n:])
        process = process_of_family(d.app, d.env.name, fam)
        unresolved = []
        if process in c.processes and td_of(c, process) is None:
            unresolved.append(f"v{c.version}")
        if d.known_good is not None and process in d.known_good.processes and td_of(d.known_good, process) is None:
            unresolved.append(f"known-good v{d.known_good.version}")
        for arn in revs:
            reasons = []
            if arn in newest:
                reasons.append(f"one of the newest {n}")
            if arn in current_tds:
                reasons.append(f"current release v{c.version}")
            if arn in kg_tds and d.known_good is not None:
                reasons.append(f"last known-good v{d.known_good.version}")
            if arn in rollback_ready:
                reasons.append(rollback_ready[arn])
            if arn in in_use:
                reasons.append(in_use[arn])
            if not reasons and unresolved:
                reasons.append(f"the task definition of {' and '.join(unresolved)} is not resolved: keeping all")
            if reasons:
                rep.kept.append(GcKeep("task_definition", arn, "; ".join(reasons)))
            else:
                rep.actions.append(GcAction(
                    "deregister", f"deregister {fam}:{revision(arn)}: older than the newest {n} revisions, "
                    "and no service, current, known-good or rollback-ready release uses it", arn=arn))
    return rep


def plan_gc(d: Desired, obs: Observed, policy: GcPolicy, now: datetime,
            registered: dict[str, list[str]] | None, live: dict[str, str]) -> list[GcAction]:
    """What GC removes now, scale-downs first (see `gc_report` for what it keeps and why)."""
    return gc_report(d, obs, policy, now, registered, live).actions


# --------------------------------------------------------------------------- when, and one step

def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def gc_due(d: Desired, policy: Policy, at: datetime) -> bool:
    """Whether this pass should list registered revisions: only in steady state, current known-good,
    and never checked, or asked for with `paas gc`, or `gc_interval` since the last check."""
    if d.active is not None or d.pending is not None or d.current is None or not d.current.known_good:
        return False
    st = d.gc_state or {}
    req = st.get("requested_at")
    if req and req != st.get("request_handled"):
        return True
    checked = _when(st.get("checked_at"))
    if checked is None:
        return True
    return at > checked and (at - checked).total_seconds() >= policy.gc_interval


def next_due_in(d: Desired, policy: Policy, now: datetime) -> float | None:
    checked = _when((d.gc_state or {}).get("checked_at"))
    if checked is None:
        return None
    return max(0.0, policy.gc_interval - (now - checked).total_seconds())


def collect(d: Desired, obs: Observed, policy: Policy, now: datetime, live: dict[str, str],
            idle: s.Idle) -> s.Step:
    """The steady-state planner's last duty: one GC step, or `idle` (requeued in time for the next)."""
    try:
        gp = policy_for(d.app_type, d.gc_overrides, policy.gc_settings)
    except UserError as e:
        return replace(idle, reason=f"{idle.reason}; GC skipped: {e}")
    due = gc_due(d, policy, obs.at)
    rep = gc_report(d, obs, gp, now, obs.registered if due else None, live)
    for a in rep.actions:
        if a.kind == "scale_down":
            return s.ScaleService(a.reason, a.process or "", d.env.cluster, a.service or "", 0, gc=True)
    for a in rep.actions:
        if a.kind == "deregister" and a.arn:
            return s.DeregisterTaskDefinition(a.reason, a.arn)
    if due:
        if obs.registered is None:
            return s.Wait("GC is due: listing the registered task definition revisions", 0.0)
        st = d.gc_state or {}
        kept = sum(1 for k in rep.kept if k.kind == "task_definition")
        return s.GcChecked(f"GC checked: {kept} task definition revision(s) kept, nothing more to remove",
                           {"checked_at": obs.at.isoformat(), "request_handled": st.get("requested_at"),
                            "kept": kept})
    waits = [x for x in (idle.seconds, rep.recheck_in, next_due_in(d, policy, now)) if x is not None]
    return replace(idle, seconds=max(1.0, min(waits)) if waits else idle.seconds)

