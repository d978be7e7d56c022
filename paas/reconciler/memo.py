"""What a worker remembers of an app+environment from one of its reconcile passes to the next.

Every pass observes AWS (DESIGN.md §2), but part of what it reads changes only when paas itself
changes it, or when someone changes AWS by hand (which resync finds). A worker keeps, in its
own memory only:

* the infrastructure stack, once seen settled (a ``*_COMPLETE`` state): a stack changes through
  the stack calls paas sends, and the pass that sends one forgets it (paas/planner/steps.py
  `ApplyStack`, `ContinueStackRollback`, priority changes);
* each listener rule's forward weights, as read (DescribeRules) or as paas set them (ModifyRule);
* target health that confirmed a service (every desired task healthy), with that service's state
  as DescribeServices reported it then: reused while the service reports exactly that state
  (same task definition, counts, deployments and events: a replaced task changes them).

Why this is safe under crashes and races:

* An entry is used only by the same worker's next claim of that app+environment, and only when
  that claim's fencing token is the entry's plus one and the claim is no rescue. Tokens move
  only at a claim (paas/db/queue.py), so no other worker held the lease in between and nothing
  paas sends from elsewhere moved what is remembered. A crash or restart loses the memory: the
  next pass reads everything. A pass that ends in an error keeps nothing.
* When the work item was enqueued since (a CLI request, a steering command, or resync reporting
  drift), weights are read again: resync compares listener weights with what paas set and
  queues the app, whose next pass must see the weight that was changed by hand.
* Nothing older than ``PAAS_OBSERVE_MAX_AGE`` (default 60 s, 0 turns this off) is used, so a
  change made by hand mid-deployment is seen within that time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from paas.aws import guard
from paas.domain.observed import ServiceState, StackState, TargetHealth
from paas.planner import steps as s

# steps after which the stack is described again (they change it, or what it must contain)
STACK_STEPS = (s.ApplyStack, s.ContinueStackRollback, s.AllocateRulePriorities, s.ReleaseRulePriorities)
WEIGHT_STEPS = (s.ShiftTraffic, s.RevertTrafficDrift)


def service_mark(svc: ServiceState) -> tuple:
    """What must be unchanged for confirmed target health to still hold."""
    return (svc.status, svc.task_definition, svc.desired, svc.running, svc.pending, svc.deployments, svc.events)


@dataclass
class Known:
    """What the pass in progress may reuse; `observe` reads what is missing and fills it in."""

    token: int = 0
    enqueued_at: datetime | None = None
    stack: tuple[float, StackState] | None = None  # (when read, on `clock`; settled stack)
    weights: dict[str, tuple[float, dict[str, int]]] = field(default_factory=dict)  # rule ARN →
    health: dict[str, tuple[float, tuple, TargetHealth]] = field(default_factory=dict)  # TG ARN →
    clock: Callable[[], float] = guard.now  # counts through a suspend, like leases
    failed: bool = False  # the pass ended in an error: nothing of it is kept
    kept_at: float = 0.0  # when the pass that saw this ended

    def stack_state(self) -> StackState | None:
        return self.stack[1] if self.stack else None

    def see_stack(self, st: StackState | None) -> None:
        settled = st is not None and st.usable and not st.in_progress and st.template_hash is not None
        self.stack = (self.clock(), st) if settled else None

    def rule_weights(self, rules: list[str]) -> dict[str, dict[str, int]] | None:
        """Every rule's weights, or None when one of them must be read."""
        if not all(r in self.weights for r in rules):
            return None
        return {r: dict(self.weights[r][1]) for r in rules}

    def see_weights(self, weights: dict[str, dict[str, int]]) -> None:
        at = self.clock()
        for rule, w in weights.items():
            self.weights[rule] = (at, dict(w))

    def target_health(self, tg: str, svc: ServiceState) -> TargetHealth | None:
        hit = self.health.get(tg)
        return hit[2] if hit is not None and hit[1] == service_mark(svc) else None

    def see_health(self, tg: str, svc: ServiceState, th: TargetHealth | None) -> None:
        if th is not None and svc.desired > 0 and th.healthy >= svc.desired and th.unhealthy == 0:
            self.health[tg] = (self.clock(), service_mark(svc), th)
        else:  # not confirmed: asked again next time
            self.health.pop(tg, None)

    def after_step(self, step: s.Step, call: Any) -> None:
        """Forget what the step changed; remember weights paas itself just set."""
        if isinstance(step, STACK_STEPS):
            self.stack = None
        if isinstance(step, WEIGHT_STEPS):
            if call is not None:
                self.weights[step.rule_arn] = (self.clock(), dict(step.weights))
            else:
                self.weights.pop(step.rule_arn, None)


class ObservationMemo:
    """One worker's `Known` per app+environment (thread-safe; passes of one key never overlap)."""

    def __init__(self, max_age: float, clock: Callable[[], float] = guard.now) -> None:
        self.max_age = max_age
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, Known] = {}

    def begin(self, claim: Any) -> Known:
        """What the pass of this claim may reuse (nothing unless the lease passed from us to us)."""
        with self._lock:
            entry = self._entries.pop(claim.key, None)
        known = Known(token=claim.token, enqueued_at=claim.enqueued_at, clock=self.clock)
        if entry is None or claim.rescued or entry.token + 1 != claim.token or self.max_age <= 0:
            return known
        now = self.clock()

        def fresh(at: float) -> bool:
            return now - at <= self.max_age

        if entry.stack is not None and fresh(entry.stack[0]):
            known.stack = entry.stack
        if entry.enqueued_at == claim.enqueued_at:  # nobody asked for anything since
            known.weights = {r: v for r, v in entry.weights.items() if fresh(v[0])}
        known.health = {tg: v for tg, v in entry.health.items() if fresh(v[0])}
        return known

    PRUNE_ABOVE = 256  # entries; past this, ones too old to be used are dropped as passes end

    def keep(self, claim: Any, known: Known) -> None:
        if self.max_age <= 0:
            return
        known.kept_at = self.clock()
        with self._lock:
            self._entries[claim.key] = known
            if len(self._entries) > self.PRUNE_ABOVE:  # apps now claimed by other workers
                limit = known.kept_at - self.max_age
                for key in [k for k, v in self._entries.items() if v.kept_at < limit]:
                    del self._entries[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
