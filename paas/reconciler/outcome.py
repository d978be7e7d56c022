"""The one place that decides what happens after a pass: retry, stop, or come back later."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    after: float  # seconds until the app+environment is due again
    ok: bool  # False: counts as a failed attempt (backoff grows)
    error: str | None = None
    steps: int = 0  # steps applied in this pass
    lease_lost: bool = False


def backoff(attempts: int, base: float = 0.5, cap: float = 60.0) -> float:
    """Exponential with full jitter, so many workers retrying a throttled account spread out."""
    return random.uniform(base, min(cap, base * (2 ** max(0, attempts - 1))))


IDLE_BACKSTOP = 3600.0  # a converged app is looked at again within the hour even with no request
