"""Delivering notifications: claim due outbox rows, POST each, record what happened.

At least once, in order per target (so per app, for each receiver), with no transaction open
across an HTTP request (paas/db/notifications.py states the claim/record contract):

- Each request carries ``Idempotency-Key`` (the outbox row's stable key: the same on every
  retry and after a worker died mid-request), ``X-Paas-Event``, ``X-Paas-Timestamp`` and
  ``X-Paas-Signature: sha256=<hex>`` = HMAC-SHA256(target secret, "<timestamp>." + body)
  (paas.domain.notify.signature), and ``X-Paas-Attempt``.
- 2xx is delivered. Anything else (another status, a redirect, a refused connection, a
  timeout) is retried after an exponential backoff with jitter (PAAS_NOTIFY_BACKOFF doubling
  up to PAAS_NOTIFY_BACKOFF_MAX) until the row is older than PAAS_NOTIFY_MAX_AGE: then `dead`.
- Redirects are not followed (a 3xx could point a worker at an internal address the URL check
  refused), and only the first 512 bytes of an answer are read.
- URL and secret are read from SSM through the driver of the target's environment and kept in
  memory for PAAS_NOTIFY_CACHE seconds; they never reach a log or the database (errors name the
  redacted URL only).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable

from paas.db import notifications as n
from paas.db.engine import pooled
from paas.domain import notify
from paas.reconciler import metrics as m
from paas.reconciler.logs import kv
from paas.settings import NotifySettings

log = logging.getLogger("paas.notify")

USER_AGENT = "paas-notify/1"

# (url, signing secret) of a claimed row's target
Resolve = Callable[[n.Delivery], tuple[str, str]]


def show(text: str, width: int) -> str:
    """One printable line of at most `width` characters (a receiver's answer is untrusted)."""
    line = "".join(c if c.isprintable() else " " for c in text).strip()
    return line if len(line) <= width else line[:width - 1] + "…"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102 - urllib's hook
        return None  # urllib then raises HTTPError with the 3xx: a failed attempt


_opener = urllib.request.build_opener(_NoRedirect)


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status: int | None
    error: str


def _refused_address(url: str) -> str | None:
    """Why the URL's host must not be posted to now (it resolves to a link-local, unspecified or
    multicast address, e.g. the instance metadata service), or None. The URL check at `notify
    add` refuses such IP literals; this catches a DNS name pointing there. (A name that changes
    its answer between this lookup and the connection is not caught: limit the workers' egress.)"""
    import ipaddress
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except OSError:
        return None  # the request itself reports the lookup failure
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if ip.is_link_local or ip.is_unspecified or ip.is_multicast:
            return f"{notify.redact_url(url)} resolves to {ip}, a link-local, unspecified or multicast address"
    return None


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Attempt:
    """One POST; never raises for what the network or the receiver does."""
    refused = _refused_address(url)
    if refused:
        return Attempt(False, None, refused)
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers})
    where = notify.redact_url(url)
    try:
        with _opener.open(req, timeout=timeout) as resp:
            resp.read(512)
            status = resp.status
    except urllib.error.HTTPError as e:
        detail = ""
        try:
            detail = e.read(512).decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - the status says enough
            pass
        return Attempt(False, e.code, f"{where} answered {e.code}" + (f": {show(detail, 200)}" if detail else ""))
    except Exception as e:  # noqa: BLE001 - refused, reset, timed out, TLS: all retried
        reason = getattr(e, "reason", None) or e
        return Attempt(False, None, f"{where}: {show(str(reason) or type(e).__name__, 200)}".replace(url, where))
    if 200 <= status < 300:
        return Attempt(True, status, "")
    return Attempt(False, status, f"{where} answered {status}")


def headers_for(d: n.Delivery, secret: str, body: bytes, now: float) -> dict[str, str]:
    ts = int(now)
    return {"Idempotency-Key": d.key, "X-Paas-Event": d.event, "X-Paas-Timestamp": str(ts),
            "X-Paas-Signature": notify.signature(secret, ts, body), "X-Paas-Attempt": str(d.attempts)}


class SsmResolver:
    """URL and secret from SSM through the driver of the target's store environment, cached."""

    def __init__(self, ttl: float, driver_for=None) -> None:
        from paas.reconciler.drivers import driver_for as default

        self.ttl = ttl
        self.driver_for = driver_for or default
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def _get(self, env, name: str) -> str:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(name)
            if hit is not None and hit[0] > now:
                return hit[1]
        value = self.driver_for(env).get_parameter(name)
        with self._lock:
            self._cache[name] = (now + self.ttl, value)
        return value

    def __call__(self, d: n.Delivery) -> tuple[str, str]:
        return self._get(d.store_env, d.url_param), self._get(d.store_env, d.secret_param)


class Deliverer:
    """One worker's delivery of due notifications (`run_once` is one batch)."""

    def __init__(self, engine, owner: str, settings: NotifySettings | None = None,
                 resolve: Resolve | None = None, rand: Callable[[], float] = random.random) -> None:
        self.engine = engine
        self.owner = owner
        self.settings = settings or NotifySettings()
        self.resolve = resolve or SsmResolver(self.settings.cache)
        self.rand = rand
        self.sent = 0

    def run_once(self) -> int:
        """Claim a batch of due rows, send each, record each; the number of rows handled."""
        s = self.settings
        with pooled(self.engine) as db:
            claimed = n.claim(db, self.owner, s.lease, s.batch)
        if not claimed:
            return 0
        deadline = time.monotonic() + s.lease - s.timeout  # no request that could outlive the lease
        for d in claimed:
            if time.monotonic() > deadline:
                break  # the rest go back when their lease expires
            self._deliver(d)
        return len(claimed)

    def _deliver(self, d: n.Delivery) -> None:
        s = self.settings
        if d.target_removed:
            with pooled(self.engine) as db:
                n.dropped(db, d, self.owner, "target removed")
            m.NOTIFICATIONS.labels("dropped").inc()
            return
        try:
            url, secret = self.resolve(d)
        except Exception as e:  # noqa: BLE001 - SSM unreachable or the parameter gone: retry later
            attempt = Attempt(False, None, f"reading the target's URL from SSM: {show(str(e), 200)}")
        else:
            body = notify.body(d.format, d.payload)
            t0 = time.monotonic()
            attempt = post(url, body, headers_for(d, secret, body, time.time()), s.timeout)
            m.NOTIFY_SECONDS.observe(time.monotonic() - t0)
            del url, secret
        with pooled(self.engine) as db:
            if attempt.ok:
                recorded = n.delivered(db, d, self.owner, attempt.status or 200)
                state = "delivered"
                self.sent += 1
            else:
                retry = notify.retry_delay(d.attempts, s.backoff, s.backoff_max, self.rand())
                state = n.failed(db, d, self.owner, status=attempt.status, error=attempt.error, retry_in=retry,
                                 max_age=s.max_age)
                recorded = state is not None
        m.NOTIFICATIONS.labels("lease_lost" if not recorded else "retry" if state == "pending" else state).inc()
        level = logging.INFO if attempt.ok else logging.WARNING
        log.log(level, "notification", extra=kv(id=d.id, key=d.key, event=d.event, target=d.target_id,
                                                attempt=d.attempts, state=state, status=attempt.status,
                                                error=attempt.error or None, lease_lost=not recorded))

    def next_due_in(self) -> float | None:
        with pooled(self.engine) as db:
            return n.next_due_in(db)
