"""The statements behind deploy, config, secret, scale and rollback requests, and steering.

Everything runs in the caller's single transaction (the CLI commits once at the end). A request
locks its app+environment's queue row first (`lock_for_request`), so release versions stay
consecutive, and then reads what it builds on: the newest release that is live or on its way
(`base_release`), never one that failed, was rolled back, aborted or cancelled.
"""

from __future__ import annotations

from typing import Any, Sequence

from paas.db import queue
from paas.db.records import BaseRelease, ConfigRecord, ProcessRecord, ReleaseRecord, maybe, of
from paas.db.sql import Db, jsonb
from paas.domain.errors import Busy

LOCK_NOT_AVAILABLE = "55P03"
LOCK_TIMEOUT_S = 2.0  # PAAS_LOCK_TIMEOUT overrides (seconds)

_RELEASE = """
SELECT r.id, r.version, r.kind, i.reference AS image, r.image_id, COALESCE(r.image_digest, i.digest) AS digest,
       r.config_version_id, r.formation, r.manifest, r.copied_from_id, r.known_good_at
  FROM releases r JOIN images i ON i.id = r.image_id
"""

# A deployment a worker is (or will be) taking somewhere: the newest one not being aborted or
# cancelled; one that is rolling back is on its way to its rollback target.
_ON_ITS_WAY = """
SELECT COALESCE(d.rolled_back_to_id, d.release_id) AS release_id, d.id AS deployment_id, d.state, d.strategy
  FROM deployments d
 WHERE d.app_id = %(a)s AND d.environment_id = %(e)s AND d.state IN ('pending', 'in_progress')
   AND NOT EXISTS (SELECT 1 FROM deployment_requests q WHERE q.deployment_id = d.id AND q.kind IN ('cancel', 'abort'))
 ORDER BY d.id DESC LIMIT 1
"""

_LIVE = """
SELECT l.release_id, l.deployment_id, d.state, d.strategy
  FROM paas_live_releases l JOIN deployments d ON d.id = l.deployment_id
 WHERE l.app_id = %(a)s AND l.environment_id = %(e)s
"""


def lock_for_request(db: Db, app_id: int, env_id: int) -> None:
    """Take the app+environment's queue-row lock (released at commit): requests serialise here.

    A worker holds this row only for the milliseconds of a fenced write, so waiting longer than
    a couple of seconds means a session is stuck: say so rather than hang. The lock timeout stays
    for the rest of the request's transaction (one round trip, not four).
    """
    import os

    try:
        timeout = float(os.environ.get("PAAS_LOCK_TIMEOUT") or LOCK_TIMEOUT_S)
    except ValueError:
        timeout = LOCK_TIMEOUT_S
    try:
        db.execute("SET LOCAL lock_timeout = %(t)s; " + queue.ENQUEUE_SQL, t=f"{int(timeout * 1000)}ms",
                   a=app_id, e=env_id, d=0.0)
    except Exception as e:
        if getattr(e, "pgcode", None) != LOCK_NOT_AVAILABLE:
            raise
        raise Busy(f"another session has held this app+environment for over {timeout:g}s (a worker stuck "
                   "in a database call?); nothing was written: try again, or see `paas status`") from None


def base_release(db: Db, app_id: int, env_id: int) -> BaseRelease | None:
    """The newest release that is live or on its way (pending or in progress), or None."""
    row = _base_row(db, app_id, env_id)
    if row is None:
        return None
    return BaseRelease(release=_release_from_json(row.release), deployment_id=row.deployment_id,
                       deployment_state=row.deployment_state, strategy=row.strategy)


def _base_row(db: Db, app_id: int, env_id: int):
    return db.one(
        f"""
        WITH x AS (
            SELECT *, 0 AS rank FROM ({_ON_ITS_WAY}) w
            UNION ALL
            SELECT *, 1 AS rank FROM ({_LIVE}) l
        )
        SELECT x.deployment_id, x.state AS deployment_state, x.strategy,
               (SELECT row_to_json(r) FROM ({_RELEASE} WHERE r.id = x.release_id) r) AS release
          FROM x ORDER BY x.rank LIMIT 1
        """,
        a=app_id, e=env_id,
    )


def _release_from_json(j: dict) -> ReleaseRecord:
    from datetime import datetime

    kg = j.get("known_good_at")
    return of(ReleaseRecord, {**j, "known_good_at": datetime.fromisoformat(kg) if kg else None})


