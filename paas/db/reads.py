"""The reads the CLI prints: history, releases, one deployment's timeline, status, following.

Read-only; each returns typed records. `history_sql()` builds the exact statement `paas history`
runs so bench/history.py times that statement and no other.
"""

from __future__ import annotations

from typing import Any

from paas.db.read_records import (
    DeploymentRecord,
    EventRecord,
    HistoryRecord,
    LiveRecord,
    Observation,
    ReleaseListing,
    SteeringRecord,
)
from paas.db.records import maybe, of
from paas.db.sql import Db, Row

# --- history -----------------------------------------------------------------------------------


def history_sql(*, app: str | None = None, env: str | None = None, since_seconds: int | None = None,
                limit: int = 20) -> tuple[str, dict[str, Any]]:
    """The statement behind `paas history`: the view, filtered, newest first, limited.

    App and environment are resolved to ids in InitPlans and compared with the view's `app_id` /
    `environment_id` columns, so one app's history walks `ix_deployments_app_created` (or
    `ix_deployments_app_env_created`) newest first and stops at the LIMIT; filtering on the
    `app` name instead would walk the global `created_at` index and discard other apps' rows
    (10x slower at 1M deployments). The org-wide window is a range scan of
    `ix_deployments_created`. Ties in time are broken by id, which follows lock order like the
    release versions do. See bench/history.py for the plans and timings.
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


def run_history_sql(db: Db, sql: str, params: dict[str, Any]) -> list[Row]:
    """Run a `history_sql()` statement, in the caller's transaction.

    Parallel query is switched off for it (SET LOCAL: this transaction only, safe behind a
    transaction-pooling proxy): for the org-wide window (a few thousand rows) the serial plan
    is ~26 ms, the parallel one 30-50 ms with worker start-up (bench/history.py).
    """
    db.execute("SET LOCAL max_parallel_workers_per_gather = 0")
    return db.all(sql, **params)


def history(db: Db, **filters: Any) -> list[HistoryRecord]:
    sql, params = history_sql(**filters)
    return [of(HistoryRecord, r) for r in run_history_sql(db, sql, params)]


# --- releases ----------------------------------------------------------------------------------

_RELEASES_SQL = """
SELECT r.version, r.kind, i.reference AS image, COALESCE(r.image_digest, i.digest) AS image_digest,
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


def releases(db: Db, app_id: int, env_id: int | None, limit: int) -> list[ReleaseListing]:
    params: dict[str, Any] = {"a": app_id, "limit": limit}
    env_filter = ""
    if env_id is not None:
        params["e"] = env_id
        env_filter = "AND r.environment_id = %(e)s"
    return [of(ReleaseListing, r) for r in db.all(_RELEASES_SQL.format(env_filter=env_filter), **params)]


# --- one deployment ----------------------------------------------------------------------------

def deployment_history(db: Db, deployment_id: int) -> HistoryRecord | None:
    return maybe(HistoryRecord, db.one("SELECT * FROM paas_deploy_history WHERE deployment_id = %(i)s",
                                       i=deployment_id))


def deployment(db: Db, deployment_id: int) -> DeploymentRecord | None:
    return maybe(DeploymentRecord, db.one("SELECT * FROM deployments WHERE id = %(i)s", i=deployment_id))


def events(db: Db, deployment_id: int, after_id: int = 0) -> list[EventRecord]:
    return [of(EventRecord, r) for r in db.all(
        "SELECT id, at, kind, step, message, data, aws_request_id, fencing_token, actor FROM deployment_events "
        "WHERE deployment_id = %(i)s AND id > %(after)s ORDER BY id", i=deployment_id, after=after_id)]


def steering(db: Db, deployment_id: int) -> list[SteeringRecord]:
    return [of(SteeringRecord, r) for r in db.all(
        "SELECT * FROM deployment_requests WHERE deployment_id = %(d)s ORDER BY id", d=deployment_id)]


def colours(db: Db, deployment_id: int) -> dict[str, str]:
    return {r.process: r.colour for r in db.all(
        "SELECT process, colour FROM deployment_colours WHERE deployment_id = %(d)s", d=deployment_id)}


# --- status ------------------------------------------------------------------------------------

def observation(db: Db, app_id: int, env_id: int) -> Observation | None:
    return maybe(Observation, db.one(
        "SELECT data, observed_at FROM observations WHERE app_id = %(a)s AND environment_id = %(e)s",
        a=app_id, e=env_id))


def live(db: Db, app_id: int, env_id: int) -> LiveRecord | None:
    return maybe(LiveRecord, db.one(
        "SELECT * FROM paas_current_releases WHERE app_id = %(a)s AND environment_id = %(e)s", a=app_id, e=env_id))


def in_flight_history(db: Db, app_id: int, env_id: int) -> tuple[HistoryRecord, str | None] | None:
    """The deployment in flight (in progress first, else the newest pending) and its current step."""
    row = db.one(
        """
        SELECT h.*, d.current_step FROM deployments d JOIN paas_deploy_history h ON h.deployment_id = d.id
         WHERE d.app_id = %(a)s AND d.environment_id = %(e)s AND d.state IN ('pending', 'in_progress')
         ORDER BY (d.state = 'in_progress') DESC, d.id DESC LIMIT 1
        """,
        a=app_id, e=env_id,
    )
    return None if row is None else (of(HistoryRecord, row), row.current_step)


def release_version_of(db: Db, release_id: int) -> int:
    return db.scalar("SELECT version FROM releases WHERE id = %(i)s", i=release_id)


def live_release_id(db: Db, app_id: int, env_id: int) -> int | None:
    """The id of the release app+env runs now (`paas_live_releases`)."""
    return db.scalar("SELECT release_id FROM paas_live_releases WHERE app_id = %(a)s AND environment_id = %(e)s",
                     a=app_id, e=env_id)


# --- following a deployment (--wait, paas watch) ----------------------------------------------------

def claim_state(db: Db, app_id: int, env_id: int) -> tuple[bool, bool]:
    """(a worker holds the app+env's queue row now, a deployment of it is in progress)."""
    r = db.one(
        """
        SELECT EXISTS (SELECT 1 FROM work_queue w WHERE w.app_id = %(a)s AND w.environment_id = %(e)s
                          AND w.lease_owner IS NOT NULL AND w.lease_expires_at > now()) AS leased,
               EXISTS (SELECT 1 FROM deployments d WHERE d.app_id = %(a)s AND d.environment_id = %(e)s
                          AND d.state = 'in_progress') AS in_progress
        """,
        a=app_id, e=env_id)
    return bool(r.leased), bool(r.in_progress)


def latest_deployment_id(db: Db, app_id: int, env_id: int) -> int | None:
    """The deployment in flight (in progress first, else the newest pending), else the newest."""
    return db.scalar(
        """
        SELECT id FROM deployments WHERE app_id = %(a)s AND environment_id = %(e)s
         ORDER BY (state = 'in_progress') DESC, (state = 'pending') DESC, id DESC LIMIT 1
        """,
        a=app_id, e=env_id)


def task_stops(db: Db, deployment_id: int) -> list[EventRecord]:
    """The deployment's `task_stopped` events, in the order recorded."""
    return [of(EventRecord, r) for r in db.all(
        "SELECT id, at, kind, step, message, data, aws_request_id, fencing_token, actor FROM deployment_events "
        "WHERE deployment_id = %(i)s AND kind = 'task_stopped' ORDER BY id", i=deployment_id)]
