"""Failpoints: named places in a pass where a drill can freeze or kill the worker on purpose.

Off unless `PAAS_FAILPOINTS` names some, e.g. `before-aws:ShiftTraffic=stop` (the worker
SIGSTOPs itself right before sending a traffic shift, as a VM pause would catch it) or
`after-aws:UpdateService=kill` (SIGKILL between an AWS call and its record). Actions: `stop`,
`kill`, `sleep:SECONDS`; a point fires once per process unless suffixed `*` (`stop*`). The
resilience tests and bench/chaos_soak.py use them to put a crash exactly where it hurts; in
production the variable is unset and `hit` returns at once.
"""

from __future__ import annotations

import os
import signal
import threading
import time

_lock = threading.Lock()
_fired: set[str] = set()


def _parse(raw: str) -> dict[str, str]:
    out = {}
    for item in filter(None, (x.strip() for x in raw.split(","))):
        name, _, action = item.partition("=")
        out[name.strip()] = action.strip() or "stop"
    return out


_POINTS = _parse(os.environ.get("PAAS_FAILPOINTS", ""))


def hit(name: str) -> None:
    if not _POINTS:
        return
    action = _POINTS.get(name)
    if action is None:
        return
    repeat = action.endswith("*")
    action = action.rstrip("*")
    with _lock:
        if not repeat and name in _fired:
            return
        _fired.add(name)
    if action == "stop":
        os.kill(os.getpid(), signal.SIGSTOP)
    elif action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action.startswith("sleep:"):
        time.sleep(float(action.split(":", 1)[1]))
