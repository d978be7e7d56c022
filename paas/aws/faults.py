"""Fault injection at the botocore layer, for tests and chaos drills.

A ``before-send`` handler answers a fraction of HTTP attempts itself, before anything goes on the
wire, with a response shaped exactly like AWS's for the service's protocol (JSON, query XML or
Smithy RPCv2 CBOR), or raises a botocore timeout. Everything above it is real: botocore parses
the error, the `standard` retry mode decides to retry (with its backoff and retry quota), the
accounting hooks count the throttles, and the driver maps what finally comes out.

Spec (``PAAS_AWS_FAULTS`` or the ``faults`` argument of ``make_driver``), comma separated::

    throttle=0.3      30% of attempts → HTTP 400 ThrottlingException / Throttling
    5xx=0.1           10% → HTTP 500 InternalFailure
    timeout=0.05      5%  → ReadTimeoutError / ConnectTimeoutError raised from the send
    denied=1          100% → HTTP 400 AccessDeniedException / AccessDenied (not retried)
    seed=1            make the choices repeatable
    ops=ecs:CreateService|ecs:RegisterTaskDefinition
                      only inject into these operations (default: all)

Faults are drawn once per attempt, in the order denied, throttle, 5xx, timeout.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

from paas.aws.accounting import key_from_event
from paas.domain.errors import UserError

ENV_VAR = "PAAS_AWS_FAULTS"


@dataclass(frozen=True)
class FaultSpec:
    throttle: float = 0.0
    server_error: float = 0.0
    timeout: float = 0.0
    denied: float = 0.0
    seed: int | None = None
    ops: frozenset[str] | None = None

    @property
    def active(self) -> bool:
        return any((self.throttle, self.server_error, self.timeout, self.denied))

    @classmethod
    def parse(cls, text: str) -> "FaultSpec":
        kw: dict[str, Any] = {}
        names = {"throttle": "throttle", "5xx": "server_error", "timeout": "timeout",
                 "denied": "denied"}
        for part in (p.strip() for p in text.replace(";", ",").split(",")):
            if not part:
                continue
            key, sep, val = part.partition("=")
            key = key.strip().lower()
            if not sep:
                raise UserError(f"{ENV_VAR}: expected key=value, got {part!r}")
            if key in names:
                try:
                    p = float(val)
                except ValueError:
                    raise UserError(f"{ENV_VAR}: {key} must be a probability, got {val!r}") from None
                if not 0.0 <= p <= 1.0:
                    raise UserError(f"{ENV_VAR}: {key} must be between 0 and 1, got {val!r}")
                kw[names[key]] = p
            elif key == "seed":
                kw["seed"] = int(val)
            elif key == "ops":
                kw["ops"] = frozenset(o.strip() for o in val.split("|") if o.strip())
            else:
                raise UserError(f"{ENV_VAR}: unknown fault {key!r} "
                                f"(known: throttle, 5xx, timeout, denied, seed, ops)")
        return cls(**kw)

    @classmethod
    def from_env(cls) -> "FaultSpec | None":
        text = os.environ.get(ENV_VAR, "").strip()
        return cls.parse(text) if text else None

    def __str__(self) -> str:
        parts = [f"throttle={self.throttle}", f"5xx={self.server_error}",
                 f"timeout={self.timeout}", f"denied={self.denied}"]
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        if self.ops:
            parts.append("ops=" + "|".join(sorted(self.ops)))
        return ",".join(parts)


class _Raw:
    """The minimal urllib3-like body AWSResponse reads from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, *_: Any, **__: Any):
        yield self._body


def _cbor_text(s: str) -> bytes:
    b = s.encode()
    n = len(b)
    if n < 24:
        head = bytes([0x60 | n])
    elif n < 256:
        head = bytes([0x78, n])
    else:
        head = bytes([0x79]) + n.to_bytes(2, "big")
    return head + b


