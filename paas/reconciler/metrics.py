"""Prometheus metrics a worker exposes (`paas worker --metrics-port`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import REGISTRY, Collector

DEPLOYMENTS = Counter("paas_deployments_total", "Deployments finished, by outcome", ["outcome"])
RECONCILE_SECONDS = Histogram("paas_reconcile_seconds", "Duration of one reconcile pass",
                              buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
STEPS = Counter("paas_steps_total", "Steps applied, by kind", ["step"])
QUEUE_DEPTH = Gauge("paas_queue_depth", "App+environments due and not leased")
QUEUE_AGE = Gauge("paas_queue_oldest_age_seconds", "Age of the oldest due work item")
LEASE_RESCUES = Counter("paas_lease_rescues_total", "Expired leases taken over from another worker")
LEASES_LOST = Counter("paas_leases_lost_total", "Passes abandoned because the lease was lost")
NOTIFICATIONS = Counter("paas_notifications_total", "Notification delivery attempts, by result "
                        "(delivered, retry, dead, lease_lost, dropped)", ["result"])
NOTIFY_SECONDS = Histogram("paas_notify_request_seconds", "Duration of one webhook request",
                           buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
ERRORS = Counter("paas_reconcile_errors_total", "Passes that ended in an error", ["kind"])


class AwsCallCollector(Collector):
    """AWS calls and throttles by operation, read from the driver's process-wide accounting."""

    def collect(self):
        try:
            from paas.aws.accounting import snapshot
        except ImportError:  # pragma: no cover
            return
        snap = snapshot()
        calls = CounterMetricFamily("paas_aws_calls", "AWS API calls by operation", labels=["operation"])
        for op, n in sorted(snap.get("calls", {}).items()):
            calls.add_metric([op], n)
        yield calls
        thr = CounterMetricFamily("paas_aws_throttles", "AWS throttling responses by operation", labels=["operation"])
        for op, n in sorted(snap.get("throttles", {}).items()):
            thr.add_metric([op], n)
        yield thr


_registered = False


def register_aws_collector() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(AwsCallCollector())
        _registered = True
