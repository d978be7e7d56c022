"""CloudWatch Logs: what an app's tasks logged (FilterLogEvents, every page) and the last lines of
one task (GetLogEvents from the end).

A task's lines are in the app+environment's log group (``/paas/<env>/<app>``), one stream per
task: ``<process>/<process>/<task id>`` (paas/domain/names.py `log_stream`).

AWS limits kept here: FilterLogEvents takes ≤ 100 ``logStreamNames`` or a ``logStreamNamePrefix``,
never both; a page holds ≤ 10,000 events (and ≤ 1 MB), the rest comes with ``nextToken``; times
are epoch milliseconds. GetLogEvents returns ≤ 10,000 events; ``startFromHead=False`` starts at
the newest. A group or stream that does not exist yet (a task that has not started) is no lines,
not an error.

Emulator (moto 5.2) gaps: FilterLogEvents ignores ``logStreamNamePrefix`` (so streams are filtered
here again, which is harmless on AWS) and returns events stream by stream, where AWS interleaves
them by time since 2019 (so events are sorted here).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from paas.aws.api import Api, chunks
from paas.aws.driver import LogEvent

STREAM_NAMES_MAX = 100
PAGE_EVENTS_MAX = 10_000
GET_EVENTS_MAX = 10_000


class Logs:
    def __init__(self, api: Api) -> None:
        self.api = api

    def filter_events(self, group: str, *, streams: list[str] | None = None, prefix: str | None = None,
                      start_ms: int | None = None, end_ms: int | None = None,
                      max_events: int = 100_000) -> list[LogEvent]:
        """Every event in the window, oldest first (at most `max_events`, the newest kept)."""
        if streams is not None and prefix is not None:
            raise ValueError("FilterLogEvents takes stream names or a prefix, not both")
        batches = list(chunks(list(dict.fromkeys(streams)), STREAM_NAMES_MAX)) if streams else [None]
        out: list[LogEvent] = []
        for batch in batches:
            params: dict[str, Any] = {"logGroupName": group, "limit": PAGE_EVENTS_MAX}
            if batch:
                params["logStreamNames"] = list(batch)
            if prefix:
                params["logStreamNamePrefix"] = prefix
            if start_ms is not None:
                params["startTime"] = int(start_ms)
            if end_ms is not None:
                params["endTime"] = int(end_ms)
            while True:
                try:
                    resp = self.api.call("logs", "FilterLogEvents", allow=("ResourceNotFoundException",), **params)
                except ClientError:
                    return []  # no such group (yet)
                for e in resp.get("events") or []:
                    stream = e.get("logStreamName", "")
                    if prefix and not stream.startswith(prefix):
                        continue
                    out.append(LogEvent(int(e["timestamp"]), e.get("message", "").rstrip("\n"), stream,
                                        str(e.get("eventId") or f"{stream}@{e['timestamp']}")))
                token = resp.get("nextToken")
                if not token or token == params.get("nextToken"):
                    break
                params["nextToken"] = token
        out.sort(key=lambda e: (e.timestamp, e.stream, e.event_id))
        return out[-max_events:]

    def tail(self, group: str, stream: str, lines: int = 10) -> list[str]:
        """The last `lines` messages of one stream, oldest first; [] when there is none."""
        try:
            resp = self.api.call("logs", "GetLogEvents", allow=("ResourceNotFoundException",), logGroupName=group,
                                 logStreamName=stream, limit=max(1, min(lines, GET_EVENTS_MAX)), startFromHead=False)
        except ClientError:
            return []
        events = sorted(resp.get("events") or [], key=lambda e: e.get("timestamp", 0))
        return [e.get("message", "").rstrip("\n") for e in events][-lines:]