def _cbor_map(d: dict[str, str]) -> bytes:
    assert len(d) < 24
    return bytes([0xA0 | len(d)]) + b"".join(_cbor_text(k) + _cbor_text(v) for k, v in d.items())


def error_response(request: Any, status: int, code: str, message: str, request_id: str) -> AWSResponse:
    """An AWS error response in the wire protocol the request was made with."""
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else str(v))
               for k, v in request.headers.items()}
    if headers.get("smithy-protocol") == "rpc-v2-cbor":
        body = _cbor_map({"__type": code, "message": message})
        out = {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor",
               "x-amzn-RequestId": request_id}
    elif "x-amz-target" in headers or "json" in headers.get("content-type", ""):
        body = json.dumps({"__type": code, "message": message}).encode()
        out = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id}
    else:  # query protocol (elbv2, cloudformation, sts)
        kind = "Receiver" if status >= 500 else "Sender"
        body = (f'<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code>'
                f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
                "</ErrorResponse>").encode()
        out = {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
    out["Content-Length"] = str(len(body))
    return AWSResponse(request.url, status, out, _Raw(body))


class FaultInjector:
    """The installed handler; `injected` counts what it did, by kind."""

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self._rng = random.Random(spec.seed)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.injected: dict[str, int] = {"throttle": 0, "5xx": 0, "timeout": 0, "denied": 0}
        self._events: list[Any] = []

    def _wanted(self, event_name: str) -> bool:
        if not self.spec.ops:
            return True
        if event_name.count(".") < 2:
            return False
        return key_from_event(event_name) in self.spec.ops

    def _draw(self) -> str | None:
        s = self.spec
        with self._lock:
            for kind, p in (("denied", s.denied), ("throttle", s.throttle),
                            ("5xx", s.server_error), ("timeout", s.timeout)):
                if p and self._rng.random() < p:
                    self.injected[kind] += 1
                    return kind
        return None

    def __call__(self, request: Any = None, event_name: str = "", **_: Any) -> AWSResponse | None:
        if request is None or not self._wanted(event_name):
            return None
        kind = self._draw()
        if kind is None:
            return None
        rid = f"paas-fault-{next(self._ids)}"
        is_query = "x-amz-target" not in {k.lower() for k in request.headers} and \
            "smithy-protocol" not in {k.lower() for k in request.headers}
        if kind == "throttle":
            return error_response(request, 400, "Throttling" if is_query else "ThrottlingException",
                                  "Rate exceeded (injected fault)", rid)
        if kind == "denied":
            return error_response(request, 400, "AccessDenied" if is_query else "AccessDeniedException",
                                  "User is not authorized to perform this action (injected fault)", rid)
        if kind == "5xx":
            return error_response(request, 500, "InternalFailure",
                                  "We encountered an internal error (injected fault)", rid)
        with self._lock:
            connect = self._rng.random() < 0.5
        if connect:
            raise ConnectTimeoutError(endpoint_url=request.url)
        raise ReadTimeoutError(endpoint_url=request.url)

    def install(self, events: Any) -> None:
        events.register_last("before-send", self, unique_id=f"paas-faults-{id(self)}")
        self._events.append(events)

    def uninstall(self) -> None:
        for ev in self._events:
            ev.unregister("before-send", self, unique_id=f"paas-faults-{id(self)}")
        self._events.clear()


def install_faults(client_or_session: Any, spec: FaultSpec | str) -> FaultInjector:
    """Inject faults into a botocore/boto3 client, or every client later made from a session."""
    if isinstance(spec, str):
        spec = FaultSpec.parse(spec)
    injector = FaultInjector(spec)
    if hasattr(client_or_session, "meta") and hasattr(client_or_session.meta, "events"):
        events = client_or_session.meta.events  # a client
    elif hasattr(client_or_session, "events"):
        events = client_or_session.events  # a boto3 Session
    else:
        events = client_or_session.get_component("event_emitter")  # a botocore Session
    injector.install(events)
    return injector
