"""Simulated Application Load Balancer metrics, published into moto's CloudWatch.

No request is ever sent anywhere. Each forwarding listener rule stands for one population of
clients sending ``requests_per_second`` requests that match the rule's own conditions
(``routing.example_request``; the listener's default action, if it forwards, gets clients
that match no rule). Every request is routed like an ALB routes it: through the listener's
rules in priority order, first match wins (``routing``), so a rule shadowed by a broader
rule at a lower priority gets no traffic, and neither do its target groups. The winning
rule's forward action splits the requests across its target groups by weight.

What an ALB would report is published per target group in the ``AWS/ApplicationELB``
namespace with dimensions ``TargetGroup`` (``targetgroup/<name>/<id>``) and ``LoadBalancer``
(``app/<name>/<id>``):

* ``RequestCount`` (Count; read with Sum),
* ``HTTPCode_Target_5XX_Count`` (Count; read with Sum) from each target's image ``error_rate``,
* ``TargetResponseTime`` (Seconds; read with Average or pNN): fixed-shape samples whose
  99th percentile (nearest rank) is exactly the image's ``p99_ms``.

Periods and lateness, as on AWS: traffic is counted into periods of ``period_seconds``
aligned to the clock (60 s on AWS; smaller in tests), and a datapoint carries its period's
start as timestamp. Nothing of a period is visible while it runs; after it ends, each ALB
node (one per subnet of the load balancer) reports its share of the period at its own lag,
the last one ``delay_seconds`` after the period's end. So the newest minute is missing, then
partial, then complete, as a reader of real ALB metrics sees it. Time is ``paas.clock``'s,
so a warped clock (rate 30) passes a 60 s period in 2 s.

Simplifications, stated so nobody mistakes this for a traffic model:

* Only target groups with weight > 0 *and* at least one healthy target receive traffic;
  weights are renormalised over those (a real ALB fails open to unhealthy targets when a
  group has no healthy one).
* Inside a target group requests are spread evenly over its healthy targets, each behaving
  per its own task's image profile (so a rolling update mixes profiles).
* Counts are whole numbers carried between periods (no randomness): over N periods the
  sums match rate x time x weight within one request.
* Like AWS, a metric with no data is not reported: no traffic -> no datapoints at all,
  zero 5xx -> no ``HTTPCode_Target_5XX_Count`` datapoint. Gates must treat "no data" as
  inconclusive, not as zero.
* Only the (TargetGroup, LoadBalancer) dimension set is published.
* ``route_by_rules=False`` (a data-plane setting) turns routing off: every forwarding rule
  then gets its own clients and nothing is shadowed. Kinder than AWS, for suites whose apps
  all share one catch-all route on one listener.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Callable

from .profiles import DEFAULT_PROFILE, Profile
from .routing import Request, Rule, example_request, route

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
    delay_seconds: float = 0.0  # the last ALB node's share of a period arrives this long after it ends
    # False: every forwarding rule gets its own clients, no shadowing (kinder than AWS; only
    # for suites whose apps all share one catch-all route on one listener)
    route_by_rules: bool = True


@dataclass
class _Bucket:
    """One target group's traffic in one period, as it accrues."""

    requests: float = 0.0
    errors: float = 0.0
    profiles: tuple[Profile, ...] = ()


def _priority(rule: Any) -> int | None:
    if getattr(rule, "is_default", False) or rule.priority in (None, "default"):
        return None
    return int(rule.priority)


def listener_routes(listener: Any, default_host: str, by_rules: bool = True) -> list[list[tuple[str, int]]]:
    """One entry per client population of ``listener``: the forward pairs its requests reach."""
    rules = [r for r in listener.rules.values()]
    if not by_rules:
        return [pairs for r in rules if (pairs := [p for a in r.actions or [] for p in forward_targets(a)])]
    routable = [Rule(r.arn, _priority(r), tuple(r.conditions or ())) for r in rules]
    by_key = {r.arn: r for r in rules}
    out = []
    for rule in rules:
        if not any(forward_targets(a) for a in rule.actions or []):
            continue
        req = Request(default_host, "/__paas_devstack_unrouted__") if _priority(rule) is None \
            else example_request(rule.conditions or (), default_host)
        winner = route(routable, req)
        pairs: list[tuple[str, int]] = []
        if winner is not None:
            for action in by_key[winner.key].actions or []:
                pairs.extend(forward_targets(action))
        out.append(pairs)
    return out


