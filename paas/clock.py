"""The one clock paas and its local stack read, so a test can make minutes pass in seconds.

Real time unless the environment warps it:

    PAAS_CLOCK_EPOCH  unix seconds where virtual and real time agree
    PAAS_CLOCK_RATE   how many virtual seconds pass per real second (default 1)

    virtual = epoch + (real - epoch) * rate

Every process that shares the variables (the worker, the CLI, the emulator) shares the same
virtual time, so an emulator publishing 60 s metric periods at rate 30 and a worker reading
them agree on which minute it is. Durations measured with ``monotonic()`` and waits made
with ``sleep()`` run at the same rate. A process reads the variables once, at its first
call: changing them in a running process would make time jump.

No imports of paas: anything may use this module.
"""

from __future__ import annotations

import datetime as _dt
import os
import threading
import time as _time
from dataclasses import dataclass

EPOCH_VAR = "PAAS_CLOCK_EPOCH"
RATE_VAR = "PAAS_CLOCK_RATE"


@dataclass(frozen=True)
class Warp:
    """A linear time warp: ``rate`` virtual seconds per real second, pinned at ``epoch``."""

    epoch: float = 0.0
    rate: float = 1.0

    def time(self, real: float | None = None) -> float:
        """Virtual unix seconds for the real unix time ``real`` (default: now)."""
        real = _time.time() if real is None else real
        return real if self.rate == 1.0 else self.epoch + (real - self.epoch) * self.rate

    def now(self) -> _dt.datetime:
        """Virtual time as an aware UTC datetime."""
        return _dt.datetime.fromtimestamp(self.time(), _dt.timezone.utc)

    def monotonic(self) -> float:
        """A monotonic reading in virtual seconds (only differences mean anything)."""
        return _time.monotonic() * self.rate

    def real_seconds(self, virtual_seconds: float) -> float:
        """How long ``virtual_seconds`` take in real time."""
        return virtual_seconds / self.rate

    def sleep(self, virtual_seconds: float) -> None:
        _time.sleep(max(0.0, self.real_seconds(virtual_seconds)))


def warp_from_env(environ: "os._Environ[str] | dict[str, str] | None" = None) -> Warp:
    """Parse the warp; raise ``ValueError`` with one clear line when a variable is bad."""
    env = os.environ if environ is None else environ
    raw_rate = (env.get(RATE_VAR) or "").strip()
    raw_epoch = (env.get(EPOCH_VAR) or "").strip()
    try:
        rate = float(raw_rate) if raw_rate else 1.0
    except ValueError:
        raise ValueError(f"{RATE_VAR} must be a positive number, got {raw_rate!r}") from None
    if not (rate > 0 and rate != float("inf")):
        raise ValueError(f"{RATE_VAR} must be a positive number, got {raw_rate!r}")
    try:
        epoch = float(raw_epoch) if raw_epoch else None
    except ValueError:
        raise ValueError(f"{EPOCH_VAR} must be unix seconds, got {raw_epoch!r}") from None
    if epoch is not None and epoch != epoch:  # NaN
        raise ValueError(f"{EPOCH_VAR} must be unix seconds, got {raw_epoch!r}")
    if rate != 1.0 and epoch is None:
        raise ValueError(f"{RATE_VAR} needs {EPOCH_VAR} (unix seconds where virtual and real time agree)")
    return Warp(epoch if epoch is not None else 0.0, rate)


_warp: Warp | None = None
_lock = threading.Lock()


def warp() -> Warp:
    """This process's warp, read from the environment at the first call."""
    global _warp
    if _warp is None:
        with _lock:
            if _warp is None:
                _warp = warp_from_env()
    return _warp


def time() -> float:
    """Virtual unix seconds."""
    return warp().time()


def now() -> _dt.datetime:
    """Virtual time as an aware UTC datetime."""
    return warp().now()


def monotonic() -> float:
    """Monotonic virtual seconds, for measuring durations and deadlines."""
    return warp().monotonic()


def sleep(seconds: float) -> None:
    """Wait ``seconds`` of virtual time."""
    warp().sleep(seconds)


def rate() -> float:
    return warp().rate


def virtual(at: _dt.datetime | None) -> _dt.datetime | None:
    """A real instant (a database timestamp) on the virtual clock; identity without a warp."""
    if at is None:
        return None
    w = warp()
    if w.rate == 1.0:
        return at
    return _dt.datetime.fromtimestamp(w.time(at.timestamp()), _dt.timezone.utc)


def real_seconds(virtual_seconds: float) -> float:
    """How long `virtual_seconds` take in real time (a requeue delay, a sleep)."""
    return warp().real_seconds(virtual_seconds)
