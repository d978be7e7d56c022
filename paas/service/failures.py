"""Why a deployment failed, in words a person can act on: the reason, the task that shows it, the
last lines that task logged, and the next command to run.

Read from the deployment's timeline: workers record each failed task's stop once, with its
stopped reason, exit code, container reason and last log lines (``task_stopped`` events), and a
release phase's end the same way. The task quoted is the release phase's when it failed, else
the newest failed task with log lines. `--wait` ends with this, and `paas deployments show` has it.
"""

from __future__ import annotations

from typing import Any

from paas.db import reads
from paas.db.sql import Db

FAILED = ("failed", "rolled_back")


def _pick(stops: list[dict]) -> dict | None:
    release = [s for s in stops if s.get("kind") == "release"]
    if release:
        return release[-1]
    with_lines = [s for s in stops if s.get("log_tail")]
    return (with_lines or stops or [None])[-1]


def explain(db: Db, deployment_id: int) -> dict[str, Any] | None:
    """None unless the deployment failed or was rolled back."""
    d = reads.deployment(db, deployment_id)
    if d is None or d.state not in FAILED:
        return None
    h = reads.deployment_history(db, deployment_id)
    stops = [dict(e.data) for e in reads.task_stops(db, deployment_id)]
    task = _pick(stops)
    app, env = h.app, h.environment
    nxt = []
    if task and task.get("task_id"):
        nxt.append(f"paas logs {app} -e {env} --task {task['task_id']}")
    nxt.append(f"paas deployments show {deployment_id}")
    if task and task.get("kind") == "release" and task.get("command"):
        import shlex

        nxt.append(f"paas run {app} -e {env} -- {shlex.join(task['command'])}   (the release command, by hand)")
    return {
        "reason": d.error or d.rollback_reason,
        "failed_tasks": len([s for s in stops if s.get("kind") != "release"]),
        "task": None if task is None else {
            k: task.get(k) for k in ("task_id", "task_arn", "process", "release", "kind", "command", "stop_code",
                                     "stopped_reason", "exit_code", "container_reason", "log_tail")},
        "next": nxt,
    }