class AlbMetricsPublisher:
    """Accrues simulated traffic every tick; publishes each period late, node by node."""

    def __init__(self, settings: MetricSettings) -> None:
        self.settings = settings
        self._last: float | None = None
        self._buckets: dict[tuple[float, str, str], _Bucket] = {}  # (period start, lb arn, tg arn)
        self._pending: list[tuple[float, float, str, str, int, int, tuple[Profile, ...], int]] = []
        self._request_carry: dict[tuple[str, str], float] = {}
        self._error_carry: dict[tuple[str, str], float] = {}
        self._routes: dict[str, tuple[Any, list[list[tuple[str, int]]]]] = {}
        self._last_prune = 0.0

    def _period_start(self, t: float) -> float:
        p = self.settings.period_seconds
        return math.floor(t / p + 1e-9) * p

    def _routes_of(self, listener: Any, default_host: str) -> list[list[tuple[str, int]]]:
        signature = (self.settings.route_by_rules,
                     *((r.arn, str(r.priority), repr(r.conditions), repr([a.data for a in r.actions or []]))
                       for r in listener.rules.values()))
        cached = self._routes.get(listener.arn)
        if cached is None or cached[0] != signature:
            cached = (signature, listener_routes(listener, default_host, self.settings.route_by_rules))
            self._routes[listener.arn] = cached
        return cached[1]

    def _accrue(self, elbv2: Any, healthy_profiles: Callable[[str], list[Profile]], start: float, end: float) -> None:
        rps = self.settings.requests_per_second
        if rps <= 0 or end <= start:
            return
        profiles_cache: dict[str, list[Profile]] = {}

        def profiles_of(tg_arn: str) -> list[Profile]:
            if tg_arn not in profiles_cache:
                profiles_cache[tg_arn] = healthy_profiles(tg_arn)
            return profiles_cache[tg_arn]

        shares: dict[tuple[str, str], float] = {}  # (lb, tg) -> requests per second
        for lb in list(elbv2.load_balancers.values()):
            host = getattr(lb, "dns_name", None) or "devstack.invalid"
            for listener in list(lb.listeners.values()):
                for pairs in self._routes_of(listener, host):
                    live = [(tg, w) for tg, w in pairs if w > 0 and profiles_of(tg)]
                    total = sum(w for _, w in live)
                    for tg_arn, weight in live:
                        shares[(lb.arn, tg_arn)] = shares.get((lb.arn, tg_arn), 0.0) + rps * weight / total
        t = start
        while t < end:  # split the interval at period boundaries
            period = self._period_start(t)
            upto = min(end, period + self.settings.period_seconds)
            for (lb_arn, tg_arn), per_second in shares.items():
                profiles = tuple(profiles_of(tg_arn)) or (DEFAULT_PROFILE,)
                b = self._buckets.setdefault((period, lb_arn, tg_arn), _Bucket())
                n = per_second * (upto - t)
                b.requests += n
                b.errors += n * sum(p.error_rate for p in profiles) / len(profiles)
                b.profiles = profiles
            t = upto

    def _close_periods(self, elbv2: Any, now: float) -> None:
        """Turn every finished period into per-node shares due at staggered lags."""
        p, delay = self.settings.period_seconds, self.settings.delay_seconds
        for key in sorted(k for k in self._buckets if k[0] + p <= now + 1e-9):
            period, lb_arn, tg_arn = key
            b = self._buckets.pop(key)
            carry_key = (lb_arn, tg_arn)
            total = b.requests + self._request_carry.get(carry_key, 0.0)
            n = math.floor(total + 1e-9)
            self._request_carry[carry_key] = total - n
            err_total = b.errors + self._error_carry.get(carry_key, 0.0)
            errors = min(n, math.floor(err_total + 1e-9))
            self._error_carry[carry_key] = err_total - errors
            if n == 0:
                continue
            lb = elbv2.load_balancers.get(lb_arn) if elbv2 is not None else None
            nodes = max(1, len(getattr(lb, "subnets", None) or [None]))
            for i in range(nodes):  # node i reports its share (i+1)/nodes of the delay late
                share_n = n * (i + 1) // nodes - n * i // nodes
                share_e = errors * (i + 1) // nodes - errors * i // nodes
                if share_n:
                    due = period + p + delay * (i + 1) / nodes
                    self._pending.append((due, period, lb_arn, tg_arn, share_n, share_e, b.profiles, nodes))

    def maybe_publish(
        self,
        elbv2: Any,
        cloudwatch: Any,
        healthy_profiles: Callable[[str], list[Profile]],
        now: float,
    ) -> bool:
        """Account traffic up to ``now`` and publish what has arrived. Returns whether it published.

        ``healthy_profiles(tg_arn)`` gives one profile per healthy target of the group.
        """
        if elbv2 is None or cloudwatch is None:
            return False
        if self._last is not None and now > self._last:
            self._accrue(elbv2, healthy_profiles, self._last, now)
        self._last = now if self._last is None else max(self._last, now)
        self._close_periods(elbv2, now)
        self._prune(cloudwatch, now)
        due = [x for x in self._pending if x[0] <= now]
        if not due:
            return False
        self._pending = [x for x in self._pending if x[0] > now]
        data: list[dict[str, Any]] = []
        for _, period, lb_arn, tg_arn, n, errors, profiles, nodes in due:
            timestamp = dt.datetime.fromtimestamp(period, dt.timezone.utc).replace(tzinfo=None)
            dims = [
                {"Name": "TargetGroup", "Value": target_group_dimension(tg_arn)},
                {"Name": "LoadBalancer", "Value": load_balancer_dimension(lb_arn)},
            ]
            data.append({"MetricName": "RequestCount", "Dimensions": dims, "Value": float(n),
                         "Unit": "Count", "Timestamp": timestamp})
            if errors:
                data.append({"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dims,
                             "Value": float(errors), "Unit": "Count", "Timestamp": timestamp})
            samples: list[float] = []
            k = max(1, self.settings.latency_samples_per_period // (len(profiles) * nodes))  # whole batches
            for prof in profiles:
                samples.extend(latency_sample_seconds(prof.p99_ms, k))
            data.append({"MetricName": "TargetResponseTime", "Dimensions": dims, "Values": samples,
                         "Unit": "Seconds", "Timestamp": timestamp})
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
