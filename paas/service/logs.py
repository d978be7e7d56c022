"""`paas logs`: what an app's tasks logged, from its CloudWatch Logs group, and following it.

The group is ``/paas/<env>/<app>`` (the stack's, created with it); each task writes its own
stream ``<process>/<process>/<task id>``, so the process and the task of a line come from its
stream's name. `--process` narrows by stream prefix, `--task` to one stream. Reading is
FilterLogEvents over the window with every page (paas/aws/logs.py); following polls from the
newest timestamp seen, skipping event ids already printed (CloudWatch may deliver a late event
with an earlier timestamp; polling from the newest timestamp minus `LATE_MS` catches those).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from paas.aws.driver import Driver, LogEvent
from paas.db import reads, state
from paas.db.sql import Db
from paas.domain import names
from paas.domain import validate as v
from paas.domain.errors import UserError
from paas.domain.manifest import Manifest
from paas.service.catalog import require_app_env

TASK_ID_RE = re.compile(r"[0-9a-f]{32}|[0-9a-zA-Z-]{1,64}")
LATE_MS = 5_000
DEFAULT_SINCE = "1h"


@dataclass(frozen=True)
class Query:
    group: str
    streams: list[str] | None
    prefix: str | None
    start_ms: int
    app: str
    env: str
    cluster: str


def query(db: Db, app_name: str, env_name: str | None, *, process: str | None, since: str | None,
          task: str | None, now: float) -> Query:
    """Validate `paas logs`'s filters (UserError: exit 2) and say what to read."""
    seconds = v.duration(since or DEFAULT_SINCE, "--since")
    if process is not None:
        v.name(process, "process name")
    if task is not None:
        task = names.task_id(task) if task.startswith("arn:") else task
        if not TASK_ID_RE.fullmatch(task):
            raise UserError(f"invalid --task {v.show(task)}: expected a task id (32 hex characters) or ARN")
    app, env = require_app_env(db, app_name, env_name)
    if process is not None:
        release_id = reads.live_release_id(db, app.id, env.id)
        rows = state.releases(db, [release_id]) if release_id else {}
        known = set(Manifest.from_json(rows[release_id].manifest).processes) if rows else set()
        if known and process not in known:
            raise UserError(f"unknown process {process!r} for {app.name}: processes are {', '.join(sorted(known))}")
    group = names.log_group_name(app.name, env.name)
    streams = prefix = None
    if task is not None:
        from paas.db import task_runs

        run = task_runs.find(db, app.id, task)
        if process is not None or run is not None:
            streams = [names.log_stream(process or run.run.process, task)]
        # else: a service's task, of any process: every stream, filtered by the task id (`read`)
    elif process is not None:
        prefix = f"{process}/"
    return Query(group, streams, prefix, int((now - seconds) * 1000), app.name, env.name, env.cluster)


def _matches(q: Query, task: str | None, e: LogEvent) -> bool:
    return task is None or e.stream.endswith("/" + task)


def read(driver: Driver, q: Query, task: str | None = None, end_ms: int | None = None) -> list[LogEvent]:
    return [e for e in driver.log_events(q.group, streams=q.streams, prefix=q.prefix, start_ms=q.start_ms,
                                         end_ms=end_ms) if _matches(q, task, e)]


def follow(driver: Driver, q: Query, *, task: str | None, sleep: Callable[[float], None],
           stop: Callable[[], bool], interval: float = 1.0) -> Iterator[LogEvent]:
    """Every event from the window's start, then new ones as they arrive, until `stop()`."""
    seen: set[str] = set()
    since = q.start_ms
    while True:
        batch = driver.log_events(q.group, streams=q.streams, prefix=q.prefix, start_ms=since)
        for e in batch:
            if e.event_id in seen or not _matches(q, task, e):
                continue
            seen.add(e.event_id)
            yield e
        if batch:
            since = max(since, max(e.timestamp for e in batch) - LATE_MS)
        if len(seen) > 200_000:  # keep memory bounded on an endless follow
            seen = {e.event_id for e in batch}
        if stop():
            return
        sleep(interval)


def event_json(e: LogEvent) -> dict[str, Any]:
    return {"timestamp": datetime.fromtimestamp(e.timestamp / 1000, timezone.utc),
            "process": names.process_of_log_stream(e.stream), "task_id": e.stream.rsplit("/", 1)[-1],
            "stream": e.stream, "message": e.message}
