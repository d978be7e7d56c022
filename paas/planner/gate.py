"""The canary metric gate: pure judgement over CloudWatch samples.

Too few requests or datapoints is *inconclusive*, never a pass: a canary that received no
traffic has proven nothing. A breach of any threshold fails the gate at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from paas.domain.manifest import StrategyDefaults
from paas.domain.observed import MetricWindow


@dataclass(frozen=True)
class Verdict:
    verdict: str  # pass | breach | inconclusive
    reasons: tuple[str, ...]
    canary: dict
    stable: dict | None
    thresholds: dict

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "reasons": list(self.reasons), "canary": self.canary,
                "stable": self.stable, "thresholds": self.thresholds}


def evaluate(canary: MetricWindow | None, stable: MetricWindow | None, t: StrategyDefaults,
             min_datapoints: int = 2) -> Verdict:
    thresholds = {"max_5xx_rate": t.max_5xx_rate, "max_p99_ms": t.max_p99_ms, "max_p99_ratio": t.max_p99_ratio,
                  "min_requests": t.min_requests, "min_datapoints": min_datapoints}
    c = asdict(canary) if canary else None
    s = asdict(stable) if stable else None
    if canary is None or canary.datapoints < min_datapoints or canary.requests < max(1, t.min_requests):
        got = "no datapoints" if canary is None else f"{canary.requests:.0f} requests in {canary.datapoints} datapoints"
        return Verdict("inconclusive", (f"not enough traffic yet: {got}",), c or {}, s, thresholds)
    reasons = []
    rate = canary.error_rate or 0.0
    if rate > t.max_5xx_rate:
        reasons.append(f"5xx rate {rate:.2%} > {t.max_5xx_rate:.2%}")
    if canary.p99_ms is not None and canary.p99_ms > t.max_p99_ms:
        reasons.append(f"p99 {canary.p99_ms:.0f} ms > {t.max_p99_ms:.0f} ms")
    if (canary.p99_ms is not None and stable is not None and stable.p99_ms
            and canary.p99_ms / stable.p99_ms > t.max_p99_ratio):
        reasons.append(f"p99 {canary.p99_ms:.0f} ms is {canary.p99_ms / stable.p99_ms:.1f}× stable's "
                       f"{stable.p99_ms:.0f} ms > {t.max_p99_ratio:.1f}×")
    if reasons:
        return Verdict("breach", tuple(reasons), c, s, thresholds)
    return Verdict("pass", (f"5xx rate {rate:.2%}, p99 {canary.p99_ms or 0:.0f} ms within thresholds",),
                   c, s, thresholds)
