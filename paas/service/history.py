"""Reading what happened: releases, deploy history, one deployment's timeline, status.

Read-only use cases over the storage layer's reads (`paas.db.reads`), shared by the CLI and
anything else that wants the same answers.

Every function returns plain dicts with the stable field names the CLI prints with `--json`
(documented in the README); timestamps stay `datetime` objects until printed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from paas.db import reads
from paas.db.read_records import HistoryRecord
from paas.db.reads import history_sql, run_history_sql  # noqa: F401  (bench/history.py times these)
from paas.db.sql import Db
from paas.domain import validate as v
from paas.domain.errors import NotFound, UserError
from paas.service.catalog import get_app, get_env, require_app_env

DEFAULT_LIMIT = 20
MAX_LIMIT = 10_000

# The columns of `paas_deploy_history`, in view order: the JSON field names of `paas history`.
HISTORY_COLUMNS = (
    "deployment_id", "app", "environment", "release_version", "release_kind", "image", "image_digest",
    "strategy", "state", "actor", "message", "created_at", "started_at", "finished_at", "duration",
    "rolled_back_from_version", "rolled_back_to_version", "error",
)


# --- history ---------------------------------------------------------------------------------

def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_LIMIT:
        raise UserError(f"invalid --limit {limit!r}: expected 1 to {MAX_LIMIT} (0 for no limit)")
    return limit


def history(db: Db, *, app: str | None = None, env: str | None = None, since: str | None = None,
            limit: int = DEFAULT_LIMIT, runs: bool = True) -> list[dict[str, Any]]:
    """Deployments from `paas_deploy_history` and (`runs`) one-off tasks from `task_runs`, newest
    first. A deployment's row keeps the fields it always had; a run's has ``"type": "run"``."""
    check_limit(limit)
    since_seconds = v.duration(since, "--since") if since is not None else None
    if app is not None:
        get_app(db, app)  # a clear "no app named ..." rather than an empty table
    if env is not None:
        get_env(db, env)
    rows = [_history_row(r) for r in reads.history(db, app=app, env=env, since_seconds=since_seconds, limit=limit)]
    if runs:
        from paas.db import task_runs
        from paas.service.tasks import run_json

        rows += [{"type": "run", **_run_row(run_json(r))}
                 for r in task_runs.history(db, app=app, env=env, since_seconds=since_seconds, limit=limit)]
        rows.sort(key=lambda r: (r["created_at"], r.get("deployment_id") or 0, r.get("run_id") or 0), reverse=True)
    return rows[:limit] if limit else rows


def _run_row(r: dict[str, Any]) -> dict[str, Any]:
    """A one-off run in history's terms: who ran what, when, and how it ended."""
    return {"run_id": r["run_id"], "app": r["app"], "environment": r["environment"],
            "release_version": r["release_version"], "process": r["process"], "command": r["command"],
            "task_id": r["task_id"], "task_arn": r["task_arn"], "actor": r["actor"], "state": r["state"],
            "exit_code": r["exit_code"], "stopped_reason": r["stopped_reason"], "created_at": r["created_at"],
            "started_at": r["started_at"], "finished_at": r["stopped_at"],
            "duration_seconds": r["duration_seconds"]}


def _history_row(r: HistoryRecord) -> dict[str, Any]:
    out = {c: getattr(r, c) for c in HISTORY_COLUMNS}
    out["duration_seconds"] = r.duration.total_seconds() if r.duration is not None else None
    del out["duration"]
    return out


# --- releases --------------------------------------------------------------------------------

def formation_summary(formation: dict[str, Any] | None) -> str:
    """{'web': {'count': 2, 'cpu': 256, 'memory': 512}} → 'web=2 (256/512)'."""
    parts = []
    for proc, f in sorted((formation or {}).items()):
        parts.append(f"{proc}={f.get('count')} ({f.get('cpu')}/{f.get('memory')})")
    return ", ".join(parts)