def release_by_version(db: Db, app_id: int, env_id: int, version: int) -> ReleaseRecord | None:
    return maybe(ReleaseRecord, db.one(
        _RELEASE + " WHERE r.app_id = %(a)s AND r.environment_id = %(e)s AND r.version = %(v)s",
        a=app_id, e=env_id, v=version))


def latest_version(db: Db, app_id: int, env_id: int) -> int | None:
    return db.scalar("SELECT max(version) FROM releases WHERE app_id = %(a)s AND environment_id = %(e)s",
                     a=app_id, e=env_id)


def rejection(db: Db, release_id: int) -> str | None:
    """How the release's own deployment ended, when a gate, a breaker or a person rejected it."""
    return db.scalar(
        """
        SELECT state FROM deployments WHERE release_id = %(r)s
           AND state IN ('failed', 'rolled_back', 'cancelled') ORDER BY id DESC LIMIT 1
        """,
        r=release_id,
    )


def previously_live(db: Db, app_id: int, env_id: int, current: ReleaseRecord) -> ReleaseRecord | None:
    """The release that was live before `current` became live: the default rollback target.

    Walks the live history newest first and takes the first release that differs from the
    current one in what a rollback restores (image, config, manifest).
    """
    return maybe(ReleaseRecord, db.one(
        f"""
        {_RELEASE}
          JOIN (SELECT CASE WHEN d.state = 'succeeded' THEN d.release_id ELSE d.rolled_back_to_id END AS rid,
                       d.finished_at, d.id
                  FROM deployments d
                 WHERE d.app_id = %(a)s AND d.environment_id = %(e)s AND d.finished_at IS NOT NULL
                   AND (d.state = 'succeeded' OR d.rolled_back_to_id IS NOT NULL)) h ON h.rid = r.id
         WHERE (r.image_id, r.config_version_id, r.manifest) IS DISTINCT FROM (%(img)s, %(cv)s, %(m)s::jsonb)
         ORDER BY h.finished_at DESC, h.id DESC LIMIT 1
        """,
        a=app_id, e=env_id, img=current.image_id, cv=current.config_version_id, m=jsonb(current.manifest),
    ))


def last_finished_strategy(db: Db, app_id: int, env_id: int) -> str | None:
    return db.scalar(
        "SELECT strategy FROM deployments WHERE app_id = %(a)s AND environment_id = %(e)s "
        "AND state = 'succeeded' ORDER BY finished_at DESC, id DESC LIMIT 1", a=app_id, e=env_id)


# --- config versions ---------------------------------------------------------------------------

def config_by_id(db: Db, config_id: int) -> ConfigRecord:
    return of(ConfigRecord, db.one("SELECT * FROM config_versions WHERE id = %(i)s", i=config_id))


def latest_config(db: Db, app_id: int, env_id: int) -> ConfigRecord | None:
    return maybe(ConfigRecord, db.one(
        "SELECT * FROM config_versions WHERE app_id = %(a)s AND environment_id = %(e)s "
        "ORDER BY version DESC LIMIT 1", a=app_id, e=env_id))


def config_by_version(db: Db, app_id: int, env_id: int, version: int) -> ConfigRecord | None:
    return maybe(ConfigRecord, db.one(
        "SELECT * FROM config_versions WHERE app_id = %(a)s AND environment_id = %(e)s AND version = %(v)s",
        a=app_id, e=env_id, v=version))


def insert_config(db: Db, app_id: int, env_id: int, vars_: dict[str, str], secrets: dict[str, Any],
                  actor: str) -> ConfigRecord:
    return of(ConfigRecord, db.one(
        """
        INSERT INTO config_versions (app_id, environment_id, version, vars, secrets, actor)
        SELECT %(a)s, %(e)s, COALESCE(max(version), 0) + 1, %(vars)s::jsonb, %(secrets)s::jsonb, %(actor)s
          FROM config_versions WHERE app_id = %(a)s AND environment_id = %(e)s
        RETURNING *
        """,
        a=app_id, e=env_id, vars=jsonb(vars_), secrets=jsonb(secrets), actor=actor))


# --- the release and its deployment -----------------------------------------------------------

