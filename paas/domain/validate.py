"""Input rules, shared by the CLI, the manifest parser and the service layer.

Plain functions over `re` on purpose: they run on every `paas deploy`, where import time is
the budget (see bench/cli_latency), and they are easy to fuzz. Each raises `UserError` with
one line that names the bad value and the rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from paas.domain.errors import UserError

NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,29}")
ENV_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SECRET_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")

APP_TYPES = ("web", "worker", "batch")
STRATEGIES = ("rolling", "blue-green", "canary")


def name(value: str, what: str = "name") -> str:
    """App, environment and process names: `^[a-z][a-z0-9-]{0,29}$`."""
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise UserError(
            f"invalid {what} {value!r}: use 1-30 characters, a-z, 0-9 and '-', starting with a letter"
        )
    return value


def choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise UserError(f"invalid {what} {value!r}: expected one of {', '.join(allowed)}")
    return value


def env_key(value: str) -> str:
    if not isinstance(value, str) or not ENV_KEY_RE.fullmatch(value) or len(value) > 255:
        raise UserError(
            f"invalid config key {value!r}: environment variable names are letters, digits and '_', "
            "not starting with a digit"
        )
    return value


def secret_name(value: str) -> str:
    if not isinstance(value, str) or not SECRET_NAME_RE.fullmatch(value):
        raise UserError(
            f"invalid secret name {value!r}: use letters, digits and '_', not starting with a digit"
        )
    return value


def port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise UserError(f"invalid port {value!r}: expected an integer from 1 to 65535")
    return value


def count(value: object, what: str = "count") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
        raise UserError(f"invalid {what} {value!r}: expected an integer from 0 to 1000")
    return value


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


# --- OCI image references -----------------------------------------------------------------
# Grammar from distribution/reference (the OCI de-facto grammar), anchored.

_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE_RE = re.compile(
    rf"(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?"
)
_NAME_MAX = 255
_DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}


@dataclass(frozen=True)
class ImageRef:
    repository: str
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        s = self.repository
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s


def image_ref(value: str) -> ImageRef:
    """Parse an OCI image reference; a bare name means tag `latest`, as docker does."""
    if not isinstance(value, str):
        raise UserError(f"invalid image reference {value!r}")
    m = _REFERENCE_RE.fullmatch(value)
    if not m:
        raise UserError(
            f"invalid image reference {value!r}: expected [registry/]name[:tag][@sha256:digest]"
        )
    repo = m.group("name")
    domain = m.group("domain")
    # A first component without '.', ':' or 'localhost' is a path, not a registry, and paths
    # are lowercase only: 'Foo/bar' is rejected here like docker does.
    if domain and not ("." in domain or ":" in domain or domain == "localhost"):
        if domain != domain.lower():
            raise UserError(f"invalid image reference {value!r}: repository names are lowercase")
    if len(repo) > _NAME_MAX:
        raise UserError(f"invalid image reference: repository name longer than {_NAME_MAX} characters")
    digest = m.group("digest")
    if digest:
        # The grammar admits any algorithm; registries and ECS accept the registered ones only
        # (OCI image spec, go-digest), with lowercase hex of the algorithm's exact length.
        algo, _, hexpart = digest.partition(":")
        size = _DIGEST_HEX.get(algo)
        if size is None:
            raise UserError(f"invalid image digest {digest!r}: the algorithm must be sha256, sha384 or sha512")
        if not re.fullmatch(rf"[0-9a-f]{{{size}}}", hexpart):
            raise UserError(f"invalid image digest {digest!r}: {algo} takes {size} lowercase hex digits")
    tag = m.group("tag")
    if tag is None and digest is None:
        tag = "latest"
    return ImageRef(repo, tag, digest)


# --- durations and key=value pairs -------------------------------------------------------

_DURATION_RE = re.compile(r"([0-9]{1,9})\s*(s|m|h|d|w)")
# ASCII digits only, and few of them: str.isdigit() accepts '²' (which int() rejects) and int()
# refuses strings of more than 4300 digits; neither may escape as anything but a UserError.
_UINT_RE = re.compile(r"[0-9]{1,9}")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration(value: str, what: str = "duration") -> int:
    """'90s', '15m', '24h', '7d', '2w' or plain seconds → seconds."""
    v = value.strip() if isinstance(value, str) else value
    if isinstance(v, str) and _UINT_RE.fullmatch(v):
        return int(v)
    m = _DURATION_RE.fullmatch(v) if isinstance(v, str) else None
    if not m:
        raise UserError(f"invalid {what} {value!r}: expected e.g. 90s, 15m, 24h, 7d")
    return int(m.group(1)) * _UNITS[m.group(2)]


def format_seconds(s: float) -> str:
    """The inverse of `duration()` for people: 45s, 2m05s, 3h10m."""
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def key_values(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """KEY=VALUE arguments; a repeated key is an error rather than a silent overwrite."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, val = pair.partition("=")
        if not sep:
            raise UserError(f"invalid argument {pair.split('=')[0]!r}: expected KEY=VALUE")
        env_key(key)
        if key in out:
            raise UserError(f"config key {key!r} given twice")
        if "\x00" in val:
            raise UserError(f"invalid value for {key}: NUL characters are not allowed")
        out[key] = val
    return out


def scale_pairs(pairs: tuple[str, ...] | list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    if not pairs:
        raise UserError("nothing to scale: give PROCESS=COUNT, e.g. web=3")
    for pair in pairs:
        proc, sep, val = pair.partition("=")
        if not sep or not _UINT_RE.fullmatch(val.strip()):
            raise UserError(f"invalid scale argument {pair!r}: expected PROCESS=COUNT, e.g. web=3")
        name(proc, "process name")
        out[proc] = count(int(val))
    return out


def version_label(value: str) -> int:
    """'v12' or '12' → 12."""
    v = value[1:] if isinstance(value, str) and value[:1] in ("v", "V") else value
    if not isinstance(v, str) or not _UINT_RE.fullmatch(v) or int(v) < 1:
        raise UserError(f"invalid release {value!r}: expected vN, e.g. v3")
    return int(v)


def canary_steps(steps: list[int]) -> list[int]:
    """Traffic percentages: strictly rising, each in 1..100, ending at 100."""
    if not steps:
        raise UserError("canary steps are empty: e.g. 10,100")
    for s in steps:
        if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= 100:
            raise UserError(f"invalid canary step {s!r}: each step is a percentage from 1 to 100")
    if any(b <= a for a, b in zip(steps, steps[1:])):
        raise UserError(f"invalid canary steps {steps}: they must rise strictly")
    if steps[-1] != 100:
        raise UserError(f"invalid canary steps {steps}: the last step must be 100")
    return steps


def rate(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise UserError(f"invalid {what} {value!r}: expected a number from 0 to 1")
    return float(value)


def non_negative(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1e12:
        # also rejects NaN, infinity, and integers too big for a float
        raise UserError(f"invalid {what} {value!r}: expected a number from 0 to 1e12")
    return float(value)
