"""Health checks of a web process: the target groups' checks and ECS's grace period.

``[processes.web.health_check]`` in paas.toml; every range is AWS's (ELBv2 CreateTargetGroup,
Matcher, ECS CreateService), except the grace period's upper bound, which is paas's (see
limits.HC_GRACE_PERIOD):

| key | meaning | default | range |
| --- | --- | --- | --- |
| path | URL path the ALB requests | ``/`` | starts with ``/``, ≤ 1024 printable ASCII, no spaces |
| grace_period | seconds ECS ignores failing checks of a new task | 60 | 0-3600 |
| interval | seconds between checks | 10 | 5-300 |
| timeout | seconds without an answer that count as a failure | 5 | 2-120, < interval |
| healthy_threshold | consecutive successes to become healthy | 2 | 2-10 |
| unhealthy_threshold | consecutive failures to become unhealthy | 3 | 2-10 |
| healthy_codes | HTTP codes that count as success | ``200-399`` | codes 200-499: ``200``, ``200,302``, ``200-299`` |

The defaults other than the grace period are the values every stack had before these keys
existed, so an app that sets none of them keeps its target groups unchanged.
"""

from __future__ import annotations

import re

from paas.domain import limits
from paas.domain.errors import UserError
from paas.domain.frozen import Frozen, setfield
from paas.domain.validate import show
from paas.domain.lazyre import lazy

# RFC 3986 path characters (unreserved, sub-delims, ':', '@', '/', '%'), plus a query string
# (ELBv2 accepts "/path?query"); no spaces, no controls, ASCII only.
PATH_PATTERN = r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$"
_PATH_RE = lazy(PATH_PATTERN[1:-1], re.ASCII)
CODES_PATTERN = r"^[0-9]{3}(-[0-9]{3})?(,[0-9]{3}(-[0-9]{3})?)*$"
_CODES_RE = lazy(CODES_PATTERN[1:-1], re.ASCII)


class HealthCheck(Frozen):
    """A web process's target-group health check and ECS grace period (ELBv2 and ECS ranges)."""

    __slots__ = ("grace_period", "interval", "timeout", "healthy_threshold", "unhealthy_threshold", "healthy_codes")
    grace_period: int
    interval: int
    timeout: int
    healthy_threshold: int
    unhealthy_threshold: int
    healthy_codes: str

    def __init__(self, grace_period: int = 60, interval: int = 10, timeout: int = 5, healthy_threshold: int = 2,
                 unhealthy_threshold: int = 3, healthy_codes: str = "200-399") -> None:
        setfield(self, "grace_period", grace_period)
        setfield(self, "interval", interval)
        setfield(self, "timeout", timeout)
        setfield(self, "healthy_threshold", healthy_threshold)
        setfield(self, "unhealthy_threshold", unhealthy_threshold)
        setfield(self, "healthy_codes", healthy_codes)

    def to_json(self) -> dict:
        return self._asdict()

    @classmethod
    def from_json(cls, d: dict | None) -> "HealthCheck":
        return cls(**(d or {}))


def path(value: object, what: str = "health_check_path") -> str:
    if (not isinstance(value, str) or not value or len(value) > limits.HEALTH_CHECK_PATH_MAX
            or not _PATH_RE.fullmatch(value)):
        raise UserError(f"invalid {what} {show(value)}: expected a URL path starting with '/', at most "
                        f"{limits.HEALTH_CHECK_PATH_MAX} characters, no spaces or control characters")
    return value


def healthy_codes(value: object, what: str = "healthy_codes") -> str:
    """ALB matcher grammar: codes and ranges separated by commas, each code 200-499, ranges rising."""
    lo, hi = limits.HC_CODES
    if (not isinstance(value, str) or len(value) > limits.HC_CODES_MAX_LEN
            or not _CODES_RE.fullmatch(value)):
        raise UserError(f"invalid {what} {show(value)}: expected HTTP codes like 200, 200,302 or 200-399")
    for item in value.split(","):
        a, _, b = item.partition("-")
        first, last = int(a), int(b or a)
        if not (lo <= first <= hi and lo <= last <= hi):
            raise UserError(f"invalid {what} {value!r}: an ALB accepts codes from {lo} to {hi}")
        if last < first:
            raise UserError(f"invalid {what} {value!r}: the range {item} falls")
    return value


def check(hc: HealthCheck, where: str = "health_check") -> HealthCheck:
    """Rules between the keys (each key's range is checked where it is read)."""
    if hc.timeout >= hc.interval:
        raise UserError(f"invalid {where}: timeout ({hc.timeout}s) must be shorter than interval ({hc.interval}s)")
    return hc
