"""The send guard: no AWS request leaves a worker thread once its lease may have expired.

AWS takes no fencing token, so the fence is on our side (DESIGN.md §2.6). The reconciler wraps
its work for one app+environment in::

    with guard.lease(deadline):      # deadline() → an instant on `guard.now()`
        ...driver calls...

and moves the deadline forward as its heartbeat renews the lease (``deadline`` is called
again before every attempt, so it should be cheap: read a value, don't query the database).
Right before each HTTP attempt, botocore's retries included, a ``before-send`` handler on every
client `paas.aws.session` makes calls `check`: when ``now() >= deadline()`` for any
lease the thread holds, it raises `LeaseLost` and nothing is sent. A worker frozen by a VM pause
or a long GC thus wakes up, finds its deadline gone and sends nothing, however far it was
inside a call.

The exception leaves botocore unchanged (botocore 1.44, checked in its source): the endpoint
catches anything a ``before-send`` handler raises and hands it to ``needs-retry`` as
``caught_exception``; the ``standard`` retry mode retries only botocore's ConnectionError /
HTTPClientError and modeled error codes, so it declines, and the endpoint re-raises the very
same exception object out of the client call; `paas.aws.api.Api.call` passes paas errors through.

The margin is the caller's: a request sent just before the deadline may take connect + read
timeout to finish (`paas.aws.session.client_config`), so the reconciler sets the deadline at
least that long before the lease really expires.

Outside any ``with guard.lease(...)`` there is no check (the CLI stores secrets without a
lease). Leases are per thread; nested leases all apply (the earliest deadline wins).
Refusals are counted by operation (`paas.aws.accounting`, ``driver.stale_refusals()``).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from paas.aws import accounting
from paas.domain.errors import LeaseLost

Deadline = Callable[[], float]

_local = threading.local()


def _boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


# The clock leases are measured on: CLOCK_BOOTTIME where there is one (it keeps counting while a
# machine is suspended, which CLOCK_MONOTONIC does not), else the monotonic clock.
now: Callable[[], float] = _boottime if hasattr(time, "CLOCK_BOOTTIME") else time.monotonic


def _leases() -> list[Deadline]:
    stack = getattr(_local, "leases", None)
    if stack is None:
        stack = _local.leases = []
    return stack


@contextmanager
def lease(deadline: Deadline) -> Iterator[None]:
    """Refuse every AWS request this thread makes in the block once ``deadline()`` has passed."""
    stack = _leases()
    stack.append(deadline)
    try:
        yield
    finally:
        # remove this very entry (blocks nest, so it is the last one)
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is deadline:
                del stack[i]
                break


def active() -> bool:
    """True inside a ``with lease(...)`` block on this thread."""
    return bool(getattr(_local, "leases", None))


def check(operation: str) -> None:
    """Raise `LeaseLost` if any lease this thread holds is past its deadline."""
    for deadline in tuple(getattr(_local, "leases", None) or ()):
        limit = deadline()
        t = now()
        if t >= limit:
            raise LeaseLost(f"{operation}: not sent: this worker's lease may have expired "
                            f"(deadline passed {t - limit:.1f} s ago)")


def _on_before_send(event_name: str = "", **_: Any) -> None:
    if not getattr(_local, "leases", None):
        return None
    key = accounting.key_from_event(event_name)
    try:
        check(key)
    except LeaseLost:
        accounting.add_refusal(key)
        raise
    return None


def install(events: Any) -> None:
    """Guard every HTTP attempt made through this emitter. Registered last, so it runs after
    the request budget's wait (which may be long) and right before the send. Idempotent."""
    events.register_last("before-send", _on_before_send, unique_id="paas-send-guard")
