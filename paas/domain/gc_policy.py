"""Garbage-collection policy per app type: the knobs, their defaults, and how overrides are read.

Three knobs, defaulted per app type and overridable per app (`apps.gc_policy`, set with
`paas apps gc-policy`) and, for tests and demos, by settings (`PAAS_GC_*`):

- `keep_task_definitions`: task-definition revisions kept per family (the newest N, 1-1000).
- `previous_colour_keep_seconds`: how long the previous colour keeps running after a
  blue-green or canary deploy finished (so `paas rollback` is one weight flip).
- `idle_scale_to_zero_seconds`: when a colour with no traffic that no rollback needs is scaled
  to 0; None (``never``, ``none``, ``off``) = never.

Durations are text ('30m', '2h') or seconds, at most 10 years. The decisions that use the
policy live in paas/planner/gc.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from paas.domain import validate as v
from paas.domain.errors import UserError


@dataclass(frozen=True)
class GcPolicy:
    keep_task_definitions: int
    previous_colour_keep_seconds: float
    idle_scale_to_zero_seconds: float | None  # None: never

    def to_json(self) -> dict[str, Any]:
        return {"keep_task_definitions": self.keep_task_definitions,
                "previous_colour_keep_seconds": self.previous_colour_keep_seconds,
                "idle_scale_to_zero_seconds": self.idle_scale_to_zero_seconds}


DEFAULTS: dict[str, GcPolicy] = {
    "web": GcPolicy(keep_task_definitions=5, previous_colour_keep_seconds=3600.0, idle_scale_to_zero_seconds=None),
    "worker": GcPolicy(keep_task_definitions=5, previous_colour_keep_seconds=600.0, idle_scale_to_zero_seconds=None),
    "batch": GcPolicy(keep_task_definitions=3, previous_colour_keep_seconds=0.0, idle_scale_to_zero_seconds=0.0),
}
KEYS = tuple(GcPolicy.__dataclass_fields__)
MAX_KEEP = 1000
NEVER = ("never", "none", "off")


def _keep(value: Any, what: str) -> int:
    if isinstance(value, str) and v.UINT_RE.fullmatch(value.strip(" ")):
        value = int(value.strip(" "))
    return v.integer(value, what, 1, MAX_KEEP)


def _seconds(value: Any, what: str, allow_never: bool = False) -> float | None:
    if allow_never and (value is None or (isinstance(value, str) and value.strip(" ").lower() in NEVER)):
        return None
    return v.seconds(value, what)


def _validated(key: str, value: Any) -> Any:
    what = key.replace("_", " ")
    if key == "keep_task_definitions":
        return _keep(value, what)
    if key == "previous_colour_keep_seconds":
        return _seconds(value, what)
    return _seconds(value, what, allow_never=True)


def validate_overrides(overrides: Any, what: str = "gc policy") -> dict[str, Any]:
    """Check an app's `gc_policy` JSON; returns it normalised (durations in seconds)."""
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise UserError(f"invalid {what}: expected a JSON object with keys {', '.join(KEYS)}")
    unknown = sorted(set(overrides) - set(KEYS), key=str)
    if unknown:
        raise UserError(f"invalid {what}: unknown key {v.show(unknown[0])} (known: {', '.join(KEYS)})")
    return {k: _validated(k, val) for k, val in overrides.items()}


def policy_for(app_type: str, overrides: dict | None = None, settings: dict | None = None) -> GcPolicy:
    """The app type's defaults, then settings (`PAAS_GC_*`), then the app's own overrides."""
    if not isinstance(app_type, str) or app_type not in DEFAULTS:
        raise UserError(f"invalid app type {v.show(app_type)}: expected one of {', '.join(DEFAULTS)}")
    base = DEFAULTS[app_type]
    merged = {**validate_overrides(settings, "GC setting"), **validate_overrides(overrides)}
    return replace(base, **merged)
