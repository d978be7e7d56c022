"""Where paas keeps its local files, and the settings read from the environment.

Kept import-light: every CLI invocation reads it. Durations are settings so tests and the
demo run in seconds while production uses minutes (DESIGN.md §6). A duration accepts what a
flag accepts (`90s`, `5m`, `2h`, `7d`, `2w`, whole seconds) and also fractional seconds
(`0.5`, for tests). A bad value is never silently replaced by the default: `check()` runs
when `paas` starts (every command, the worker included) and reports the first bad setting as
one line naming the variable, exit code 2.
"""

from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

from paas.domain.errors import UserError
from paas.domain.lazyre import lazy


class SettingError(UserError):
    """A PAAS_* environment variable holds a value paas cannot use (exit code 2)."""


def _home() -> str:
    explicit = os.environ.get("PAAS_HOME")
    if explicit:
        return explicit
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "paas")


def home() -> Path:
    """`$PAAS_HOME`, else the user's data directory (XDG on Linux)."""
    from pathlib import Path  # not at import: every command imports this module, few need a Path

    return Path(_home())


def dev_state_path() -> Path:
    return home() / "dev-state.json"


def read_dev_state() -> dict:
    """Settings written by `paas dev up`, if it is running; {} otherwise."""
    try:
        with open(os.path.join(_home(), "dev-state.json"), encoding="utf-8") as f:
            state = json.loads(f.read())
    except (OSError, ValueError):
        return {}
    if not isinstance(state, dict):
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


def dev_env() -> str | None:
    """The environment `paas dev up` bootstrapped, when it is running and this process talks to
    its database (PAAS_DATABASE_URL unset, or the same URL): the default for `--env` after
    $PAAS_ENV."""
    state = read_dev_state()
    env = state.get("env")
    if not isinstance(env, str) or not env:
        return None
    explicit = os.environ.get("PAAS_DATABASE_URL")
    if explicit and explicit != state.get("database_url"):
        return None
    return env


# --------------------------------------------------------------------------- values

_DECIMAL_RE = lazy(r"[0-9]{1,12}(?:\.[0-9]{1,9})?", re.ASCII)
_TEN_YEARS = 10 * 365 * 86400


def _show(raw: str) -> str:
    from paas.domain.text import show

    return show(raw, 40)


def parse_seconds(name: str, raw: str, minimum: float = 0.0, positive: bool = False) -> float:
    """A duration setting: `0.5`, `300`, `90s`, `5m`, `2h`, `7d`, `2w` → seconds."""
    text = raw.strip()
    if _DECIMAL_RE.fullmatch(text):
        value = float(text)
    else:
        from paas.domain import validate as v

        try:
            value = float(v.duration(text, name))
        except UserError:
            raise SettingError(f"{name}={_show(raw)}: expected seconds or a duration such as 90s, 5m, 2h, 7d") from None
    if value > _TEN_YEARS:
        raise SettingError(f"{name}={_show(raw)}: at most 10 years")
    if positive and value <= 0:
        raise SettingError(f"{name}={_show(raw)}: must be more than 0 seconds")
    if value < minimum:
        raise SettingError(f"{name}={_show(raw)}: at least {minimum:g} seconds")
    return value


def parse_number(name: str, raw: str, what: str, minimum: float = 0.0, maximum: float = 1e9) -> float:
    """A plain non-negative number setting (a rate, a burst size)."""
    text = raw.strip()
    if not _DECIMAL_RE.fullmatch(text) or not minimum <= float(text) <= maximum:
        raise SettingError(f"{name}={_show(raw)}: expected {what}")
    return float(text)


def _env(name: str) -> str | None:
    raw = os.environ.get(name)
    return raw if raw is not None and raw.strip() else None


def duration(name: str, default: float, *, positive: bool = True) -> float:
    raw = _env(name)
    return default if raw is None else parse_seconds(name, raw, positive=positive)


