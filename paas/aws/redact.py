"""Keep secret values out of every log record while a call that carries them runs.

botocore logs request parameters and bodies at DEBUG (and urllib3 logs connection details), so
a secret sent to AWS would reach any DEBUG log. `redacting(value)` registers the value for the
current thread; a filter on the botocore/boto3/urllib3 loggers replaces it with ``***`` in the
formatted message of every record made meanwhile.

The value is registered in every spelling a log line can carry it in: as is, JSON-escaped (the
JSON protocols' bodies: quotes, backslashes, newlines, non-ASCII as ``\\uXXXX``), Python-repr
escaped, alone and on top of the JSON escaping (botocore logs the request dict, whose body is
``bytes`` holding the JSON), and URL-encoded (the query protocols' bodies).

Logging consults a logger's filters only for records made on that very logger, not for records
propagating from its children, so the filter is added to every botocore/boto3/urllib3 logger
that exists when a redacting block starts (botocore creates its loggers at import time).
"""

from __future__ import annotations

import json
import logging
import threading
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import quote, quote_plus

_PACKAGES = ("botocore", "boto3", "urllib3", "s3transfer")


def _py_escaped(text: str) -> set[str]:
    """`text` as it appears inside a Python repr (of a str or of bytes), both quote styles:
    repr escapes ``'`` only when it quotes with ``'``, which depends on the surrounding text."""
    both = "'\""  # with both quotes present, repr quotes with ' and escapes it
    return {
        repr(text)[1:-1],
        repr(both + text)[1:-1][3:],
        repr(text.encode("utf-8"))[2:-1],
        repr((both + text).encode("utf-8"))[2:-1][3:],
    }


def spellings(value: str) -> list[str]:
    """The ways `value` may appear inside a log line, longest first."""
    bases = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    forms = set(bases)
    for b in bases:
        forms |= _py_escaped(b)
    forms |= {quote_plus(value, safe=""), quote(value, safe="")}
    return sorted((f for f in forms if f), key=len, reverse=True)


class SecretFilter(logging.Filter):
    """Replaces the values registered for the current thread with ``***``."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def values(self) -> list[str]:
        v = getattr(self._local, "values", None)
        if v is None:
            v = self._local.values = []
        return v

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(self._local, "silent", 0):
            return False
        secrets = getattr(self._local, "values", None)
        if not secrets:
            return True
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001
            text = str(record.msg)
        hit = False
        for s in secrets:
            if s and s in text:
                text = text.replace(s, "***")
                hit = True
        if hit:
            record.msg, record.args = text, None
        if record.exc_info and record.exc_info[1] is not None:
            # a traceback could quote the request; keep the line, drop the detail
            record.exc_info, record.exc_text = None, None
        return True


_filter = SecretFilter()
_filtered: set[str] = set()
_lock = threading.Lock()


def install() -> None:
    """Attach the filter to every botocore/boto3/urllib3 logger that exists now (idempotent)."""
    with _lock:
        names = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] in _PACKAGES]
        for n in ["botocore", "boto3", "urllib3", *names]:
            if n not in _filtered:
                logging.getLogger(n).addFilter(_filter)
                _filtered.add(n)


@contextmanager
def redacting(*values: str) -> Iterator[None]:
    """No log record made by this thread inside the block contains any of `values`."""
    install()
    registered = _filter.values()
    added = [s for v in values if v for s in spellings(v)]
    registered.extend(added)
    registered.sort(key=len, reverse=True)  # a longer spelling first: no half-replaced value
    try:
        yield
    finally:
        for s in added:
            registered.remove(s)


@contextmanager
def silenced() -> Iterator[None]:
    """No botocore/boto3/urllib3 record at all from this thread inside the block: for a call
    whose *answer* is secret (a value not known beforehand, so not redactable by `redacting`)."""
    install()
    local = _filter._local
    local.silent = getattr(local, "silent", 0) + 1
    try:
        yield
    finally:
        local.silent -= 1
