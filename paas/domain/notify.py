"""Notifications, the pure part: event names, webhook URL checks, payloads, signatures, backoff.

A webhook URL often carries its token in the path (Slack's ``/services/T/B/secret``), so a
URL is treated as a secret: checked here, stored in SSM by the CLI, shown only as
`redact_url` (scheme and host). What a receiver gets is defined here once: the JSON payload
(`json_body`), the Slack summary (`slack_body`) and the signature over timestamp and body
(`signature`), so the README, the worker and the tests agree.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

from paas.domain.errors import UserError

EVENTS = ("pipeline_started", "check_failed", "deploy_started", "deploy_succeeded", "deploy_failed",
          "rolled_back", "approval_needed")
FORMATS = ("json", "slack")
DELIVERY_STATES = ("pending", "delivered", "dead", "dropped")

URL_MAX = 2048  # far above any real webhook; SSM standard parameters hold 4 KB
SECRET_MIN, SECRET_MAX = 16, 256
REASON_MAX = 1000
PAYLOAD_MAX_BYTES = 16_384

# the JSON payload's documented keys, in order (absent ones are null)
PAYLOAD_KEYS = ("id", "event", "app", "environment", "release", "deployment_id", "image", "reason", "at")

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.ASCII)
_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+", re.ASCII)
_SECRET_RE = re.compile(r"[\x21-\x7e]+", re.ASCII)


def events(values: Iterable[str] | None) -> tuple[str, ...]:
    """Event names from repeated or comma-separated options; none given = every event."""
    names: list[str] = []
    for value in values or ():
        for part in str(value).split(","):
            part = part.strip(" ")  # "a, b" is fine; a newline or tab is not
            if not part:
                continue
            if part not in EVENTS:
                shown = part if _PRINTABLE_ASCII.fullmatch(part) and len(part) <= 40 else repr(part[:40])
                raise UserError(f"unknown event {shown}: expected one of {', '.join(EVENTS)}")
            if part not in names:
                names.append(part)
    return tuple(names) if names else EVENTS


def fmt(value: str | None) -> str:
    if value is None:
        return "json"
    if value not in FORMATS:
        raise UserError(f"unknown format {value[:40]!r}: expected {' or '.join(FORMATS)}")
    return value


def _host_kind(host: str) -> str:
    """'loopback', 'ip' or 'name'; UserError for a host no webhook should name."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost":
            return "loopback"
        if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.rstrip(".").split(".")):
            raise UserError("webhook URL: the host must be a DNS name (letters, digits, hyphens; "
                            "IDN hosts in punycode) or an IP address") from None
        return "name"
    if getattr(ip, "ipv4_mapped", None) is not None:
        raise UserError("webhook URL: IPv4-mapped IPv6 addresses are refused")
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local or ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        # 169.254.169.254 is the instance metadata service: a worker must never post there
        raise UserError(f"webhook URL: {ip} is a link-local, unspecified, multicast or reserved address")
    return "ip"


