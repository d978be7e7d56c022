"""Simulated Application Load Balancer metrics, published into moto's CloudWatch.

No request is ever sent anywhere. Every ``period_seconds`` this module pretends that each
listener rule with a ``forward`` action (and each listener's default action, if it
forwards) received ``requests_per_second`` requests, splits them across the rule's target
groups by weight, and publishes what an ALB would report for each target group in the
``AWS/ApplicationELB`` namespace with dimensions ``TargetGroup`` (``targetgroup/<name>/<id>``)
and ``LoadBalancer`` (``app/<name>/<id>``):

* ``RequestCount`` (Count; read with Sum),
* ``HTTPCode_Target_5XX_Count`` (Count; read with Sum) from each target's image
  ``error_rate``,
* ``TargetResponseTime`` (Seconds; read with Average or pNN): a fixed-shape sample per
  period whose 99th percentile (nearest rank) is exactly the image's ``p99_ms``.

Simplifications, stated so nobody mistakes this for a traffic model:

* The rate is offered to every forwarding rule independently (one app route = one rule),
  not shared across rules by conditions.
* Only target groups with weight > 0 *and* at least one healthy target receive traffic;
  weights are renormalised over those (a real ALB would send some requests to a target
  group with no healthy targets and fail them, or fail open).
* Inside a target group requests are spread evenly over its healthy targets, each
  behaving per its own task's image profile (so a rolling update mixes profiles).
* Counts are whole numbers carried between periods (no randomness): over N periods the
  sums match rate x time x weight within one request.
* Like AWS, a metric with no data is not reported: no traffic -> no datapoints at all,
  zero 5xx -> no ``HTTPCode_Target_5XX_Count`` datapoint. Gates must treat "no data" as
  inconclusive, not as zero.
* Only the (TargetGroup, LoadBalancer) dimension set is published.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Callable

from .profiles import DEFAULT_PROFILE, Profile

NAMESPACE = "AWS/ApplicationELB"
_Z99 = NormalDist().inv_cdf(0.99)
_SIGMA = 0.5  # log-normal shape of the fake latency distribution


def load_balancer_dimension(load_balancer_arn: str) -> str:
    """``arn:...:loadbalancer/app/name/id`` -> ``app/name/id``."""
    return load_balancer_arn.split(":loadbalancer/", 1)[-1]


def target_group_dimension(target_group_arn: str) -> str:
    """``arn:...:targetgroup/name/id`` -> ``targetgroup/name/id``."""
    return target_group_arn.rsplit(":", 1)[-1]


def latency_sample_seconds(p99_ms: float, k: int) -> list[float]:
    """``k`` response times (seconds) whose nearest-rank p99 is exactly ``p99_ms``.

    Below the p99 rank the values follow log-normal quantiles scaled to sit under p99;
    the rank itself is p99_ms; the tail above it is up to 25 % slower. Because every
    batch has the same shape, any union of whole batches keeps p99 == p99_ms.
    """
    k = max(1, int(k))
    p99 = p99_ms / 1000.0
    rank = max(1, math.ceil(0.99 * k))
    below = rank - 1
    out: list[float] = []
    for i in range(below):
        q = 0.99 * (i + 0.5) / below
        out.append(p99 * math.exp(_SIGMA * (NormalDist().inv_cdf(q) - _Z99)))
    out.append(p99)
    tail = k - rank
    for i in range(tail):
        out.append(p99 * (1.0 + 0.25 * (i + 1) / tail))
    return out


def forward_targets(action: Any) -> list[tuple[str, int]]:
    """(target group arn, weight) pairs of a moto ELBv2 forward action, else []."""
    data = getattr(action, "data", None) or {}
    if (data.get("Type") or getattr(action, "type", None)) != "forward":
        return []
    groups = (data.get("ForwardConfig") or {}).get("TargetGroups") or []
    if groups:
        return [(g["TargetGroupArn"], int(g.get("Weight", 1) or 0)) for g in groups if g.get("TargetGroupArn")]
    if data.get("TargetGroupArn"):
        return [(data["TargetGroupArn"], 1)]
    return []


@dataclass(frozen=True)
class MetricSettings:
    requests_per_second: float = 50.0
    period_seconds: float = 1.0
    latency_samples_per_period: int = 100
    retention_seconds: float = 900.0


class AlbMetricsPublisher:
    """Keeps the fractional-request carry between periods and publishes each period."""

    def __init__(self, settings: MetricSettings) -> None:
        self.settings = settings
        self._last: float | None = None
        self._request_carry: dict[tuple[str, str, str], float] = {}
        self._error_carry: dict[tuple[str, str], float] = {}
        self._last_prune = 0.0

    def maybe_publish(
        self,
        elbv2: Any,
        cloudwatch: Any,
        healthy_profiles: Callable[[str], list[Profile]],
        now: float,
    ) -> bool:
        """Publish one period's datapoints if a period has elapsed. Returns whether it did.

        ``healthy_profiles(tg_arn)`` gives one profile per healthy target of the group.
        """
        if self._last is not None and now - self._last < self.settings.period_seconds:
            return False
        elapsed = self.settings.period_seconds if self._last is None else now - self._last
        self._last = now
        self._prune(cloudwatch, now)
        rps = self.settings.requests_per_second
        if rps <= 0 or elbv2 is None or cloudwatch is None:
            return True

        # (lb arn, tg arn) -> requests this period
        requests: dict[tuple[str, str], int] = {}
        profiles_cache: dict[str, list[Profile]] = {}

        def profiles_of(tg_arn: str) -> list[Profile]:
            if tg_arn not in profiles_cache:
                profiles_cache[tg_arn] = healthy_profiles(tg_arn)
            return profiles_cache[tg_arn]

        for lb in list(elbv2.load_balancers.values()):
            for listener in list(lb.listeners.values()):
                for rule in list(listener.rules.values()):
                    for action in rule.actions or []:
                        pairs = [(tg, w) for tg, w in forward_targets(action) if w > 0 and profiles_of(tg)]
                        total = sum(w for _, w in pairs)
                        for tg_arn, weight in pairs:
                            key = (rule.arn, tg_arn, lb.arn)
                            carry = self._request_carry.get(key, 0.0) + rps * elapsed * weight / total
                            n = math.floor(carry)
                            self._request_carry[key] = carry - n
                            if n:
                                requests[(lb.arn, tg_arn)] = requests.get((lb.arn, tg_arn), 0) + n

        timestamp = dt.datetime.fromtimestamp(now, dt.timezone.utc).replace(tzinfo=None)
        data: list[dict[str, Any]] = []
        for (lb_arn, tg_arn), n in requests.items():
            profiles = profiles_of(tg_arn) or [DEFAULT_PROFILE]
            dims = [
                {"Name": "TargetGroup", "Value": target_group_dimension(tg_arn)},
                {"Name": "LoadBalancer", "Value": load_balancer_dimension(lb_arn)},
            ]
            data.append({"MetricName": "RequestCount", "Dimensions": dims, "Value": float(n),
                         "Unit": "Count", "Timestamp": timestamp})
            error_rate = sum(p.error_rate for p in profiles) / len(profiles)
            carry = self._error_carry.get((lb_arn, tg_arn), 0.0) + n * error_rate
            errors = min(n, math.floor(carry + 1e-9))
            self._error_carry[(lb_arn, tg_arn)] = carry - errors
            if errors:
                data.append({"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dims,
                             "Value": float(errors), "Unit": "Count", "Timestamp": timestamp})
            samples: list[float] = []
            k = max(1, self.settings.latency_samples_per_period // len(profiles))
            for p in profiles:
                samples.extend(latency_sample_seconds(p.p99_ms, k))
            data.append({"MetricName": "TargetResponseTime", "Dimensions": dims, "Values": samples,
                         "Unit": "Seconds", "Timestamp": timestamp})
        if data:
            cloudwatch.put_metric_data(NAMESPACE, data)
        return True

    def _prune(self, cloudwatch: Any, now: float) -> None:
        """Drop our own datapoints older than the retention (moto keeps everything forever
        and scans it linearly on every GetMetricData)."""
        if cloudwatch is None or now - self._last_prune < 10.0:
            return
        self._last_prune = now
        cutoff = dt.datetime.fromtimestamp(now - self.settings.retention_seconds, dt.timezone.utc).replace(tzinfo=None)
        cloudwatch.metric_data = [
            m for m in cloudwatch.metric_data if not (m.namespace == NAMESPACE and m.timestamp < cutoff)
        ]
