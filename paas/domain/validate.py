"""Input rules, shared by the CLI, the manifest parser and the service layer.

Plain functions over `re` on purpose: they run on every `paas deploy`, where import time is
the budget (see bench/cli_latency), and they are easy to fuzz. Each raises `UserError` with
one line that names the bad value and the rule.
"""

from __future__ import annotations

import re

from paas.domain import limits
from paas.domain.errors import UserError
from paas.domain.image import ImageRef, image_ref  # noqa: F401  (re-exported: v.image_ref)
from paas.domain.text import CONTROL_RE, SURROGATE_RE, line, show  # noqa: F401  (re-exported)
from paas.domain.lazyre import lazy

# Every pattern is ASCII-only (re.ASCII, explicit classes): \w and \d would otherwise accept
# 'ü' or '٣', which AWS, Docker and Postgres' checks do not.
NAME_RE = lazy(r"[a-z][a-z0-9-]{0,29}", re.ASCII)
ENV_KEY_RE = lazy(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
SECRET_NAME_RE = lazy(r"[A-Za-z_][A-Za-z0-9_]{0,127}", re.ASCII)
_SURROGATE_RE = SURROGATE_RE

APP_TYPES = ("web", "worker", "batch")
# The deployment strategies, defined here once: the CLI's choices, the manifest's
# `strategy.default`, the database check constraint and the planner's recipes use this tuple.
STRATEGIES = ("rolling", "blue-green", "canary")


def name(value: str, what: str = "name") -> str:
    """App, environment and process names: `^[a-z][a-z0-9-]{0,29}$`."""
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise UserError(
            f"invalid {what} {show(value)}: use 1-30 characters, a-z, 0-9 and '-', starting with a letter"
        )
    return value


def choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise UserError(f"invalid {what} {show(value)}: expected one of {', '.join(allowed)}")
    return value


def env_key(value: str) -> str:
    if not isinstance(value, str) or not ENV_KEY_RE.fullmatch(value) or len(value) > limits.CONFIG_KEY_MAX:
        raise UserError(
            f"invalid config key {show(value)}: environment variable names are letters, digits and '_', "
            f"not starting with a digit, at most {limits.CONFIG_KEY_MAX} characters"
        )
    return value


def secret_name(value: str) -> str:
    if not isinstance(value, str) or not SECRET_NAME_RE.fullmatch(value):
        raise UserError(
            f"invalid secret name {show(value)}: use letters, digits and '_', not starting with a digit"
        )
    return value


def integer(value: object, what: str, lo: int, hi: int) -> int:
    """A whole number in lo..hi (bool is not a number here, and a float is not whole)."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise UserError(f"invalid {what} {show(value)}: expected an integer from {lo} to {hi}")
    return value


def port(value: object) -> int:
    return integer(value, "port", 1, 65535)


def count(value: object, what: str = "count") -> int:
    return integer(value, what, 0, 1000)


# --- free text ---------------------------------------------------------------------------

def message(value: str | None) -> str | None:
    """`--message`: None stays None (whether one is required is the environment's rule)."""
    return None if value is None else line(value, "message", limits.MESSAGE_MAX)


def actor(value: str) -> str:
    """Who asked (`--actor`, default the OS user): recorded on every release and event."""
    line(value, "actor", limits.ACTOR_MAX)
    if not value.strip():
        raise UserError("invalid actor: empty")
    return value


def team(value: str | None) -> str | None:
    return None if value is None else line(value, "team name", limits.TEAM_MAX)


# --- Fargate task sizes -------------------------------------------------------------------

def _range(lo: int, hi: int, step: int) -> frozenset[int]:
    return frozenset(range(lo, hi + 1, step))


FARGATE_SIZES: dict[int, frozenset[int]] = {
    256: frozenset({512, 1024, 2048}),
    512: _range(1024, 4096, 1024),
    1024: _range(2048, 8192, 1024),
    2048: _range(4096, 16384, 1024),
    4096: _range(8192, 30720, 1024),
    8192: _range(16384, 61440, 4096),
    16384: _range(32768, 122880, 8192),
}


def fargate_size(cpu: object, memory: object) -> tuple[int, int]:
    """Only the cpu/memory pairs Fargate accepts (AWS ECS developer guide, task size table)."""
    for v, what in ((cpu, "cpu"), (memory, "memory")):
        if isinstance(v, bool) or not isinstance(v, int):
            raise UserError(f"invalid {what} {v!r}: expected an integer (cpu units / MiB)")
    allowed = FARGATE_SIZES.get(cpu)  # type: ignore[arg-type]
    if allowed is None:
        raise UserError(
            f"invalid cpu {cpu}: Fargate accepts {', '.join(str(c) for c in FARGATE_SIZES)}"
        )
    if memory not in allowed:
        lo, hi = min(allowed), max(allowed)
        raise UserError(
            f"invalid cpu/memory pair {cpu}/{memory}: Fargate accepts {lo}-{hi} MiB for cpu {cpu}"
        )
    return cpu, memory  # type: ignore[return-value]


# --- durations and key=value pairs -------------------------------------------------------

_DURATION_RE = lazy(r"([0-9]{1,9}) *(s|m|h|d|w)", re.ASCII)
# ASCII digits only, and few of them: str.isdigit() accepts '²' (which int() rejects) and int()
# refuses strings of more than 4300 digits; neither may escape as anything but a UserError.
UINT_RE = _UINT_RE = lazy(r"[0-9]{1,9}", re.ASCII)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration(value: str, what: str = "duration", maximum: int = limits.DURATION_MAX_SECONDS) -> int:
    """'90s', '15m', '24h', '7d', '2w' or plain seconds → seconds, at most `maximum` (10 years)."""
    v = value.strip(" ") if isinstance(value, str) else value
    if isinstance(v, str) and _UINT_RE.fullmatch(v):
        n = int(v)
    else:
        m = _DURATION_RE.fullmatch(v) if isinstance(v, str) else None
        if not m:
            raise UserError(f"invalid {what} {show(value)}: expected e.g. 90s, 15m, 24h, 7d")
        n = int(m.group(1)) * _UNITS[m.group(2)]
    if n > maximum:
        raise UserError(f"invalid {what} {show(value)}: at most {_long(maximum)}")
    return n


def _long(s: int) -> str:
    year = 365 * 86400
    return f"{s // year} years" if s >= year and s % year == 0 else f"{format_seconds(s)} ({s} s)"


def seconds(value: object, what: str, maximum: float = limits.DURATION_MAX_SECONDS) -> float:
    """A duration given as text ('5m') or as a number of seconds: finite, 0..maximum."""
    if isinstance(value, str):
        return float(duration(value, what, int(maximum)))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= maximum:
        # also NaN and infinity, which compare false
        raise UserError(f"invalid {what} {show(value)}: expected seconds from 0 to {maximum:g}, or e.g. 90s, 15m")
    return float(value)


def format_seconds(s: float) -> str:
    """The inverse of `duration()` for people: 45s, 2m05s, 3h10m, 12d03h."""
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400 * 2:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


# --- config values and secrets -------------------------------------------------------------

def config_value(key: str, value: object) -> str:
    """A plain env var value: any text (newlines and tabs included) except NUL, which exec()
    cannot pass, and undecodable bytes; at most 32 KiB of UTF-8."""
    if not isinstance(value, str):
        raise UserError(f"invalid value for {key}: expected text")
    if "\x00" in value:
        raise UserError(f"invalid value for {key}: NUL characters are not allowed")
    if _SURROGATE_RE.search(value):
        raise UserError(f"invalid value for {key}: not valid UTF-8 text")
    size = len(value.encode("utf-8"))
    if size > limits.CONFIG_VALUE_MAX_BYTES:
        raise UserError(f"invalid value for {key}: {size} bytes, at most {limits.CONFIG_VALUE_MAX_BYTES} allowed")
    return value


def config_size(variables: dict[str, str]) -> int:
    """Bytes the variables take in the task definition (its `environment` JSON)."""
    import json

    body = [{"name": k, "value": val} for k, val in variables.items()]
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def config_vars(variables: dict[str, str]) -> dict[str, str]:
    """A whole config version (after merging a `config set` into the previous one): every key and
    value valid, at most 500 keys and 48 KiB in the task definition. Call with the merged vars."""
    if not isinstance(variables, dict):
        raise UserError("invalid config: expected KEY=VALUE pairs")
    if len(variables) > limits.CONFIG_KEYS_MAX:
        raise UserError(f"too many config keys: {len(variables)}, at most {limits.CONFIG_KEYS_MAX}")
    for k, val in variables.items():
        env_key(k)
        config_value(k, val)
    size = config_size(variables)
    if size > limits.CONFIG_TOTAL_MAX_BYTES:
        raise UserError(f"config too large: {size} bytes in the task definition, at most "
                        f"{limits.CONFIG_TOTAL_MAX_BYTES} (ECS caps a task definition at 64 KiB)")
    return variables


def secret_value(data: bytes | str, secret: str) -> str:
    """A secret read from stdin or a file (bytes: read it in binary, at most the limit + 2 bytes):
    strict UTF-8, one trailing newline dropped, not empty, no NUL, at most the 64 KiB Secrets
    Manager stores. The message never contains the value."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UserError(f"the value for secret {secret} is not valid UTF-8 (byte {e.start})") from None
    if not isinstance(data, str) or _SURROGATE_RE.search(data):
        raise UserError(f"the value for secret {secret} is not valid UTF-8 text")
    value = data[:-1] if data.endswith("\n") else data
    if value.endswith("\r"):
        value = value[:-1]
    if not value.strip():
        raise UserError(f"the value for secret {secret} is empty")
    if "\x00" in value:
        raise UserError(f"the value for secret {secret} contains a NUL character")
    size = len(value.encode("utf-8"))
    if size > limits.SECRET_VALUE_MAX_BYTES:
        raise UserError(f"the value for secret {secret} is larger than Secrets Manager's {limits.SECRET_VALUE_MAX_BYTES} bytes "
                        f"({size} bytes)")
    return value


def key_values(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """KEY=VALUE arguments; a repeated key is an error rather than a silent overwrite."""
    out: dict[str, str] = {}
    for pair in pairs:
        if not isinstance(pair, str):
            raise UserError("invalid argument: expected KEY=VALUE")
        key, sep, val = pair.partition("=")
        if not sep:
            raise UserError(f"invalid argument {show(pair.split('=')[0])}: expected KEY=VALUE")
        env_key(key)
        if key in out:
            raise UserError(f"config key {key!r} given twice")
        out[key] = config_value(key, val)
    if len(out) > limits.CONFIG_KEYS_MAX:
        raise UserError(f"too many config keys: {len(out)}, at most {limits.CONFIG_KEYS_MAX}")
    return out


def command(value: object, what: str = "command") -> str:
    """A process command: printable, at most 4096 characters, and one that shlex can split (so an
    unclosed quote is refused here, not by the driver at deploy time)."""
    import shlex

    if not isinstance(value, str):
        raise UserError(f"invalid {what}: expected a string")
    line(value, what, limits.COMMAND_MAX)
    try:
        words = shlex.split(value)
    except ValueError as e:  # "No closing quotation", "No escaped character"
        raise UserError(f"invalid {what} {show(value)}: {str(e).lower()}") from None
    if not words:
        raise UserError(f"invalid {what}: empty")
    return value


def scale_pairs(pairs: tuple[str, ...] | list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    if not pairs:
        raise UserError("nothing to scale: give PROCESS=COUNT, e.g. web=3")
    for pair in pairs:
        proc, sep, val = pair.partition("=")
        if not sep or not _UINT_RE.fullmatch(val.strip()):
            raise UserError(f"invalid scale argument {show(pair)}: expected PROCESS=COUNT, e.g. web=3")
        name(proc, "process name")
        out[proc] = count(int(val))
    return out


def version_label(value: str) -> int:
    """'v12' or '12' → 12."""
    v = value[1:] if isinstance(value, str) and value[:1] in ("v", "V") else value
    if not isinstance(v, str) or not _UINT_RE.fullmatch(v) or int(v) < 1:
        raise UserError(f"invalid release {show(value)}: expected vN, e.g. v3")
    return int(v)


def canary_steps(steps: list[int]) -> list[int]:
    """Traffic percentages: strictly rising, each in 1..100, ending at 100."""
    if not isinstance(steps, (list, tuple)):
        raise UserError("invalid canary steps: expected a list like [10, 100]")
    if not steps:
        raise UserError("canary steps are empty: e.g. 10,100")
    for s in steps:
        if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= 100:
            raise UserError(f"invalid canary step {show(s)}: each step is a percentage from 1 to 100")
    if any(b <= a for a, b in zip(steps, steps[1:])):
        raise UserError(f"invalid canary steps {list(steps)}: they must rise strictly")
    if steps[-1] != 100:
        raise UserError(f"invalid canary steps {list(steps)}: the last step must be 100")
    return list(steps)


def rate(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise UserError(f"invalid {what} {show(value)}: expected a number from 0 to 1")
    return float(value)


def number(value: object, what: str, lo: float, hi: float) -> float:
    """A finite number in lo..hi (NaN and infinity compare false, so they are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise UserError(f"invalid {what} {show(value)}: expected a number from {lo:g} to {hi:g}")
    return float(value)


def non_negative(value: object, what: str) -> float:
    return number(value, what, 0, 1e12)
