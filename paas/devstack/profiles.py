"""Behaviour profiles for the simulated ECS data plane, chosen per container image.

A profile says how a (simulated) container built from a given image behaves: how long it
takes to start (``start_seconds``) and to answer its health check (``ready_seconds``), what
that check answers (``health_code``, ``health_ms``), whether it crash-loops or a fraction of
its tasks crash (``fail_ratio``), what fraction of requests fail with a 5xx and how slow it
answers, how long a one-off run takes and how it exits (``run_seconds``, ``exit_code``), and
what it prints (``log``, ``log_every_seconds``, ``crash_message``). Nothing here runs a
container; the data plane (`paas.devstack.dataplane`) reads these numbers to fake what AWS
would report.

Profiles live in a small JSON file so `paas dev profile set` in another terminal changes a
running emulator: the data plane re-reads the file on every tick (cheaply, keyed on the
file's inode, mtime and size). Writes are atomic (temp file + ``os.replace``) so a reader never
sees half a file.

File format::

    {"version": 1,
     "profiles": [{"image": "*:crash*", "crash_loop": true, "exit_code": 137}, ...]}

Matching: each entry's ``image`` is an ``fnmatch`` glob on the full image reference
(``registry/app:tag`` or ``registry/app@sha256:...``). **The last matching entry in file
order wins**, and ``set_profile`` moves the entry it writes to the end, so the most
recently set matching glob wins. Fields an entry leaves out take the healthy defaults.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Iterable

FILE_VERSION = 1


@dataclass(frozen=True)
class Profile:
    """How a simulated container from one image behaves. Defaults describe a healthy app."""

    error_rate: float = 0.0  # fraction of requests answered with a 5xx, 0..1
    p99_ms: float = 40.0  # 99th percentile target response time, milliseconds
    crash_loop: bool = False  # container exits shortly after it starts, forever
    start_seconds: float = 0.3  # PENDING -> RUNNING (image pull and container start)
    exit_code: int | None = None  # when the container exits by itself; None: 1 for a crash, 0 for a finished run
    fail_ratio: float = 0.0  # fraction of this image's tasks that crash like crash_loop (every 1/ratio-th task)
    ready_seconds: float = 0.0  # RUNNING -> answering its health check (a slow start)
    health_code: int = 200  # HTTP status the health-check path answers once ready
    health_ms: float = 5.0  # how long that answer takes (>= the target group's timeout: Target.Timeout)
    run_seconds: float = 1.0  # a one-off task (RunTask) runs this long, then exits with exit_code
    log: tuple[str, ...] = ()  # lines the container prints after its start line
    log_every_seconds: float = 0.0  # print the log lines again this often while running (0: once)
    crash_message: str = ""  # the last line a crashing or failing container prints

    def exit_code_for(self, crashed: bool) -> int:
        """The exit code a container reports: the profile's, else 1 for a crash, 0 for a finish."""
        if self.exit_code is not None:
            return self.exit_code
        return 1 if crashed else 0


DEFAULT_PROFILE = Profile()
FIELD_NAMES = tuple(f.name for f in fields(Profile))

# name -> (kind, lower bound, upper bound); bounds are inclusive, None = unbounded
_NUMBERS: dict[str, tuple[type, float | None, float | None]] = {
    "error_rate": (float, 0.0, 1.0),
    "fail_ratio": (float, 0.0, 1.0),
    "p99_ms": (float, 0.0, None),
    "start_seconds": (float, 0.0, None),
    "ready_seconds": (float, 0.0, None),
    "health_ms": (float, 0.0, None),
    "run_seconds": (float, 0.0, None),
    "log_every_seconds": (float, 0.0, None),
    "exit_code": (int, 0, 255),
    "health_code": (int, 100, 599),
}
_TEXT_MAX = 1000  # characters per log line; a profile is a test fixture, not a log shipper


@dataclass(frozen=True)
class ProfileEntry:
    """One line of the profile file: an image glob and the profile it selects."""

    image: str
    profile: Profile


def _bounds_message(name: str, low: float | None, high: float | None, value: Any) -> str:
    if high is None:
        return f"{name} must not be negative, got {value}"
    return f"{name} must be between {low:g} and {high:g}, got {value}"


def _number(name: str, value: Any) -> int | float | None:
    kind, low, high = _NUMBERS[name]
    if name == "exit_code" and value is None:
        return None
    if kind is int:
        try:
            number = int(value) if not isinstance(value, (bool, float)) else None
        except (TypeError, ValueError):
            number = None
        if number is None or str(number) != str(value).strip():
            what = "an integer" if high is None else f"an integer between {low:g} and {high:g}"
            raise ValueError(f"{name} must be {what}, got {value!r}")
    else:
        try:
            number = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if math.isnan(number) or math.isinf(number):
            raise ValueError(f"{name} must be a number, got {value!r}")
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValueError(_bounds_message(name, low, high, number))
    return number


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {value!r}")
    if len(value) > _TEXT_MAX:
        raise ValueError(f"{name} is longer than {_TEXT_MAX} characters")
    return value


