"""The one place that decides what happens after a pass: retry, stop, or come back later.

- Waiting (AWS converging, a bake window): come back after the wait; not an error.
- Transient errors (throttling, 5xx, timeouts): back off with jitter and retry; a deployment
  still failing so at its rollout deadline fails with the error recorded.
- Permanent errors (access denied, a request AWS rejects): the deployment fails at once.
- Unexpected errors (a bug, poison data): a transient error that counts: after
  `MAX_UNEXPECTED` consecutive attempts the deployment fails with it recorded.
- Whatever the error, a deployment someone asked to cancel or abort ends `cancelled` at once,
  with the error noted: a cancel always wins at the next pass.
- A steady app (nothing in flight) whose AWS side errors keeps being looked at, ever less often.
Nothing stays in progress forever.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from paas.domain.errors import LeaseLost, PermanentError, TransientError
from paas.planner import steps as s
from paas.planner.desired import Desired, Policy

IDLE_BACKSTOP = 3600.0  # a converged app is looked at again within the hour even with no request
MAX_UNEXPECTED = 5  # consecutive unexpected failures before a deployment is failed with the error
BACKOFF_CAP = 60.0


@dataclass(frozen=True)
class Outcome:
    after: float  # seconds until the app+environment is due again
    ok: bool  # False: counts as a failed attempt (backoff grows)
    error: str | None = None
    steps: int = 0  # steps applied in this pass
    lease_lost: bool = False
    end_deployment: str | None = None  # end the deployment in flight: 'failed' or 'cancelled'
    end_reason: str | None = None


def backoff(attempts: int, base: float = 0.5, cap: float = BACKOFF_CAP) -> float:
    """Exponential with full jitter, so many workers retrying a throttled account spread out."""
    return random.uniform(base, min(cap, base * (2 ** max(0, attempts - 1))))


def after_step(step: s.Step, applied: int) -> Outcome:
    """A pass that stopped at a Wait or Idle (or ran out of steps to apply in one pass)."""
    if isinstance(step, s.Wait):
        return Outcome(after=max(0.05, step.seconds), ok=True, steps=applied)
    if isinstance(step, s.Idle):
        return Outcome(after=step.seconds or IDLE_BACKSTOP, ok=True, steps=applied)
    return Outcome(after=0.0, ok=True, steps=applied)


def _describe(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")[:500]


def after_error(e: BaseException, d: Desired | None, attempts: int, policy: Policy, now: datetime,
                applied: int = 0) -> Outcome:
    """What an error in a pass means for the app+environment and its deployment in flight."""
    if isinstance(e, LeaseLost):
        return Outcome(after=0.0, ok=False, error=str(e), steps=applied, lease_lost=True)
    dep = d.active if d is not None else None
    message = str(e) if isinstance(e, (PermanentError, TransientError)) else _describe(e)
    retry = max(getattr(e, "delay", 0.0), backoff(attempts))
    if dep is None:
        # Nothing in flight: keep looking, ever less often.
        return Outcome(after=max(policy.poll_interval, retry), ok=False, error=message, steps=applied)
    if dep.cancel_requested or dep.abort_requested:
        verb = "cancelled" if dep.cancel_requested else "aborted"
        return Outcome(after=policy.poll_interval, ok=True, error=message, steps=applied,
                       end_deployment="cancelled",
                       end_reason=f"{verb} while its AWS steps failed ({message}); nothing more was changed on AWS")
    if isinstance(e, PermanentError):
        return Outcome(after=policy.poll_interval, ok=True, error=message, steps=applied, end_deployment="failed",
                       end_reason=message)
    started = dep.started_at or dep.created_at
    past_deadline = (now - started).total_seconds() > policy.rollout_deadline
    if past_deadline or (not isinstance(e, TransientError) and attempts >= MAX_UNEXPECTED):
        why = (f"still failing at the {policy.rollout_deadline:.0f}s deadline" if past_deadline
               else f"failed {attempts} times in a row")
        return Outcome(after=policy.poll_interval, ok=True, error=message, steps=applied, end_deployment="failed",
                       end_reason=f"{message} ({why})")
    return Outcome(after=retry, ok=False, error=message, steps=applied)
