"""A claim's lease as this worker sees it: the local deadline after which it sends nothing.

The database decides when a lease expires (`lease_expires_at`, set at claim and heartbeat
from the database's clock). The worker cannot ask the database before every AWS request, so it
keeps a conservative local copy: the instant the claim (or the last successful heartbeat) was
*sent*, plus the TTL, minus a margin that covers one whole AWS request (connect + read
timeout) and clock drift. `paas.aws.guard` refuses any request past it, so a worker frozen by
a VM pause or a long GC wakes up to find its lease gone and touches nothing.
"""

from __future__ import annotations

import threading

from paas.aws import guard


def client_timeouts(lease_ttl: float) -> tuple[float, float]:
    """(connect, read) timeouts for AWS clients: short enough that a request sent just before
    the local deadline finishes before the lease can be rescued by another worker. With the
    default 30 s lease: 3 s and 6 s (AWS's control-plane APIs answer in well under a second)."""
    return min(5.0, lease_ttl / 10), min(30.0, lease_ttl / 5)


def margin(lease_ttl: float) -> float:
    """How long before the lease's expiry the last request may leave: one whole request plus 5%
    of the TTL for clock drift. The rest of the TTL is the window a heartbeat must renew in."""
    connect, read = client_timeouts(lease_ttl)
    return connect + read + lease_ttl / 20


class Lease:
    """Thread-safe: the heartbeat thread extends it while the reconcile thread reads it."""

    def __init__(self, ttl: float, sent_at: float):
        self.ttl = ttl
        self._margin = margin(ttl)
        self._until = sent_at + ttl - self._margin
        self._lock = threading.Lock()

    def deadline(self) -> float:
        return self._until

    def extend(self, sent_at: float) -> None:
        """A heartbeat sent at `sent_at` (on `guard.now()`) committed: the lease runs from then."""
        with self._lock:
            self._until = max(self._until, sent_at + self.ttl - self._margin)

    def expired(self) -> bool:
        return guard.now() >= self._until
