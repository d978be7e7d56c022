"""Reading what happened: releases, deploy history, one deployment's timeline, status.

Read-only use cases over plain SQL (`paas.db.sql.Db`), shared by the CLI and anything else that
wants the same answers. The history SQL is built by `history_sql()` so that bench/history.py
times exactly the statement `paas history` runs.

Every function returns plain dicts with the stable field names the CLI prints with `--json`
(documented in the README); timestamps stay `datetime` objects until printed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from paas.db.sql import Db, Row
from paas.domain import validate as v
from paas.domain.errors import NotFound, UserError
from paas.service.catalog import get_app, get_env

DEFAULT_LIMIT = 20
MAX_LIMIT = 10_000

# The columns of `paas_deploy_history`, in view order: the JSON field names of `paas history`.
HISTORY_COLUMNS = (
    "deployment_id", "app", "environment", "release_version", "release_kind", "image", "image_digest",
    "strategy", "state", "actor", "message", "created_at", "started_at", "finished_at", "duration",
    "rolled_back_from_version", "rolled_back_to_version", "error",
)


# --- history ---------------------------------------------------------------------------------

def history_sql(*, app: str | None = None, env: str | None = None, since_seconds: int | None = None,
                limit: int = DEFAULT_LIMIT) -> tuple[str, dict[str, Any]]:
    """The statement behind `paas history`: the view, filtered, newest first, limited.

    App and environment are resolved to ids in InitPlans and compared with the view's `app_id` /
    `environment_id` columns, so one app's history walks `ix_deployments_app_created` (or
    `ix_deployments_app_env_created`) newest first and stops at the LIMIT; filtering on the
    `app` name instead would walk the global `created_at` index and discard other apps' rows
    (10x slower at 1M deployments). The org-wide window is a range scan of
    `ix_deployments_created`. See bench/history.py for the plans and timings.
    """
    where, params = [], {}
    if app is not None:
        where.append("h.app_id = (SELECT id FROM apps WHERE name = %(app)s)")
        params["app"] = app
    if env is not None:
        where.append("h.environment_id = (SELECT id FROM environments WHERE name = %(env)s)")
        params["env"] = env
    if since_seconds is not None:
        where.append("h.created_at >= now() - make_interval(secs => %(since)s)")
        params["since"] = since_seconds
    sql = "SELECT h.* FROM paas_deploy_history h"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY h.created_at DESC, h.deployment_id DESC"
    if limit:
        sql += " LIMIT %(limit)s"
        params["limit"] = limit
    return sql, params


def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_LIMIT:
        raise UserError(f"invalid --limit {limit!r}: expected 1 to {MAX_LIMIT} (0 for no limit)")
    return limit


def history(db: Db, *, app: str | None = None, env: str | None = None, since: str | None = None,
            limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    """Deployments, newest first, from `paas_deploy_history`."""
    check_limit(limit)
    since_seconds = v.duration(since, "--since") if since is not None else None
    if app is not None:
        get_app(db, app)  # a clear "no app named ..." rather than an empty table
    if env is not None:
        get_env(db, env)
    sql, params = history_sql(app=app, env=env, since_seconds=since_seconds, limit=limit)
    return [_history_row(r) for r in run_history_sql(db, sql, params)]


def run_history_sql(db: Db, sql: str, params: dict[str, Any]) -> list[Row]:
    """Run a `history_sql()` statement, in the caller's transaction.

    Parallel query is switched off for it (SET LOCAL: this transaction only, safe behind a
    transaction-pooling proxy): for the org-wide window (a few thousand rows) the serial plan
    is ~26 ms, the parallel one 30-50 ms with worker start-up (bench/history.py).
    """
    db.execute("SET LOCAL max_parallel_workers_per_gather = 0")
    return db.all(sql, **params)


def _history_row(r: Row) -> dict[str, Any]:
    out = {c: r.get(c) for c in HISTORY_COLUMNS}
    out["release"] = f"v{r.release_version}"
    out["duration_seconds"] = r.duration.total_seconds() if r.duration is not None else None
    del out["duration"]
    return out


# --- releases --------------------------------------------------------------------------------

_RELEASES_SQL = """
SELECT r.id, r.version, r.kind, i.reference AS image, COALESCE(r.image_digest, i.digest) AS image_digest,
       c.version AS config_version, r.formation, r.actor, r.message, r.created_at, r.known_good_at,
       e.name AS environment, cf.version AS copied_from_version,
       d.id AS deployment_id, d.state AS deployment_state
  FROM releases r
  JOIN environments e    ON e.id = r.environment_id
  JOIN images i          ON i.id = r.image_id
  JOIN config_versions c ON c.id = r.config_version_id
  LEFT JOIN releases cf  ON cf.id = r.copied_from_id
  LEFT JOIN LATERAL (SELECT id, state FROM deployments
                      WHERE release_id = r.id ORDER BY id DESC LIMIT 1) d ON true
 WHERE r.app_id = %(a)s {env_filter}
 ORDER BY e.name, r.version DESC
 LIMIT %(limit)s