def insert_release_and_deployment(
        db: Db, app_id: int, env_id: int, *, kind: str, image: str, repository: str, tag: str | None,
        digest: str | None, config_version_id: int, formation: dict, manifest: dict, copied_from_id: int | None,
        strategy: str, actor: str, message: str | None, canary_steps: list[int] | None = None,
        pause_at: int | None = None, requested: dict[str, Any] | None = None, run_release_phase: bool | None = None,
        processes: Sequence[ProcessRecord] | None = None) -> tuple[int, int, int, list[int]]:
    """A release and its deployment with everything it implies, in one round trip: the image row,
    the release (next version: the caller holds the queue-row lock, so it cannot race), the
    deployment, pending ones superseded (and their events), its own `requested` event, the NOTIFY.
    Returns (release id, version, deployment id, superseded ids).

    `processes`: also record them first as the app's declared process types
    (`catalog.upsert_processes`), in the same query string."""
    from paas.db import catalog

    upsert, extra = ("", {}) if processes is None else (catalog.UPSERT_PROCESSES_SQL + ";",
                                                         catalog.process_params(processes))
    row = db.one(
        upsert + """
        WITH img AS (
            INSERT INTO images (reference, repository, tag, digest) VALUES (%(ref)s, %(repo)s, %(tag)s, %(dig)s)
            ON CONFLICT (reference) DO UPDATE SET reference = EXCLUDED.reference
            RETURNING id
        ), rel AS (
            INSERT INTO releases (app_id, environment_id, version, kind, image_id, image_digest,
                                  config_version_id, formation, manifest, copied_from_id, actor, message)
            SELECT %(a)s, %(e)s, COALESCE(max(r.version), 0) + 1, %(k)s, (SELECT id FROM img), %(dig)s, %(cv)s,
                   %(f)s::jsonb, %(m)s::jsonb, %(cf)s, %(actor)s, %(msg)s
              FROM releases r WHERE r.app_id = %(a)s AND r.environment_id = %(e)s
            RETURNING id, version
        ), dep AS (
            INSERT INTO deployments (app_id, environment_id, release_id, strategy, actor, message,
                                     canary_steps, pause_at, run_release_phase)
            SELECT %(a)s, %(e)s, rel.id, %(s)s, %(actor)s, %(msg)s, %(steps)s, %(pause)s, %(rrp)s FROM rel
            RETURNING id
        ), sup AS (
            UPDATE deployments SET state = 'superseded', finished_at = clock_timestamp(),
                   superseded_by_id = (SELECT id FROM dep)
             WHERE app_id = %(a)s AND environment_id = %(e)s AND state = 'pending'
            RETURNING id
        ), sup_events AS (
            INSERT INTO deployment_events (deployment_id, kind, message, data, actor)
            SELECT sup.id, 'superseded',
                   'superseded by deployment ' || (SELECT id FROM dep) || ' (v' || (SELECT version FROM rel)
                       || ') before it started',
                   jsonb_build_object('superseded_by', (SELECT id FROM dep)), %(actor)s
              FROM sup
        ), req_event AS (
            INSERT INTO deployment_events (deployment_id, kind, message, data, actor)
            SELECT dep.id, 'requested', %(k)s || ' of v' || (SELECT version FROM rel) || ' requested (' || %(s)s || ')',
                   %(data)s::jsonb || jsonb_build_object('superseded',
                       COALESCE((SELECT jsonb_agg(id ORDER BY id) FROM sup), '[]'::jsonb)), %(actor)s
              FROM dep
        )
        SELECT (SELECT id FROM rel) AS release_id, (SELECT version FROM rel) AS version,
               (SELECT id FROM dep) AS id, ARRAY(SELECT id FROM sup ORDER BY id) AS superseded,
               pg_notify(%(chan)s, %(key)s) AS notified
        """,
        a=app_id, e=env_id, k=kind, ref=image, repo=repository, tag=tag, dig=digest, cv=config_version_id,
        f=jsonb(formation), m=jsonb(manifest), cf=copied_from_id, actor=actor, msg=message, s=strategy,
        steps=list(canary_steps) if canary_steps else None, pause=pause_at, rrp=run_release_phase,
        data=jsonb({"kind": kind, "image": image, **(requested or {})}),
        chan=queue.CHANNEL, key=f"{app_id}:{env_id}", **extra,
    )
    return row.release_id, row.version, row.id, list(row.superseded)