def validate_fields(**values: Any) -> dict[str, Any]:
    """Check and normalise profile fields; raise ``ValueError`` with one clear line."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in FIELD_NAMES:
            raise ValueError(f"unknown profile field {name!r} (known: {', '.join(FIELD_NAMES)})")
        if name == "crash_loop":
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                value = value.lower() in ("true", "1", "yes")
            if not isinstance(value, bool):
                raise ValueError(f"crash_loop must be true or false, got {value!r}")
            out[name] = value
        elif name == "log":
            lines = [value] if isinstance(value, str) else value
            if not isinstance(lines, (list, tuple)):
                raise ValueError(f"log must be a list of lines, got {value!r}")
            out[name] = tuple(_text("log line", line) for line in lines)
        elif name == "crash_message":
            out[name] = _text(name, value)
        else:
            out[name] = _number(name, value)
    return out


def _entry_from_json(raw: Any) -> ProfileEntry:
    if not isinstance(raw, dict) or not isinstance(raw.get("image"), str) or not raw["image"]:
        raise ValueError(f"profile entry needs a non-empty 'image' glob: {raw!r}")
    values = {k: v for k, v in raw.items() if k != "image"}
    return ProfileEntry(raw["image"], Profile(**validate_fields(**values)))


def load_profiles(path: str | os.PathLike[str]) -> list[ProfileEntry]:
    """Read the profile file; a missing file means "no profiles" (everything healthy).

    Raises ``ValueError`` if the file exists but is not a valid profile file.
    """
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        return []
    if not text.strip():
        return []
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("profiles", []), list):
        raise ValueError(f"{p}: expected an object with a 'profiles' list")
    return [_entry_from_json(raw) for raw in doc.get("profiles", [])]


def _write_atomic(path: Path, entries: Iterable[ProfileEntry]) -> None:
    doc = {
        "version": FILE_VERSION,
        "profiles": [{"image": e.image, **asdict(e.profile)} for e in entries],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=2, sort_keys=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def set_profile(path: str | os.PathLike[str], glob: str, **values: Any) -> Profile:
    """Create or update the profile for ``glob`` and move it to the end (so it wins).

    Fields not given keep their current value for that glob (or the healthy default for a
    new glob). Validation happens before anything is written; a file that exists but cannot
    be parsed is reported (``ValueError``) rather than overwritten.
    """
    if not isinstance(glob, str) or not glob.strip():
        raise ValueError("image glob must not be empty")
    checked = validate_fields(**values)
    p = Path(path)
    entries = load_profiles(p)
    current = next((e.profile for e in entries if e.image == glob), DEFAULT_PROFILE)
    profile = Profile(**{**asdict(current), **checked})
    kept = [e for e in entries if e.image != glob]
    _write_atomic(p, [*kept, ProfileEntry(glob, profile)])
    return profile


def remove_profile(path: str | os.PathLike[str], glob: str) -> bool:
    """Delete the entry for ``glob``; return whether there was one."""
    p = Path(path)
    entries = load_profiles(p)
    kept = [e for e in entries if e.image != glob]
    if len(kept) == len(entries):
        return False
    _write_atomic(p, kept)
    return True


def profile_for_image(profiles: Iterable[ProfileEntry], image: str | None) -> Profile:
    """The profile of the last entry whose glob matches ``image`` (case-sensitive fnmatch)."""
    chosen = DEFAULT_PROFILE
    for entry in profiles:
        if image is not None and fnmatchcase(image, entry.image):
            chosen = entry.profile
    return chosen


class ProfileFile:
    """Re-reads a profile file only when it changed; keeps the last good copy on errors.

    The data plane calls ``current()`` every tick. A broken hand edit must not take the
    emulator down, so a file that fails to parse leaves the previous profiles in force and
    the error is kept in ``last_error``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int, int] | None = None
        self._entries: list[ProfileEntry] = []
        self.last_error: str | None = None

    def current(self) -> list[ProfileEntry]:
        try:
            st = self.path.stat()
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)  # os.replace -> new inode
        except FileNotFoundError:
            self._stamp, self._entries, self.last_error = None, [], None
            return self._entries
        if stamp != self._stamp:
            try:
                self._entries = load_profiles(self.path)
                self.last_error = None
            except (ValueError, TypeError, OSError) as exc:
                self.last_error = str(exc)
            self._stamp = stamp
        return self._entries