"""


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
    params: dict[str, Any] = {"a": a.id, "limit": limit or MAX_LIMIT}
    env_filter = ""
    if env is not None:
        params["e"] = get_env(db, env).id
        env_filter = "AND r.environment_id = %(e)s"
    rows = db.all(_RELEASES_SQL.format(env_filter=env_filter), **params)
    return [{
        "app": app,
        "environment": r.environment,
        "release": f"v{r.version}",
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

_DEPLOYMENT_SQL = """
SELECT h.*, d.options, d.current_step, d.superseded_by_id
  FROM paas_deploy_history h JOIN deployments d ON d.id = h.deployment_id
 WHERE h.deployment_id = %(i)s
"""

EVENT_COLUMNS = ("id", "at", "kind", "step", "message", "data", "aws_request_id", "fencing_token", "actor")


def deployment(db: Db, deployment_id: int) -> dict[str, Any]:
    """A deployment (its history row plus options, current step) and its event timeline."""
    row = db.one(_DEPLOYMENT_SQL, i=deployment_id)
    if row is None:
        raise NotFound(f"no deployment {deployment_id}")
    out = _history_row(row)
    out.update(options=row.options, current_step=row.current_step, superseded_by_id=row.superseded_by_id)
    out["events"] = [dict(e) for e in db.all(
        f"SELECT {', '.join(EVENT_COLUMNS)} FROM deployment_events WHERE deployment_id = %(i)s ORDER BY id",
        i=deployment_id,
    )]
    return out


# --- status ----------------------------------------------------------------------------------

PROCESS_FIELDS = ("image", "release", "desired_count", "running_count", "healthy_count", "weights",
                  "active_colour", "rollout_state")


def status(db: Db, app: str, env: str | None) -> dict[str, Any]:
    """What the last observation saw (no AWS call), the deployment in flight, the current release."""
    a, e = get_app(db, app), get_env(db, env)
    obs = db.one("SELECT data, observed_at FROM observations WHERE app_id = %(a)s AND environment_id = %(e)s",
                 a=a.id, e=e.id)
    current = db.one(
        "SELECT * FROM paas_current_releases WHERE app = %(app)s AND environment = %(env)s",
        app=a.name, env=e.name,
    )
    active = db.one(
        """
        SELECT h.*, d.current_step FROM deployments d JOIN paas_deploy_history h ON h.deployment_id = d.id
         WHERE d.app_id = %(a)s AND d.environment_id = %(e)s AND d.state IN ('pending', 'in_progress')
         ORDER BY (d.state = 'in_progress') DESC, d.id DESC LIMIT 1
        """,
        a=a.id, e=e.id,
    )
    latest = db.scalar(
        "SELECT max(version) FROM releases WHERE app_id = %(a)s AND environment_id = %(e)s",
        a=a.id, e=e.id,
    )
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
        dep = _history_row(active)
        dep["current_step"] = active.current_step
    return {
        "app": a.name,
        "environment": e.name,
        "observed_at": obs.observed_at if obs else None,
        "current_release": None if current is None else {
            "release": f"v{current.release_version}",
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