# (variable, attribute, default seconds, must be > 0)
DURATIONS: tuple[tuple[str, str, float, bool], ...] = (
    ("PAAS_LEASE_TTL", "lease_ttl", 30.0, True),
    ("PAAS_HEARTBEAT", "heartbeat", 10.0, True),
    ("PAAS_POLL_INTERVAL", "poll_interval", 5.0, True),
    ("PAAS_SWEEP_INTERVAL", "sweep_interval", 5.0, True),
    ("PAAS_RESYNC_INTERVAL", "resync_interval", 300.0, True),
    ("PAAS_ROLLOUT_DEADLINE", "rollout_deadline", 900.0, True),
    ("PAAS_BAKE", "bake", 300.0, False),
    ("PAAS_METRIC_PERIOD", "metric_period", 60.0, True),
    ("PAAS_STACK_POLL", "stack_poll", 5.0, True),
    ("PAAS_GC_INTERVAL", "gc_interval", 3600.0, True),
    ("PAAS_JOBS_POLL", "jobs_poll", 300.0, True),  # how often a steady app with jobs looks for their runs
    ("PAAS_LOG_POLL", "log_poll", 1.0, True),  # how often `paas run` and `paas logs -f` poll (interactive)
    # how long a worker reuses what it saw of an app under its own continuous lease (0: never)
    ("PAAS_OBSERVE_MAX_AGE", "observe_max_age", 60.0, False),
    ("PAAS_PUSH_WAIT", "push_wait", 20.0, False),  # SQS long poll of the push queue (0-20 s)
    ("PAAS_PIPELINE_RESYNC", "pipeline_resync", 300.0, True),  # how often a pipeline's repository is listed
)


class Durations:
    """Seconds; each overridable by the environment variable of DURATIONS. A bad value raises
    SettingError (never a silent fallback to the default)."""

    lease_ttl: float
    heartbeat: float
    poll_interval: float
    sweep_interval: float
    resync_interval: float
    rollout_deadline: float
    bake: float
    metric_period: float
    stack_poll: float
    gc_interval: float
    jobs_poll: float
    log_poll: float
    observe_max_age: float
    push_wait: float
    pipeline_resync: float

    def __init__(self) -> None:
        for name, attr, default, positive in DURATIONS:
            setattr(self, attr, duration(name, default, positive=positive))
        if self.push_wait > 20:
            raise SettingError(f"PAAS_PUSH_WAIT ({self.push_wait:g}s) must be at most 20s (SQS long polling)")
        if self.heartbeat >= self.lease_ttl:
            raise SettingError(f"PAAS_HEARTBEAT ({self.heartbeat:g}s) must be shorter than PAAS_LEASE_TTL "
                               f"({self.lease_ttl:g}s): a lease would expire between heartbeats")


DEFAULT_AWS_RPS = 20.0


def aws_rate() -> tuple[float, float | None]:
    """`PAAS_AWS_RPS` (requests per second per account, 0: unlimited) and `PAAS_AWS_BURST`."""
    raw_rate, raw_burst = _env("PAAS_AWS_RPS"), _env("PAAS_AWS_BURST")
    rate = DEFAULT_AWS_RPS if raw_rate is None else parse_number(
        "PAAS_AWS_RPS", raw_rate, "requests per second, e.g. 20 (0: unlimited)")
    burst = None if raw_burst is None else parse_number(
        "PAAS_AWS_BURST", raw_burst, "a number of requests of at least 1, e.g. 40", minimum=1.0)
    return rate, burst


def shared_paces() -> bool:
    """`PAAS_AWS_SHARED_PACES` (default on): workers pace throttled AWS operations together
    through the database (paas/db/paces.py) rather than each on its own."""
    raw = _env("PAAS_AWS_SHARED_PACES")
    if raw is None:
        return True
    value = raw.strip().lower()
    if value in ("1", "on", "true", "yes"):
        return True
    if value in ("0", "off", "false", "no"):
        return False
    raise SettingError(f"PAAS_AWS_SHARED_PACES must be on or off, got {raw[:40]!r}")


