"""One request budget per AWS account, shared by every reconciler thread in the process.

AWS throttles per account (and region), not per client: N reconcile threads each doing their
own retries would happily burn the account's API rate, and the deploys of other teams with it.
So every HTTP attempt (retries included: they cost AWS capacity too) first takes a token from a
token bucket shared by all clients of that account in this process; when the bucket is empty the
caller blocks until a token is due.

The bucket is per *process*. With several worker hosts, set ``PAAS_AWS_RPS`` to the account's
budget divided by the number of hosts.

Settings: ``PAAS_AWS_RPS`` (tokens per second, default 20; 0 or negative = unlimited) and
``PAAS_AWS_BURST`` (bucket size, default = the rate, at least 1).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

DEFAULT_RPS = 20.0  # the default of PAAS_AWS_RPS (paas.settings.DEFAULT_AWS_RPS)


class TokenBucket:
    """Thread-safe token bucket; `acquire()` blocks until a token is available."""

    def __init__(self, rate: float, burst: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self._rate = 0.0
        self._burst = 1.0
        self.set(rate, burst)
        self._tokens = self._burst
        self._stamp = clock()
        self.waited_seconds = 0.0  # total time callers spent blocked (for metrics)
        self.acquired = 0

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def burst(self) -> float:
        return self._burst

    def set(self, rate: float, burst: float | None = None) -> None:
        """Change the rate (tokens/s; ≤ 0 means unlimited) and burst (default: the rate)."""
        with self._lock:
            self._rate = float(rate)
            self._burst = max(1.0, float(burst if burst is not None else max(rate, 1.0)))
            if hasattr(self, "_tokens"):
                self._tokens = min(self._tokens, self._burst)

    def _refill(self, now: float) -> None:
        if self._rate > 0:
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def try_acquire(self) -> bool:
        with self._lock:
            if self._rate <= 0:
                self.acquired += 1
                return True
            self._refill(self._clock())
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                self.acquired += 1
                return True
            return False

    def acquire(self) -> float:
        """Take one token, sleeping until one is due. Returns the seconds spent waiting."""
        waited = 0.0
        while True:
            with self._lock:
                if self._rate <= 0:
                    self.acquired += 1
                    return waited
                now = self._clock()
                self._refill(now)
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    self.acquired += 1
                    self.waited_seconds += waited
                    return waited
                due = (1.0 - self._tokens) / self._rate
            # sleep outside the lock; re-check (other threads may take the token first)
            step = min(due, 0.25)
            self._sleep(step)
            waited += step

    def install(self, events: Any) -> None:
        """Charge every HTTP attempt made through this emitter (a client's or a session's)."""
        events.register("before-send", self._on_before_send, unique_id=f"paas-budget-{id(self)}")

    def _on_before_send(self, **_: Any) -> None:
        self.acquire()
        return None


def rate_from_env() -> tuple[float, float | None]:
    """PAAS_AWS_RPS and PAAS_AWS_BURST, parsed where every setting is (a bad one: SettingError)."""
    from paas.settings import aws_rate

    return aws_rate()


_registry_lock = threading.Lock()
_registry: dict[str, TokenBucket] = {}


def budget_for(account_key: str) -> TokenBucket:
    """The process-wide bucket for one AWS account (created from the env on first use)."""
    with _registry_lock:
        b = _registry.get(account_key)
        if b is None:
            rate, burst = rate_from_env()
            b = _registry[account_key] = TokenBucket(rate, burst)
        return b


def all_budgets() -> dict[str, TokenBucket]:
    with _registry_lock:
        return dict(_registry)
