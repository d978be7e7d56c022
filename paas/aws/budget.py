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

AWS also throttles per *family* of actions, far below the account-wide pace for some: ECS allows
RegisterTaskDefinition a burst of 20 and 1 per second sustained, per account and Region. One
bucket cannot know every family's rate, so the budget learns them: the first throttling answer
for an operation gives that operation its own pace (AIMD: halved on each throttle, at most once a
second; raised a little on each success; dropped once it is back at the account rate). Callers of
that operation then wait their turn here instead of sending requests AWS would refuse, and
botocore's retries stop multiplying across workers (a throttling storm).

Workers share those paces (`share_paces`, given `paas.db.paces.DbPaces` by the worker): the first
throttle anywhere makes the operation's pace one row for the account, every worker takes its
turns from that row, and one control loop serves them all (paas/db/paces.py). Without a store,
or while it fails, each process paces on its own.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Protocol

from paas.aws import guard
from paas.aws.accounting import add_refusal, is_throttle_response, key_from_event

DEFAULT_RPS = 20.0  # the default of PAAS_AWS_RPS (paas.settings.DEFAULT_AWS_RPS)
SHARED_REFRESH = 2.0  # seconds between reads of which operations the account's workers pace
SHARED_RETRY = 10.0  # seconds on the local pace after the shared store failed
SHARED_POLL_MIN, SHARED_POLL_MAX = 0.05, 1.0  # how often a caller asks again for a far-off slot

log = logging.getLogger("paas.aws.budget")


class SharedPaces(Protocol):
    """Per-operation paces shared by every worker of an account (paas/db/paces.py)."""

    def slot(self, account: str, operation: str) -> tuple[bool, float] | None: ...
    def throttled(self, account: str, operation: str, *, start: float, ceiling: float, floor: float) -> float: ...
    def succeeded(self, account: str, operation: str, step: float) -> float | None: ...
    def paced(self, account: str) -> dict[str, float]: ...


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
        self._paces: dict[str, Pace] = {}
        self._sends: dict[str, tuple[float, float]] = {}  # op -> (last send, smoothed interval)
        self.account = ""  # the key `budget_for` files it under: the shared paces' account
        self.shared: SharedPaces | None = None
        self._shared_paced: dict[str, float] = {}
        self._shared_read = float("-inf")
        self._shared_down_until = float("-inf")
        self.shared_slots = 0  # requests sent on a shared slot

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
        """Charge every HTTP attempt made through this emitter (a client's or a session's), and
        learn per-operation paces from the throttling answers it gets."""
        events.register("before-send", self._on_before_send, unique_id=f"paas-budget-{id(self)}")
        events.register("needs-retry", self._on_needs_retry, unique_id=f"paas-budget-pace-{id(self)}")

    def _on_before_send(self, event_name: str = "", **_: Any) -> None:
        self.acquire()
        key = key_from_event(event_name)
        if not self._shared_turn(key):
            pace = self._paces.get(key) if self._paces else None
            if pace is not None:
                self.waited_seconds += pace.acquire()
        now = self._clock()
        with self._lock:
            last, interval = self._sends.get(key, (now - 1.0, 1.0))
            self._sends[key] = (now, 0.7 * interval + 0.3 * max(1e-3, now - last))
        return None

    def _on_needs_retry(self, response: Any = None, event_name: str = "", **_: Any) -> None:
        if response is None:
            return None  # a connection error: says nothing about the rate
        key = key_from_event(event_name)
        if is_throttle_response(response):
            self.throttled(key)
        else:
            pace = self._paces.get(key)
            if pace is not None and pace.succeeded():
                with self._lock:
                    self._paces.pop(key, None)
            if key in self._shared_paced:
                self._shared_call(lambda s: s.succeeded(self.account, key, Pace.STEP))
        return None  # never influence botocore's retry decision

    # --- the paces shared with the account's other workers ---------------------------------------

    def _shared_call(self, fn: Callable[[SharedPaces], Any]) -> Any:
        """`fn(store)`, or None when there is no store or it failed (then the local pace serves
        for SHARED_RETRY seconds)."""
        store = self.shared
        if store is None or self._clock() < self._shared_down_until:
            return None
        try:
            return fn(store)
        except Exception as e:  # the database unreachable: pace locally meanwhile
            self._shared_down_until = self._clock() + SHARED_RETRY
            log.warning("shared AWS paces unavailable; pacing in this process", extra={"fields": {
                "error": str(e).splitlines()[0] if str(e) else type(e).__name__}})
            return None

    def _shared_turn(self, key: str) -> bool:
        """Wait for `key`'s turn on the account's shared pace; False when it has none (or the
        store is unavailable): the local pace, if any, applies."""
        if self.shared is None:
            return False
        now = self._clock()
        if now - self._shared_read >= SHARED_REFRESH:
            self._shared_read = now
            paced = self._shared_call(lambda s: s.paced(self.account))
            if paced is not None:
                self._shared_paced = paced
        if key not in self._shared_paced:
            return False
        while True:
            got = self._shared_call(lambda s: s.slot(self.account, key))
            if got is None:
                return False
            taken, wait = got
            if taken:
                break
            # the next slot is further away than the store hands out: ask again nearer the time,
            # unless this thread's lease ran out meanwhile (the send guard would refuse the request)
            try:
                guard.check(key)
            except Exception:
                add_refusal(key)
                raise
            step = min(SHARED_POLL_MAX, max(SHARED_POLL_MIN, wait / 2))
            self._sleep(step)
            self.waited_seconds += step
        if wait > 0:
            self._sleep(wait)
            self.waited_seconds += wait
        self.shared_slots += 1
        return True

    def throttled(self, key: str) -> None:
        """AWS refused `key` for its rate: pace it (slower, if it already was)."""
        with self._lock:
            ceiling = self._rate if self._rate > 0 else Pace.UNLIMITED_START
            # the rate this operation was being sent at: where a new pace starts (halved below)
            start = min(ceiling, 1.0 / max(1e-3, self._sends.get(key, (0.0, 1.0 / ceiling))[1]))
            pace = self._paces.get(key)
            if pace is None:
                pace = self._paces[key] = Pace(ceiling, start=start, clock=self._clock, sleep=self._sleep)
        pace.throttled()
        if self.shared is not None:
            rate = self._shared_call(lambda s: s.throttled(self.account, key, start=start,
                                                           ceiling=pace.ceiling, floor=pace.floor))
            if rate is not None:
                self._shared_paced[key] = rate

    def paces(self) -> dict[str, float]:
        """The learned per-operation rates (requests/s), for metrics and benchmarks."""
        with self._lock:
            return {k: p.rate for k, p in self._paces.items()}


