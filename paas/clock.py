"""The clock workers and the dev stack share.

Real time unless `PAAS_CLOCK_RATE` is set: then time runs `rate` times faster from
`PAAS_CLOCK_EPOCH` (unix seconds), so 60-second metric periods and bake windows pass in
seconds in tests and the demo while every duration keeps its production value.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone


def _warp() -> tuple[float, float] | None:
    rate = os.environ.get("PAAS_CLOCK_RATE")
    if not rate:
        return None
    return float(os.environ.get("PAAS_CLOCK_EPOCH", "0")), float(rate)


def time_s() -> float:
    """Seconds since the epoch, warped when asked."""
    real = time.time()
    w = _warp()
    return real if w is None else w[0] + (real - w[0]) * w[1]


def now() -> datetime:
    return datetime.fromtimestamp(time_s(), timezone.utc)


def monotonic() -> float:
    return time.monotonic()
