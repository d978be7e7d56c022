"""Simulated ALB health checks of simulated tasks, with the target group's own settings.

moto reports every registered target ``healthy``. An ALB instead sends a health check to
each target every ``HealthCheckIntervalSeconds`` and judges the answer:

* a target starts ``initial`` (``Elb.RegistrationInProgress``, then
  ``Elb.InitialHealthChecking``) and is ``healthy`` after it passes one check (AWS: "After
  your target is registered, it must pass one health check to be considered healthy");
* ``UnhealthyThresholdCount`` consecutive failures make it ``unhealthy``; an unhealthy target
  needs ``HealthyThresholdCount`` consecutive passes to be ``healthy`` again;
* a check fails when the app does not answer yet (``Target.FailedHealthChecks``), answers a
  code outside the ``Matcher`` (``Target.ResponseCodeMismatch``, "Health checks failed with
  these codes: [503]") or answers no faster than ``HealthCheckTimeoutSeconds``
  (``Target.Timeout``).

Checks happen at registration and then every interval after it, all evaluated in simulated
time (``paas.clock``), so a slow tick or a loaded machine never changes an outcome: every
check instant that has passed is evaluated in order. The app's behaviour comes from the
image profile: ``ready_seconds`` after RUNNING it answers ``health_code`` in ``health_ms``.

Simplification: one check per interval (a real ALB checks from each of its nodes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .profiles import Profile

STATE_KEY = "_paas_state"
REASON_KEY = "_paas_reason"
DESCRIPTION_KEY = "_paas_description"


@dataclass(frozen=True)
class CheckSettings:
    interval: float
    timeout: float
    healthy_threshold: int
    unhealthy_threshold: int
    matcher: str
    enabled: bool = True

    @classmethod
    def of(cls, tg: Any) -> "CheckSettings":
        """Read a moto target group (moto keeps some counts as strings)."""
        enabled = bool(getattr(tg, "health_check_enabled", True))
        return cls(
            interval=float(tg.health_check_interval_seconds or 30),
            timeout=float(tg.health_check_timeout_seconds or 5),
            healthy_threshold=int(tg.healthy_threshold_count or 5),
            unhealthy_threshold=int(tg.unhealthy_threshold_count or 2),
            matcher=str((getattr(tg, "matcher", None) or {}).get("HttpCode") or "200"),
            enabled=enabled,
        )


def code_matches(matcher: str, code: int) -> bool:
    """ALB matcher syntax: ``200``, ``200,202``, ``200-299`` (and combinations)."""
    for part in matcher.replace(" ", "").split(","):
        if "-" in part:
            low, _, high = part.partition("-")
            if low.isdigit() and high.isdigit() and int(low) <= code <= int(high):
                return True
        elif part.isdigit() and int(part) == code:
            return True
    return False


@dataclass
class TargetCheck:
    """Health-check state of one task in one target group."""

    registered_at: float
    next_check: float
    state: str = "initial"
    reason: str | None = "Elb.RegistrationInProgress"
    description: str | None = "Target registration is in progress"
    passes: int = 0
    failures: int = 0
    healthy_since: float | None = None
    unhealthy_since: float | None = None

    def answer(self, profile: Profile, ready_at: float | None, at: float, s: CheckSettings) -> tuple[bool, str, str]:
        """(passed, reason code, description) of one check at ``at``."""
        if ready_at is None or at < ready_at:
            return False, "Target.FailedHealthChecks", "Health checks failed"
        if profile.health_ms / 1000.0 >= s.timeout:
            return False, "Target.Timeout", "Request timed out"
        if not code_matches(s.matcher, profile.health_code):
            return (False, "Target.ResponseCodeMismatch",
                    f"Health checks failed with these codes: [{profile.health_code}]")
        return True, "", ""

    def advance(self, profile: Profile, ready_at: float | None, now: float, s: CheckSettings) -> None:
        """Evaluate every check instant up to ``now``, in order."""
        if not s.enabled:  # health checks off: the ALB treats the target as healthy
            if self.state != "healthy":
                self.state, self.reason, self.description = "healthy", None, None
                self.healthy_since, self.unhealthy_since = max(self.registered_at, min(now, self.next_check)), None
            return
        while self.next_check <= now:
            at = self.next_check
            self.next_check = at + s.interval
            ok, reason, description = self.answer(profile, ready_at, at, s)
            if ok:
                self.passes, self.failures = self.passes + 1, 0
                if self.state == "initial" or (self.state == "unhealthy" and self.passes >= s.healthy_threshold):
                    self.state, self.reason, self.description = "healthy", None, None
                    self.healthy_since, self.unhealthy_since = at, None
            else:
                self.failures, self.passes = self.failures + 1, 0
                if self.failures >= s.unhealthy_threshold:
                    if self.state != "unhealthy":
                        self.unhealthy_since, self.healthy_since = at, None
                    self.state, self.reason, self.description = "unhealthy", reason, description
                elif self.state == "initial":
                    self.reason, self.description = "Elb.InitialHealthChecking", "Initial health checks in progress"


def target_dict(target_id: str, port: int, check: TargetCheck | None, state: str | None = None) -> dict[str, Any]:
    """The moto target dict with the simulated state the patched DescribeTargetHealth reports."""
    if check is None:
        return {"Id": target_id, "Port": port, STATE_KEY: state or "draining",
                REASON_KEY: "Target.DeregistrationInProgress",
                DESCRIPTION_KEY: "Target deregistration is in progress"}
    return {"Id": target_id, "Port": port, STATE_KEY: check.state, REASON_KEY: check.reason,
            DESCRIPTION_KEY: check.description}
