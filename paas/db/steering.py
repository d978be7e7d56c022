"""Steering a deployment: cancel, abort, promote and gc requests, and what they act on.

A steering request is an inserted row (who, what, when) plus an event; nothing a worker locks is
updated, so a steering command is recorded at once whatever a worker is doing.
"""

from __future__ import annotations

from paas.db import queue
from paas.db.read_records import DeploymentRecord, SteeringRecord
from paas.db.records import maybe, of
from paas.db.requests import LOCK_NOT_AVAILABLE
from paas.db.sql import Db


def find_deployment(db: Db, deployment_id: int) -> DeploymentRecord | None:
    return maybe(DeploymentRecord, db.one("SELECT * FROM deployments WHERE id = %(i)s", i=deployment_id))


def in_flight(db: Db, app_id: int, env_id: int) -> DeploymentRecord | None:
    """The deployment a steering command acts on: the one in progress, else the newest pending."""
    return maybe(DeploymentRecord, db.one(
        """
        SELECT * FROM deployments WHERE app_id = %(a)s AND environment_id = %(e)s
           AND state IN ('pending', 'in_progress')
         ORDER BY (state = 'in_progress') DESC, id DESC LIMIT 1
        """,
        a=app_id, e=env_id))


def steering_of(db: Db, deployment_id: int) -> list[SteeringRecord]:
    return [of(SteeringRecord, r) for r in db.all(
        "SELECT * FROM deployment_requests WHERE deployment_id = %(d)s ORDER BY id", d=deployment_id)]


def request_steering(db: Db, deployment_id: int, kind: str, actor: str, message: str,
                     app_id: int, env_id: int) -> bool:
    """Record a cancel/abort/promote/gc request and its event, and wake a worker. Never waits on
    a worker: it inserts rows nobody else locks. False when that request was already made."""
    row = db.one(
        """
        WITH q AS (
            INSERT INTO deployment_requests (deployment_id, kind, actor) VALUES (%(d)s, %(k)s, %(actor)s)
            ON CONFLICT DO NOTHING RETURNING id, requested_at
        ), ev AS (
            INSERT INTO deployment_events (deployment_id, kind, message, data, actor)
            SELECT %(d)s, %(ek)s, %(m)s, jsonb_build_object('request_id', q.id), %(actor)s FROM q
        )
        SELECT (SELECT id FROM q) AS id
        """,
        d=deployment_id, k=kind, ek=f"{kind}_requested", actor=actor, m=message,
    )
    if row.id is None:
        return False
    wake(db, app_id, env_id)
    return True


def wake(db: Db, app_id: int, env_id: int) -> None:
    """Make the app+environment due now without waiting on its row lock: a worker that holds it is
    already working on it and reads the request at its next step."""
    db.execute("SAVEPOINT paas_wake; SET LOCAL lock_timeout = '200ms'")
    try:
        db.execute(queue.ENQUEUE_SQL, a=app_id, e=env_id, d=0.0)
    except Exception as e:
        if getattr(e, "pgcode", None) != LOCK_NOT_AVAILABLE:
            raise
        db.execute("ROLLBACK TO SAVEPOINT paas_wake")
    db.execute("RELEASE SAVEPOINT paas_wake; SET LOCAL lock_timeout = 0; SELECT pg_notify(%(c)s, %(k)s)",
               c=queue.CHANNEL, k=f"{app_id}:{env_id}")


def cancel_pending(db: Db, deployment_id: int, actor: str, message: str) -> bool:
    """pending → cancelled, with its event; False when it is no longer pending."""
    row = db.one(
        """
        WITH c AS (
            UPDATE deployments SET state = 'cancelled', finished_at = clock_timestamp()
             WHERE id = %(i)s AND state = 'pending' RETURNING id
        ), ev AS (
            INSERT INTO deployment_events (deployment_id, kind, message, actor)
            SELECT id, 'cancelled', %(m)s, %(actor)s FROM c
        )
        SELECT (SELECT id FROM c) AS id
        """,
        i=deployment_id, m=message, actor=actor,
    )
    return row.id is not None


def current_deployment_id(db: Db, app_id: int, env_id: int) -> int | None:
    """The deployment whose release is live (what `paas gc` attaches its request to)."""
    return db.scalar("SELECT deployment_id FROM paas_live_releases WHERE app_id = %(a)s AND environment_id = %(e)s",
                     a=app_id, e=env_id)
