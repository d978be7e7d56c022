"""Per-account API rate limits for the emulator, answered the way AWS answers them.

moto serves every request however fast it comes; AWS does not. ECS (and the other services
paas calls) throttle each account per Region with token buckets, one per family of API
actions: the bucket size is the burst, the refill rate the sustained rate, and a request that
finds its bucket empty is refused with HTTP 400 ``ThrottlingException`` ("Rate exceeded";
query-protocol services say ``Throttling``). This module puts the same buckets in front of the
emulator so a fleet of workers meets the account budget it would meet on AWS.

Rates (``DEFAULT_LIMITS``; burst / sustained per second). Source: "Request throttling for the
Amazon ECS API", https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html
(token bucket per account and Region; cluster read actions e.g. DescribeClusters: bucket 50;
RegisterTaskDefinition/DeregisterTaskDefinition: 20 burst, 1/s sustained, as quoted in
aws-actions/amazon-ecs-deploy-task-definition#502). The remaining families use the same page's
order of magnitude for reads (50 / 20) and writes (50 / 5); ELBv2, CloudFormation and CloudWatch
publish no per-action numbers (their quotas are adjustable in Service Quotas), so they get the
conservative read / write pair too. Every number is a setting: ``RateLimits.parse``.
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

# family -> (burst, sustained per second)
DEFAULT_LIMITS: dict[str, tuple[float, float]] = {
    "ecs-read": (50.0, 20.0),           # Describe*/List* (clusters, services, tasks, task definitions)
    "ecs-service-write": (50.0, 5.0),   # CreateService, UpdateService, DeleteService
    "ecs-taskdef-write": (20.0, 1.0),   # RegisterTaskDefinition, DeregisterTaskDefinition
    "ecs-task-write": (100.0, 20.0),    # RunTask, StopTask, tags
    "elbv2-read": (50.0, 20.0),
    "elbv2-write": (50.0, 5.0),
    "cloudformation-read": (50.0, 20.0),
    "cloudformation-write": (50.0, 5.0),
    "cloudwatch-read": (50.0, 20.0),
    "other-read": (50.0, 20.0),
    "other-write": (50.0, 5.0),
}

_READ_PREFIXES = ("Describe", "List", "Get", "BatchGet", "Lookup")
_SERVICES = {"ecs", "elasticloadbalancing", "cloudformation", "monitoring"}


def family(service: str, operation: str) -> str:
    """The bucket an operation draws from (``ecs``/``DescribeServices`` -> ``ecs-read``)."""
    read = operation.startswith(_READ_PREFIXES)
    if service == "ecs":
        if read:
            return "ecs-read"
        if operation in ("CreateService", "UpdateService", "DeleteService"):
            return "ecs-service-write"
        if operation in ("RegisterTaskDefinition", "DeregisterTaskDefinition", "DeleteTaskDefinitions"):
            return "ecs-taskdef-write"
        return "ecs-task-write"
    name = {"elasticloadbalancing": "elbv2", "monitoring": "cloudwatch"}.get(service, service)
    if name not in ("elbv2", "cloudformation", "cloudwatch"):
        name = "other"
    return f"{name}-{'read' if read or name == 'cloudwatch' else 'write'}"


@dataclass
class _Bucket:
    burst: float
    rate: float
    tokens: float
    stamp: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RateLimits:
    """The account's buckets; ``allow(service, op)`` takes a token or says no. Thread-safe."""

    def __init__(self, limits: dict[str, tuple[float, float]] | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self._clock = clock
        self._lock = threading.Lock()
        now = clock()
        self._buckets = {f: _Bucket(b, r, b, now) for f, (b, r) in self.limits.items()}
        self.allowed: dict[str, int] = {}
        self.throttled: dict[str, int] = {}

    @classmethod
    def parse(cls, text: str, scale: float = 1.0) -> "RateLimits":
        """``family=burst/rate,...`` over the defaults; ``scale`` multiplies every number."""
        limits = dict(DEFAULT_LIMITS)
        for part in (p.strip() for p in text.split(",") if p.strip()):
            name, sep, val = part.partition("=")
            burst, slash, rate = val.partition("/")
            if not sep or not slash or name.strip() not in DEFAULT_LIMITS:
                raise ValueError(f"rate limit {part!r}: expected FAMILY=BURST/RATE, families: "
                                 f"{', '.join(DEFAULT_LIMITS)}")
            limits[name.strip()] = (float(burst), float(rate))
        return cls({f: (b * scale, r * scale) for f, (b, r) in limits.items()})

    def allow(self, service: str, operation: str) -> bool:
        fam = family(service, operation)
        with self._lock:
            bucket = self._buckets.get(fam)
            ok = bucket is None or bucket.take(self._clock())
            counts = self.allowed if ok else self.throttled
            key = f"{service}:{operation}"
            counts[key] = counts.get(key, 0) + 1
        return ok

    def take_counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """(allowed, throttled) by operation since the last call."""
        with self._lock:
            out = (self.allowed, self.throttled)
            self.allowed, self.throttled = {}, {}
        return out


def aws_operation(environ: dict) -> tuple[str, str, str, bytes | None]:
    """(service, operation, protocol, body read) of a signed AWS request: the service from the
    credential scope, the operation from X-Amz-Target, the rpc-v2-cbor path or the query's
    Action ("?" when none). A body read here must be put back for the app behind."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    service = "?"
    if "Credential=" in auth:
        try:
            service = auth.split("Credential=", 1)[1].split("/")[3]
        except IndexError:
            pass
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return service, target.rsplit(".", 1)[-1], "json", None
    path = environ.get("PATH_INFO", "")
    if "/operation/" in path:
        return service, path.rsplit("/", 1)[-1], "cbor", None
    body = None
    try:
        n = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        n = 0
    if n:
        body = environ["wsgi.input"].read(n)
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    if not action and body and b"Action=" in body:
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
    return service, (action[0] if action else "?"), "query", body


def _cbor_text(s: str) -> bytes:
    b = s.encode()
    return (bytes([0x60 | len(b)]) if len(b) < 24 else bytes([0x78, len(b)])) + b


def _throttle_response(protocol: str) -> tuple[str, list[tuple[str, str]], bytes]:
    rid = str(uuid.uuid4())
    if protocol == "json":
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1")]
    elif protocol == "cbor":
        body = bytes([0xA2]) + _cbor_text("__type") + _cbor_text("ThrottlingException") + \
            _cbor_text("message") + _cbor_text("Rate exceeded")
        headers = [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
    else:
        body = ("<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded"
                f"</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>").encode()
        headers = [("Content-Type", "text/xml")]
    headers += [("x-amzn-RequestId", rid), ("Content-Length", str(len(body)))]
    return "400 Bad Request", headers, body


class ThrottledApp:
    """WSGI middleware: requests to a throttled service whose bucket is empty get AWS's answer."""

    def __init__(self, app: Any, limits: RateLimits) -> None:
        self.app = app
        self.limits = limits

    @classmethod
    def install(cls, emulator: Any, limits: RateLimits) -> "ThrottledApp":
        """Put the limits in front of a running emulator (outermost, so counters see the 400s)."""
        server = emulator._server
        wrapped = cls(server.app, limits)
        server.app = wrapped
        return wrapped

    def __call__(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        service, op, protocol, body = aws_operation(environ)
        if body is not None:
            environ["wsgi.input"] = io.BytesIO(body)
        if service in _SERVICES and not self.limits.allow(service, op):
            status, headers, payload = _throttle_response(protocol)
            start_response(status, headers)
            return [payload]
        return self.app(environ, start_response)
