"""A counting HTTP hop between a driver and the emulator: what the "server" really received.

werkzeug's ProxyMiddleware forwards every request to the emulator (it routes by a path prefix,
which the outer layer adds and the middleware strips again). Around it, a small WSGI layer records each request that arrived (operation, time) and can answer the next
N requests for an ECS (JSON protocol) operation with AWS's throttling error itself, the way a
throttled AWS endpoint would: the request did reach the server.
"""

from __future__ import annotations

import io
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import parse_qs

from werkzeug.middleware.http_proxy import ProxyMiddleware
from werkzeug.serving import make_server

PREFIX = "/p"


def _no_route(environ: dict, start_response: Any) -> Iterable[bytes]:
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not proxied"]


@dataclass
class Seen:
    operation: str
    at: float  # time.monotonic()


@dataclass
class CountingProxy:
    target: str
    seen: list[Seen] = field(default_factory=list)
    throttle: dict[str, int] = field(default_factory=dict)  # operation → answers left

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._inner = ProxyMiddleware(_no_route, {PREFIX: {"target": self.target,
                                                           "remove_prefix": True}})
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def operations(self) -> list[str]:
        with self._lock:
            return [s.operation for s in self.seen]

    def first(self, operation: str) -> float | None:
        """When the first request for `operation` arrived (monotonic), if one did."""
        with self._lock:
            return next((s.at for s in self.seen if s.operation == operation), None)

    def reset(self) -> None:
        with self._lock:
            self.seen.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @staticmethod
    def _operation(environ: dict, body: bytes) -> str:
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:  # JSON protocol: "AmazonEC2ContainerServiceV20141113.ListServices"
            return target.rsplit(".", 1)[-1]
        path = environ.get("PATH_INFO", "")
        if "/operation/" in path:  # Smithy RPCv2 CBOR
            return path.rsplit("/", 1)[-1]
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")  # query protocol
        return action[0] if action else "?"

    def _app(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        op = self._operation(environ, body)
        with self._lock:
            self.seen.append(Seen(op, time.monotonic()))
            throttle = self.throttle.get(op, 0) > 0
            if throttle:
                self.throttle[op] -= 1
        if throttle:
            out = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
            start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"),
                                               ("x-amzn-RequestId", "proxy-throttle"),
                                               ("Content-Length", str(len(out)))])
            return [out]
        environ["PATH_INFO"] = PREFIX + environ.get("PATH_INFO", "/")
        return self._inner(environ, start_response)