class Pace:
    """One operation's learned rate: requests are spaced 1/rate apart (no burst).

    AIMD, as TCP does with a shared link: it starts from the rate the operation was being sent at,
    each throttle halves the rate (once per second at most: the answers to requests already in
    flight say the same thing), each success adds `STEP` requests/s; at `ceiling` (the account
    rate) the pace is no longer needed."""

    MIN_RATE = 0.05  # never slower than one request every 20 s
    FLOOR_SHARE = 40.0  # nor slower than 1/40 of the account rate: throttles that are not about
    # the rate (a fault drill's random ones) must not starve an operation
    STEP = 0.02
    UNLIMITED_START = 10.0  # first pace when the account budget itself is unlimited

    def __init__(self, ceiling: float, *, start: float | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self.ceiling = ceiling
        self.floor = min(ceiling, max(self.MIN_RATE, ceiling / self.FLOOR_SHARE))
        self.rate = max(self.floor, min(ceiling, start if start is not None else ceiling))
        self._next = clock()
        self._last_cut = float("-inf")
        self.throttles = 0

    def throttled(self) -> None:
        with self._lock:
            self.throttles += 1
            now = self._clock()
            if now - self._last_cut >= 1.0:
                self.rate = max(self.floor, self.rate / 2)
                self._last_cut = now
                self._next = max(self._next, now + 1.0 / self.rate)

    def succeeded(self) -> bool:
        """Raise the rate a step; True once it is back at the ceiling (drop the pace)."""
        with self._lock:
            self.rate = min(self.ceiling, self.rate + self.STEP)
            return self.rate >= self.ceiling

    def acquire(self) -> float:
        """Wait for this operation's next slot; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + 1.0 / self.rate
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return max(0.0, wait)


def rate_from_env() -> tuple[float, float | None]:
    """PAAS_AWS_RPS and PAAS_AWS_BURST, parsed where every setting is (a bad one: SettingError)."""
    from paas.settings import aws_rate

    return aws_rate()


_registry_lock = threading.Lock()
_registry: dict[str, TokenBucket] = {}


_shared: SharedPaces | None = None


def budget_for(account_key: str) -> TokenBucket:
    """The process-wide bucket for one AWS account (created from the env on first use)."""
    with _registry_lock:
        b = _registry.get(account_key)
        if b is None:
            rate, burst = rate_from_env()
            b = _registry[account_key] = TokenBucket(rate, burst)
            b.account, b.shared = account_key, _shared
        return b


def share_paces(store: SharedPaces | None) -> None:
    """Every account's budget in this process (and every later one) paces through `store`."""
    global _shared
    with _registry_lock:
        _shared = store
        for b in _registry.values():
            b.shared = store


def unshare_paces(store: SharedPaces) -> None:
    """Stop using `store` if it is the one in use (a worker that stops)."""
    if _shared is store:
        share_paces(None)


def all_budgets() -> dict[str, TokenBucket]:
    with _registry_lock:
        return dict(_registry)
