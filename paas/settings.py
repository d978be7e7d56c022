"""Where paas keeps its local files, and the tunable durations.

Kept import-light: every CLI invocation reads it. Durations are settings so tests and the
demo run in seconds while production uses minutes (DESIGN.md §6).
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def home() -> Path:
    """`$PAAS_HOME`, else the user's data directory (XDG on Linux)."""
    explicit = os.environ.get("PAAS_HOME")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "paas"


def dev_state_path() -> Path:
    return home() / "dev-state.json"


def read_dev_state() -> dict:
    """Settings written by `paas dev up`, if it is running; {} otherwise."""
    try:
        state = json.loads(dev_state_path().read_text())
    except (OSError, ValueError):
        return {}
    pid = state.get("pid")
    if isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return {}
        except PermissionError:
            pass
    return state


def _float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


class Durations:
    """Seconds; every one overridable by an environment variable of the same name."""

    def __init__(self) -> None:
        self.lease_ttl = _float("PAAS_LEASE_TTL", 30.0)
        self.heartbeat = _float("PAAS_HEARTBEAT", 10.0)
        self.poll_interval = _float("PAAS_POLL_INTERVAL", 5.0)
        self.sweep_interval = _float("PAAS_SWEEP_INTERVAL", 5.0)
        self.resync_interval = _float("PAAS_RESYNC_INTERVAL", 300.0)
        self.rollout_deadline = _float("PAAS_ROLLOUT_DEADLINE", 900.0)
        self.bake = _float("PAAS_BAKE", 300.0)
        self.metric_period = _float("PAAS_METRIC_PERIOD", 60.0)
        self.stack_poll = _float("PAAS_STACK_POLL", 5.0)
        self.gc_interval = max(1.0, _float("PAAS_GC_INTERVAL", 3600.0))
        self.jobs_poll = max(0.1, _float("PAAS_JOBS_POLL", 300.0))
        # how often `paas run` and `paas logs -f` poll CloudWatch Logs and ECS (interactive)
        self.log_poll = max(0.05, _float("PAAS_LOG_POLL", 1.0))


GC_SETTINGS = {
    "PAAS_GC_KEEP_TASK_DEFINITIONS": "keep_task_definitions",
    "PAAS_GC_PREVIOUS_COLOUR_KEEP": "previous_colour_keep_seconds",
    "PAAS_GC_IDLE_SCALE_TO_ZERO": "idle_scale_to_zero_seconds",
}


def gc_settings() -> dict[str, str]:
    """Overrides of every app type's GC defaults (tests, demos): seconds, a duration such as 30m,
    or `never` (idle scale-to-zero). Validated where the policy is built."""
    return {key: os.environ[name].strip() for name, key in GC_SETTINGS.items() if os.environ.get(name, "").strip()}
