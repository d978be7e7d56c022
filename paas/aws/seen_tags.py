"""Resource descriptions (with their owner tags) read earlier in the same reconcile pass.

An owner check (ownership.py) reads a resource's tags right before paas changes it. The
reconcile pass has usually just read the same resource to plan the change (DescribeServices
with ``include=["TAGS"]``, DescribeTaskDefinition of the family's newest revision), so inside
``with seen_tags.scope():`` (one pass, one claim, one lease: paas/reconciler/reconcile.py) those
answers are kept and the check uses them instead of a second call. Nothing outlives the scope:
a description is never reused under another lease, nor by another thread. Outside a scope
(the CLI, tests of the driver) nothing is kept and every check reads afresh.

A change paas makes to a resource's identity (a new task-definition revision, a new service)
forgets its entry, so the next check reads again.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator

_local = threading.local()
MISSING = object()


@contextmanager
def scope() -> Iterator[None]:
    """Keep descriptions read by this thread inside the block (nested blocks start empty)."""
    prev = getattr(_local, "seen", None)
    _local.seen = {}
    try:
        yield
    finally:
        _local.seen = prev


def active() -> bool:
    return getattr(_local, "seen", None) is not None


def remember(kind: str, key: str, value: Any) -> None:
    seen = getattr(_local, "seen", None)
    if seen is not None:
        seen[(kind, key)] = value


def recall(kind: str, key: str) -> Any:
    """The description kept in this scope, or `MISSING`."""
    seen = getattr(_local, "seen", None)
    return MISSING if seen is None else seen.get((kind, key), MISSING)


def forget(kind: str, key: str) -> None:
    seen = getattr(_local, "seen", None)
    if seen is not None:
        seen.pop((kind, key), None)
