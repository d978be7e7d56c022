"""A real webhook receiver for tests: http.server on loopback in a thread.

It records every request (headers, body, when), answers with the status `status` says (an int
or a callable of the request count), can hang (`hang`: an Event it waits on before answering),
and can be stopped and started again on the same port (a receiver that is down refuses
connections).
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str
    at: float = field(default_factory=time.time)

    def json(self):
        return json.loads(self.body)


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.status: int | Callable[[int], int] = 200
        self.hang: threading.Event | None = None
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.port = 0
        self._server: http.server.ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook/secret-token-123"

    def start(self) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with outer.cond:
                    outer.requests.append(Received({k: v for k, v in self.headers.items()}, body, self.path))
                    count = len(outer.requests)
                    outer.cond.notify_all()
                if outer.hang is not None:
                    outer.hang.wait(60)
                status = outer.status(count) if callable(outer.status) else outer.status
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):  # quiet
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, n: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver got {len(self.requests)} requests, wanted {n}")
                self.cond.wait(left)
            return list(self.requests)