# (variable, attribute, default seconds): notification delivery (paas/reconciler/notify.py)
NOTIFY_DURATIONS: tuple[tuple[str, str, float], ...] = (
    ("PAAS_NOTIFY_TIMEOUT", "timeout", 5.0),  # one webhook request, connect + answer
    ("PAAS_NOTIFY_LEASE", "lease", 60.0),  # a claimed batch is the worker's this long
    ("PAAS_NOTIFY_BACKOFF", "backoff", 5.0),  # the first retry's delay; doubles each attempt
    ("PAAS_NOTIFY_BACKOFF_MAX", "backoff_max", 900.0),  # the longest delay between attempts
    ("PAAS_NOTIFY_MAX_AGE", "max_age", 86400.0),  # a notification older than this that fails is dead
    ("PAAS_NOTIFY_CACHE", "cache", 60.0),  # how long a worker keeps a URL and secret read from SSM
    ("PAAS_NOTIFY_POLL", "poll", 5.0),  # how often an idle worker looks for due notifications
)
NOTIFY_BATCH = 4  # rows a worker claims at once (sent one after the other)


class NotifySettings:
    """Seconds; each overridable by the environment variable of NOTIFY_DURATIONS."""

    timeout: float
    lease: float
    backoff: float
    backoff_max: float
    max_age: float
    cache: float
    poll: float
    batch: int = NOTIFY_BATCH

    def __init__(self) -> None:
        for name, attr, default in NOTIFY_DURATIONS:
            setattr(self, attr, duration(name, default, positive=attr != "cache"))
        if self.timeout * self.batch * 2 > self.lease:
            raise SettingError(f"PAAS_NOTIFY_LEASE ({self.lease:g}s) must be at least twice the time a batch "
                               f"of {self.batch} requests may take ({self.batch} × PAAS_NOTIFY_TIMEOUT = "
                               f"{self.timeout * self.batch:g}s)")
        if self.backoff > self.backoff_max:
            raise SettingError(f"PAAS_NOTIFY_BACKOFF ({self.backoff:g}s) must not exceed PAAS_NOTIFY_BACKOFF_MAX "
                               f"({self.backoff_max:g}s)")


GC_SETTINGS = {
    "PAAS_GC_KEEP_TASK_DEFINITIONS": "keep_task_definitions",
    "PAAS_GC_PREVIOUS_COLOUR_KEEP": "previous_colour_keep_seconds",
    "PAAS_GC_IDLE_SCALE_TO_ZERO": "idle_scale_to_zero_seconds",
}


def gc_settings() -> dict[str, str]:
    """Overrides of every app type's GC defaults (tests, demos): seconds, a duration such as 30m,
    or `never` (idle scale-to-zero). Validated by `check()` and where the policy is built."""
    return {key: os.environ[name].strip() for name, key in GC_SETTINGS.items() if os.environ.get(name, "").strip()}


def check() -> None:
    """Every PAAS_* setting that is set, parsed once: SettingError names the first bad one.
    Costs a few environment lookups when nothing is set (it runs on every CLI start)."""
    Durations()
    if any(_env(name) is not None for name, _, _ in NOTIFY_DURATIONS):
        NotifySettings()
    aws_rate()
    shared_paces()
    gc = {name: os.environ[name] for name in GC_SETTINGS if _env(name) is not None}
    if gc:
        from paas.domain.gc_policy import validate_overrides

        for name, raw in gc.items():
            try:
                validate_overrides({GC_SETTINGS[name]: raw.strip()})
            except UserError as e:
                detail = str(e).split(": ", 1)[-1]
                raise SettingError(f"{name}={_show(raw)}: {detail}") from None
    if _env("PAAS_CLOCK_RATE") is not None or _env("PAAS_CLOCK_EPOCH") is not None:
        from paas.clock import warp_from_env

        try:
            warp_from_env()
        except ValueError as e:
            raise SettingError(str(e)) from None
