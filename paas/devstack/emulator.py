"""An embedded AWS endpoint for dev and tests: moto's server plus the simulated data plane.

``start_emulator()`` serves moto's all-services WSGI app on loopback from a background
thread (port 0 picks a free port; ``endpoint_url`` reports the real one) and starts the
``DataPlane`` loop in a second thread. The controller talks to ``endpoint_url`` with plain
boto3 exactly as it would to AWS.

moto keeps its state in process-global backends, so a process runs at most one emulator
(``start_emulator`` raises if one is running; ``running_emulator()`` returns it, and
``emulator.dataplane.update_settings()`` changes its rates and durations live);
``Emulator.reset()`` wipes the state. Every request and every data-plane tick run under
one lock (``moto_patches.MOTO_LOCK``) because moto's backends are not thread-safe.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable

from werkzeug.serving import BaseWSGIServer, make_server

from . import moto_patches
from .dataplane import DEFAULT_ACCOUNT_ID, DataPlane, DataPlaneSettings

log = logging.getLogger(__name__)

# moto keeps one process-global state, so one data plane may drive it: one emulator at a time.
_running: "Emulator | None" = None
_running_lock = threading.Lock()


class _LockedApp:
    """WSGI middleware: one request at a time against moto's state, body fully built."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET") == "AmazonSQS.ReceiveMessage":
            return self._long_poll(environ, start_response)
        return self._once(environ, start_response)

    def _once(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with moto_patches.MOTO_LOCK:
            result = self.app(environ, start_response)
            try:
                body = list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return body

    def _long_poll(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        """SQS long polling without holding the lock: moto waits for messages inside the request,
        which under the one lock would stop every other request for up to 20 s. Ask with no wait
        instead, again every 50 ms until a message comes or the wait is over, as SQS answers."""
        import io
        import json
        import time

        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b"{}"
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            req = {}
        wait = float(req.get("WaitTimeSeconds") or 0)
        req["WaitTimeSeconds"] = 0
        body = json.dumps(req).encode()
        end = time.monotonic() + wait
        while True:
            captured: dict[str, Any] = {}

            def capture(status: str, headers: list, exc_info: Any = None) -> Any:
                captured.update(status=status, headers=headers, exc_info=exc_info)
                return lambda data: None

            env = dict(environ, **{"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))})
            out = self._once(env, capture)
            data = b"".join(out)
            try:
                got = bool(json.loads(data or b"{}").get("Messages"))
            except ValueError:
                got = True  # not JSON (an error page): hand it back as is
            if got or not captured.get("status", "").startswith("200") or time.monotonic() >= end:
                start_response(captured["status"], captured["headers"])
                return [data]
            time.sleep(0.05)


def _quiet_handler() -> type:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietHandler(MotoRequestHandler):  # type: ignore[misc, valid-type]
        """Request lines go to DEBUG logging instead of stderr; errors still surface."""

        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            log.debug("%s %s %s", self.command, self.path, code)

    return QuietHandler


class Emulator:
    """A running emulator. Use as a context manager or call ``stop()``."""

    def __init__(
        self,
        server: BaseWSGIServer,
        dataplane: DataPlane,
        region: str,
        account_id: str,
        profiles_path: Path,
        tmpdir: tempfile.TemporaryDirectory[str] | None,
    ) -> None:
        self._server = server
        self.dataplane = dataplane
        self.region = region
        self.account_id = account_id
        self.profiles_path = profiles_path
        self._tmpdir = tmpdir
        self.host, self.port = server.server_address[0], server.server_port
        self._stop = threading.Event()
        self._server_thread = threading.Thread(target=server.serve_forever, name="paas-moto-server", daemon=True)
        self._dataplane_thread = threading.Thread(target=dataplane.run, args=(self._stop,), name="paas-dataplane", daemon=True)
        self._stopped = False

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _start(self) -> None:
        self._server_thread.start()
        self._dataplane_thread.start()

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client for this endpoint with dummy credentials (tests and dev tools)."""
        import boto3

        from botocore.config import Config

        kwargs.setdefault("region_name", self.region)
        # a busy two-core machine can take long to answer; a retried create would then collide
        # with its own first attempt, so wait rather than retry on a read timeout
        kwargs.setdefault("config", Config(read_timeout=180, connect_timeout=20, retries={"mode": "standard"}))
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            aws_session_token="testing",
            **kwargs,
        )

    def reset(self) -> None:
        """Forget every resource in the (process-global) moto state."""
        from moto.moto_api import _internal

        with moto_patches.MOTO_LOCK:
            _internal.moto_api_backend.reset()

    def stop(self) -> None:
        """Stop the data plane and the HTTP server and join both threads."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        self._dataplane_thread.join(timeout=10)
        self._server.shutdown()
        self._server_thread.join(timeout=10)
        self._server.server_close()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
        global _running
        with _running_lock:
            if _running is self:
                _running = None

    def __enter__(self) -> "Emulator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    region: str = "us-east-1",
    account_id: str = DEFAULT_ACCOUNT_ID,
    profiles_path: str | Path | None = None,
    dataplane_settings: DataPlaneSettings | None = None,
) -> Emulator:
    """Start moto on ``host:port`` (0 = any free port) and the simulated data plane.

    ``profiles_path`` is the behaviour-profile JSON file the data plane re-reads each tick;
    without one a private temporary file is used (removed on ``stop()``).
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    global _running
    moto_patches.install()
    with _running_lock:
        if _running is not None:
            raise RuntimeError(
                f"an emulator is already running in this process at {_running.endpoint_url}; moto's state is "
                "process-global, so reuse it (running_emulator()) or stop it first"
            )
    tmpdir = None
    if profiles_path is None:
        tmpdir = tempfile.TemporaryDirectory(prefix="paas-devstack-")
        profiles_path = Path(tmpdir.name) / "profiles.json"
    app = _LockedApp(DomainDispatcherApplication(create_backend_app))
    server = make_server(host, port, app, threaded=True, request_handler=_quiet_handler())
    dataplane = DataPlane(region, account_id, profiles_path, dataplane_settings)
    emulator = Emulator(server, dataplane, region, account_id, Path(profiles_path), tmpdir)
    with _running_lock:
        if _running is not None:  # lost a race with another start_emulator()
            server.server_close()
            raise RuntimeError(f"an emulator is already running in this process at {_running.endpoint_url}")
        _running = emulator
    emulator._start()
    return emulator


def running_emulator() -> Emulator | None:
    """The emulator running in this process, if any (there is at most one)."""
    return _running