def check_url(url: str) -> str:
    """A webhook URL workers may post to: https (http only to loopback), ASCII without spaces or
    control characters, no user:password@, no fragment, at most `URL_MAX` characters."""
    if not isinstance(url, str) or not url:
        raise UserError("webhook URL: empty")
    if len(url) > URL_MAX:
        raise UserError(f"webhook URL: at most {URL_MAX} characters, got {len(url)}")
    if not _PRINTABLE_ASCII.fullmatch(url):
        raise UserError("webhook URL: only printable ASCII without spaces (percent-encode the rest; "
                        "IDN hosts in punycode)")
    if "\\" in url:
        raise UserError("webhook URL: backslashes are refused (URL parsers disagree about them)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UserError("webhook URL: not a URL (bad port or brackets)") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UserError("webhook URL: the scheme must be https (http only for loopback)")
    if "@" in parts.netloc:
        raise UserError("webhook URL: user:password@ is refused (put tokens in the path or query)")
    host = (parts.hostname or "").lower()
    if not host:
        raise UserError("webhook URL: no host")
    if port == 0:
        raise UserError("webhook URL: port 0")
    if parts.fragment or url.endswith("#"):
        raise UserError("webhook URL: a fragment (#...) is never sent; drop it")
    kind = _host_kind(host)
    if scheme == "http" and kind != "loopback":
        raise UserError("webhook URL: http is allowed only for loopback (127.0.0.1, ::1, localhost); use https")
    return url


def redact_url(url: str) -> str:
    """What may be shown of a webhook URL: ``https://hooks.slack.com/…`` (tokens live in paths)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "…"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme.lower()}://{host}{f':{port}' if port else ''}/…"


def check_secret(value: str) -> str:
    """A signing secret a user supplies: printable ASCII, `SECRET_MIN`-`SECRET_MAX` characters."""
    value = value[:-1] if value.endswith("\n") else value
    if not SECRET_MIN <= len(value) <= SECRET_MAX or not _SECRET_RE.fullmatch(value):
        raise UserError(f"signing secret: {SECRET_MIN}-{SECRET_MAX} printable ASCII characters without spaces")
    return value


# --------------------------------------------------------------------------- what is sent

def payload(event: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    """What `enqueue` stores of a caller's payload: JSON values only, the reason cut to
    `REASON_MAX`, at most `PAYLOAD_MAX_BYTES` in all (ValueError otherwise: a caller's bug)."""
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r}: expected one of {', '.join(EVENTS)}")
    out = dict(extra)
    reason = out.get("reason")
    if isinstance(reason, str) and len(reason) > REASON_MAX:
        out["reason"] = reason[:REASON_MAX - 1] + "…"
    encoded = json.dumps(out, separators=(",", ":"), sort_keys=True)  # TypeError for non-JSON values
    if len(encoded.encode("utf-8")) > PAYLOAD_MAX_BYTES:
        raise ValueError(f"notification payload over {PAYLOAD_MAX_BYTES} bytes")
    return out


def json_body(stored: Mapping[str, Any]) -> dict[str, Any]:
    """The documented JSON payload: `PAYLOAD_KEYS` first (null when unknown), then any extra key
    the event carries (e.g. a pipeline's ``check``)."""
    body = {k: stored.get(k) for k in PAYLOAD_KEYS}
    body.update({k: v for k, v in stored.items() if k not in body})
    return body


_SUMMARY = {
    "pipeline_started": "pipeline started",
    "check_failed": "check failed",
    "deploy_started": "deploy started",
    "deploy_succeeded": "deployed",
    "deploy_failed": "deploy failed",
    "rolled_back": "rolled back",
    "approval_needed": "approval needed",
}


def _slack_escape(text: Any) -> str:
    """Slack reads ``<...>`` as links and mentions (``<!channel>``): escape &, < and >."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(stored: Mapping[str, Any]) -> str:
    b = json_body(stored)
    what = f"{b['app']}" + (f" v{b['release']}" if b.get("release") is not None else "")
    where = f" in {b['environment']}" if b.get("environment") else ""
    line = f"[paas] {what}{where}: {_SUMMARY.get(str(b['event']), b['event'])}"
    if b.get("image"):
        line += f" (image {b['image']})"
    if b.get("deployment_id") is not None:
        line += f", deployment {b['deployment_id']}"
    if b.get("reason"):
        line += f": {b['reason']}"
    return _slack_escape(line)


def body(fmt_: str, stored: Mapping[str, Any]) -> bytes:
    """The request body for a target's format (UTF-8 JSON, compact)."""
    data = {"text": slack_text(stored)} if fmt_ == "slack" else json_body(stored)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signature(secret: str, timestamp: int, body_: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, "<timestamp>." + body): what X-Paas-Signature
    carries. A receiver recomputes it and compares in constant time, and refuses an old
    timestamp (replay)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body_, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body_: bytes, header: str, *, now: float, tolerance: float = 300) -> bool:
    """The receiver's check (documented in the README, used by the tests)."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now - ts) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, ts, body_), header or "")


def retry_delay(attempts: int, base: float, cap: float, jitter: float) -> float:
    """Exponential backoff with jitter: base·2^(attempts-1), at most `cap`, scaled by a random
    `jitter` in [0, 1) into its upper half (never 0, so a receiver that is down is not hammered,
    and workers that failed together spread out)."""
    delay = min(cap, base * (2 ** max(0, min(attempts - 1, 40))))
    return delay * (0.5 + 0.5 * jitter)


PARAMETER_PREFIX = "/paas/notify/"  # the SSM names workers may read (paas/aws/iam.py scopes them)


def parameter_names(app: str, target_token: str) -> tuple[str, str]:
    """The SSM parameters of one target: its URL and its signing secret."""
    base = f"{PARAMETER_PREFIX}{app}/{target_token}"
    return f"{base}/url", f"{base}/signing-secret"
