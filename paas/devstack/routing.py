"""ALB listener-rule routing: which rule a request reaches, first match wins.

AWS evaluates a listener's rules "in priority order, from the lowest value to the highest
value. The default rule is evaluated last." A rule matches when all of its conditions
match; a condition matches when any of its values matches. So a broad rule at a lower
number shadows a narrower one behind it, and the narrower one gets no traffic.

Conditions, as AWS documents them:

* ``host-header``: case-insensitive, wildcards ``*`` (0 or more characters) and ``?``
  (exactly one);
* ``path-pattern``: case-sensitive, same wildcards, compared with the path only (not the
  query string);
* ``http-header``: header name case-insensitive, value wildcards, case-insensitive;
* ``query-string``: ``key=value`` pairs (key optional), wildcards, case-insensitive;
* ``http-request-method``: exact, case-sensitive;
* ``source-ip``: CIDR blocks.

Regex match values (``RegexValues``) and unknown condition fields never match here (a gap,
stated so a test that needs them adds them).

``example_request`` makes one request a rule's own clients would send (its first value of
each condition, wildcards filled in): the traffic simulation offers each forwarding rule
such requests and routes them through *all* rules of the listener, so shadowing shows.
Pure functions, no moto.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Sequence


@dataclass(frozen=True)
class Request:
    host: str
    path: str = "/"
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    source_ip: str = "203.0.113.10"


@dataclass(frozen=True)
class Rule:
    """A listener rule as routing sees it: priority (None = default rule) and conditions."""

    key: Any
    priority: int | None
    conditions: tuple[dict[str, Any], ...] = field(default=())


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(f"^{body}$", 0 if case_sensitive else re.IGNORECASE)


def _values(cond: dict[str, Any], config: str) -> list[Any]:
    cfg = cond.get(config) or {}
    return list(cfg.get("Values") or cond.get("Values") or [])


def condition_matches(cond: dict[str, Any], req: Request) -> bool:
    fld = cond.get("Field")
    if fld == "host-header":
        return any(_wildcard(v, False).match(req.host) for v in _values(cond, "HostHeaderConfig"))
    if fld == "path-pattern":
        return any(_wildcard(v, True).match(req.path) for v in _values(cond, "PathPatternConfig"))
    if fld == "http-request-method":
        return req.method in _values(cond, "HttpRequestMethodConfig")
    if fld == "http-header":
        cfg = cond.get("HttpHeaderConfig") or {}
        name = str(cfg.get("HttpHeaderName") or "").lower()
        got = [v for k, v in req.headers if k.lower() == name]
        return any(_wildcard(p, False).match(v) for p in cfg.get("Values") or [] for v in got)
    if fld == "query-string":
        pairs = (cond.get("QueryStringConfig") or {}).get("Values") or []
        for pair in pairs:
            kp, vp = pair.get("Key"), pair.get("Value", "")
            for k, v in req.query:
                if (kp is None or _wildcard(kp, False).match(k)) and _wildcard(vp, False).match(v):
                    return True
        return False
    if fld == "source-ip":
        try:
            addr = ipaddress.ip_address(req.source_ip)
            return any(addr in ipaddress.ip_network(c, strict=False) for c in _values(cond, "SourceIpConfig"))
        except ValueError:
            return False
    return False


def rule_matches(rule: Rule, req: Request) -> bool:
    return rule.priority is None or all(condition_matches(c, req) for c in rule.conditions)


def route(rules: Iterable[Rule], req: Request) -> Rule | None:
    """The rule that handles ``req``: the lowest priority that matches, else the default."""
    ordered = sorted(rules, key=lambda r: (r.priority is None, r.priority or 0))
    return next((r for r in ordered if rule_matches(r, req)), None)


def _fill(pattern: str) -> str:
    return pattern.replace("*", "x").replace("?", "x")


def example_request(conditions: Sequence[dict[str, Any]], default_host: str) -> Request:
    """A request this rule's own clients would send: it matches the rule's conditions."""
    host, path, method = default_host, "/", "GET"
    headers: list[tuple[str, str]] = []
    query: list[tuple[str, str]] = []
    source = "203.0.113.10"
    for cond in conditions:
        fld = cond.get("Field")
        if fld == "host-header" and _values(cond, "HostHeaderConfig"):
            host = _fill(_values(cond, "HostHeaderConfig")[0])
        elif fld == "path-pattern" and _values(cond, "PathPatternConfig"):
            path = _fill(_values(cond, "PathPatternConfig")[0])
        elif fld == "http-request-method" and _values(cond, "HttpRequestMethodConfig"):
            method = _values(cond, "HttpRequestMethodConfig")[0]
        elif fld == "http-header":
            cfg = cond.get("HttpHeaderConfig") or {}
            if cfg.get("Values"):
                headers.append((str(cfg.get("HttpHeaderName")), _fill(cfg["Values"][0])))
        elif fld == "query-string":
            pairs = (cond.get("QueryStringConfig") or {}).get("Values") or []
            if pairs:
                query.append((_fill(pairs[0].get("Key") or "q"), _fill(pairs[0].get("Value", ""))))
        elif fld == "source-ip" and _values(cond, "SourceIpConfig"):
            net = ipaddress.ip_network(_values(cond, "SourceIpConfig")[0], strict=False)
            source = str(next(iter(net.hosts()), net.network_address))
    return Request(host, path, method, tuple(headers), tuple(query), source)
