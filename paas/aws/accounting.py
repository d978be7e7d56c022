"""AWS call accounting: every API call counted by operation, throttles counted separately.

Two levels, both fed by the same botocore event hooks:

* a process-wide counter (`snapshot()` / `reset()`), which the worker's Prometheus metrics read;
* a per-driver counter, selected through a context variable that `Api.call` sets around each
  call (clients are cached and shared between drivers, so the hook cannot be per driver).

Keys look like IAM actions: ``ecs:DescribeServices``, ``elasticloadbalancing:ModifyRule``,
``cloudformation:CreateStack``, ``cloudwatch:GetMetricData``.

A *call* is one logical API call (``before-call``: once per call, however many HTTP attempts
botocore's retry handler makes). A *throttle* is one HTTP attempt answered with a throttling
error (``needs-retry``: once per attempt, so throttles that botocore retried and recovered from
are counted too). A *refusal* is one HTTP attempt the send guard stopped because the worker's
lease may have expired (paas/aws/guard.py).
"""

from __future__ import annotations

import contextvars
import threading
from collections import Counter
from contextlib import contextmanager
from typing import Any, Iterator

# Error codes AWS uses for "slow down" (ECS/SSM/ECR: ThrottlingException; query protocols:
# Throttling; EC2: RequestLimitExceeded; API Gateway style: TooManyRequestsException).
THROTTLE_CODES = frozenset({
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "RequestThrottled",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
})

# boto3 client name → IAM action prefix (the name an operator greps CloudTrail / IAM for).
_IAM_PREFIX = {"elbv2": "elasticloadbalancing", "monitoring": "cloudwatch"}

# botocore service id, hyphenised as in event names → boto3 client name
SERVICE_IDS = {
    "ecs": "ecs", "elastic-load-balancing-v2": "elbv2", "cloudformation": "cloudformation",
    "cloudwatch": "cloudwatch", "ssm": "ssm", "ecr": "ecr", "sts": "sts",
    "secrets-manager": "secretsmanager", "cloudwatch-logs": "logs", "scheduler": "scheduler",
}


def operation_key(service: str, operation: str) -> str:
    """``ecs`` + ``DescribeServices`` → ``ecs:DescribeServices``."""
    return f"{_IAM_PREFIX.get(service, service)}:{operation}"


def key_from_event(event_name: str) -> str:
    """``before-send.elastic-load-balancing-v2.ModifyRule`` → ``elasticloadbalancing:ModifyRule``."""
    parts = event_name.split(".")
    if len(parts) < 3:
        return event_name
    return operation_key(SERVICE_IDS.get(parts[1], parts[1]), parts[2])


class CallCounter:
    """Thread-safe counts of calls, throttles and refused requests by operation key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._throttles: Counter[str] = Counter()
        self._refusals: Counter[str] = Counter()

    def add_call(self, key: str) -> None:
        with self._lock:
            self._calls[key] += 1

    def add_throttle(self, key: str) -> None:
        with self._lock:
            self._throttles[key] += 1

    def add_refusal(self, key: str) -> None:
        with self._lock:
            self._refusals[key] += 1

    def calls(self) -> dict[str, int]:
        with self._lock:
            return dict(self._calls)

    def refusals(self) -> dict[str, int]:
        with self._lock:
            return dict(self._refusals)

    def throttles(self) -> dict[str, int]:
        with self._lock:
            return dict(self._throttles)

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {"calls": dict(self._calls), "throttles": dict(self._throttles),
                    "refusals": dict(self._refusals)}

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._throttles.clear()
            self._refusals.clear()


_PROCESS = CallCounter()
_SEEN: set[str] = set()  # every operation this process ever sent; never reset (the IAM check uses it)
_current: contextvars.ContextVar[CallCounter | None] = contextvars.ContextVar(
    "paas_aws_call_counter", default=None)


def snapshot() -> dict[str, dict[str, int]]:
    """Process-wide counts: ``{"calls": {op: n}, "throttles": {op: n}, "refusals": {op: n}}``."""
    return _PROCESS.snapshot()


def reset() -> None:
    """Zero the process-wide counts (benchmarks, tests)."""
    _PROCESS.reset()


def operations_seen() -> set[str]:
    """Every operation key sent by this process since it started (not cleared by `reset`)."""
    return set(_SEEN)


@contextmanager
def counting_into(counter: CallCounter | None) -> Iterator[None]:
    """Also count the calls made inside this block into `counter` (per-driver counts)."""
    token = _current.set(counter)
    try:
        yield
    finally:
        _current.reset(token)


def _key_from_model(model: Any) -> str:
    return operation_key(model.service_model.service_name, model.name)


def _on_before_call(model: Any = None, **_: Any) -> None:
    if model is None:
        return
    key = _key_from_model(model)
    _SEEN.add(key)
    _PROCESS.add_call(key)
    c = _current.get()
    if c is not None:
        c.add_call(key)


def add_refusal(key: str) -> None:
    """Count one request the send guard refused (process-wide and into the current driver)."""
    _PROCESS.add_refusal(key)
    c = _current.get()
    if c is not None:
        c.add_refusal(key)


def is_throttle_response(response: Any) -> bool:
    """True for an (http_response, parsed) pair that is a throttling error."""
    if not response:
        return False
    http, parsed = response
    code = (parsed or {}).get("Error", {}).get("Code")
    if code in THROTTLE_CODES:
        return True
    return getattr(http, "status_code", None) == 429


def _on_needs_retry(response: Any = None, operation: Any = None, **_: Any) -> None:
    if operation is None or not is_throttle_response(response):
        return None
    key = _key_from_model(operation)
    _PROCESS.add_throttle(key)
    c = _current.get()
    if c is not None:
        c.add_throttle(key)
    return None  # never influence the retry decision


def install_accounting(events: Any) -> None:
    """Register the counting hooks on a client's (or session's) event emitter. Idempotent."""
    events.register("before-call", _on_before_call, unique_id="paas-accounting-call")
    events.register("needs-retry", _on_needs_retry, unique_id="paas-accounting-throttle")