def releases(db: Db, app: str, env: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """An app's releases, newest first, in one environment or (env None) all of them."""
    check_limit(limit)
    a = get_app(db, app)
    env_id = get_env(db, env).id if env is not None else None
    rows = reads.releases(db, a.id, env_id, limit or MAX_LIMIT)
    return [{
        "app": app,
        "environment": r.environment,
        "version": r.version,
        "kind": r.kind,
        "image": r.image,
        "image_digest": r.image_digest,
        "config_version": r.config_version,
        "formation": r.formation,
        "formation_summary": formation_summary(r.formation),
        "copied_from_version": r.copied_from_version,
        "actor": r.actor,
        "message": r.message,
        "created_at": r.created_at,
        "known_good": r.known_good_at is not None,
        "known_good_at": r.known_good_at,
        "deployment_id": r.deployment_id,
        "deployment_state": r.deployment_state,
    } for r in rows]


# --- one deployment --------------------------------------------------------------------------

EVENT_COLUMNS = ("id", "at", "kind", "step", "message", "data", "aws_request_id", "fencing_token", "actor")


def deployment(db: Db, deployment_id: int) -> dict[str, Any]:
    """A deployment (its history row, what was asked of it, how it went) and its event timeline."""
    h = reads.deployment_history(db, deployment_id)
    if h is None:
        raise NotFound(f"no deployment {deployment_id}")
    d = reads.deployment(db, deployment_id)
    out = _history_row(h)
    out.update(
        current_step=d.current_step, superseded_by_id=d.superseded_by_id,
        requested={"canary_steps": list(d.canary_steps) if d.canary_steps else None, "pause_at": d.pause_at,
                   "bake_seconds": d.bake_seconds, "step_deadline_seconds": d.step_deadline_seconds,
                   "run_release_phase": d.run_release_phase},
        rollback=None if d.rolled_back_to_id is None else {
            "to_version": reads.release_version_of(db, d.rolled_back_to_id),
            "started_at": d.rollback_started_at, "reason": d.rollback_reason, "end_state": d.end_state},
        colours=reads.colours(db, deployment_id),
        steering=[{"kind": q.kind, "actor": q.actor, "requested_at": q.requested_at}
                  for q in reads.steering(db, deployment_id)],
    )
    out["events"] = [{c: getattr(e, c) for c in EVENT_COLUMNS} for e in reads.events(db, deployment_id)]
    from paas.service.failures import explain

    out["failure"] = explain(db, deployment_id)
    return out


# --- status ----------------------------------------------------------------------------------

PROCESS_FIELDS = ("image", "release", "desired_count", "running_count", "healthy_count", "weights",
                  "active_colour", "rollout_state")


def status(db: Db, app: str, env: str | None) -> dict[str, Any]:
    """What the last observation saw (no AWS call), the deployment in flight, the live release."""
    a, e = require_app_env(db, app, env)
    obs = reads.observation(db, a.id, e.id)
    current = reads.live(db, a.id, e.id)
    active = reads.in_flight_history(db, a.id, e.id)
    from paas.db.requests import latest_version

    latest = latest_version(db, a.id, e.id)
    processes: dict[str, Any] = {}
    raw = ((obs.data or {}).get("processes") if obs else None) or {}
    if isinstance(raw, dict):
        for name, p in sorted(raw.items()):
            p = p if isinstance(p, dict) else {}
            # the documented fields always present (None when the observer did not report them),
            # plus anything else the reconciler recorded
            processes[name] = {**{f: p.get(f) for f in PROCESS_FIELDS}, **p}
    dep = None
    if active is not None:
        dep = _history_row(active[0])
        dep["current_step"] = active[1]
    return {
        "app": a.name,
        "environment": e.name,
        "observed_at": obs.observed_at if obs else None,
        "current_release": None if current is None else {
            "version": current.release_version,
            "kind": current.release_kind,
            "image": current.image,
            "image_digest": current.image_digest,
            "deployment_id": current.deployment_id,
            "deployed_at": current.deployed_at,
            "known_good_at": current.known_good_at,
        },
        "latest_release_version": latest,
        "deployment": dep,
        "processes": processes,
    }


def age(ts: datetime | None, now: datetime | None = None) -> float | None:
    if ts is None:
        return None
    now = now or datetime.now(ts.tzinfo)
    return (now - ts).total_seconds()
