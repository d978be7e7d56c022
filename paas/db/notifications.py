"""Notifications: every statement on `notify_targets` and `notify_outbox` lives here.

The outbox is transactional: `enqueue` writes one row per matching target inside the caller's
transaction, so a notification exists if and only if the state change it reports committed.
Workers deliver the rows at least once (paas/reconciler/notify.py):

1. `claim` (commits): the oldest pending row of each target, if due and not leased, `FOR UPDATE
   SKIP LOCKED`; sets a lease and increments `claim_token` (the fencing token) and `attempts`.
   Only a target's oldest pending row is ever eligible, so a receiver gets its events in
   order and nothing overtakes a row that is waiting for a retry.
2. The HTTP request is sent with no transaction open.
3. `delivered` / `failed` / `dropped` (each commits) write the result, guarded by the claim
   token: a worker whose lease expired (and whose row was claimed again) writes nothing. A
   worker killed between 1 and 3 leaves the lease to expire; the row is claimed again and sent
   with the same `key` (the receiver's Idempotency-Key).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from paas.db.sql import Db, Row, jsonb
from paas.domain import notify


class _CursorDb(Db):
    """`Db` over a DB-API cursor the caller already holds (its transaction, its connection)."""

    def __init__(self, cur: Any) -> None:
        super().__init__(cur.connection)
        self._cur = cur

    def _run(self, sql: str, params: dict[str, Any] | None) -> Any:
        self._cur.execute(sql, params or None)
        return self._cur


def _as_db(handle: Any) -> Db:
    """`enqueue` takes what the caller has: a `Db`, a psycopg2 connection or a cursor."""
    if isinstance(handle, Db):
        return handle
    if hasattr(handle, "fetchone") and hasattr(handle, "connection"):
        return _CursorDb(handle)
    if hasattr(handle, "cursor"):
        return Db(handle)
    raise TypeError(f"enqueue needs a paas.db.sql.Db, a connection or a cursor, got {type(handle).__name__}")


# --------------------------------------------------------------------------- targets (CLI)

def add_target(db: Db, *, app_id: int, environment_id: int | None, store_environment_id: int, fmt: str,
               events: tuple[str, ...], url_param: str, secret_param: str, url_display: str, actor: str) -> int:
    """A new target (in the caller's transaction); its id."""
    return db.scalar(
        """
        INSERT INTO notify_targets (app_id, environment_id, store_environment_id, format, events, url_param,
                                    secret_param, url_display, actor)
        VALUES (%(a)s, %(e)s, %(s)s, %(f)s, %(ev)s::text[], %(u)s, %(sec)s, %(d)s, %(actor)s)
        RETURNING id
        """,
        a=app_id, e=environment_id, s=store_environment_id, f=fmt, ev=list(events), u=url_param,
        sec=secret_param, d=url_display, actor=actor)


def targets(db: Db, app_id: int, *, removed: bool = False) -> list[Row]:
    """The app's targets from the `paas_notifications` view (redacted URL, delivery counts)."""
    return db.all(
        "SELECT * FROM paas_notifications WHERE app_id = %(a)s AND (%(all)s OR removed_at IS NULL) "
        "ORDER BY target_id", a=app_id, all=removed)


def target(db: Db, app_id: int, target_id: int) -> Row | None:
    """One target of the app, with where its parameters live (removed ones too)."""
    return db.one(
        """
        SELECT t.*, e.name AS store_environment
          FROM notify_targets t JOIN environments e ON e.id = t.store_environment_id
         WHERE t.app_id = %(a)s AND t.id = %(i)s
        """, a=app_id, i=target_id)


def remove_target(db: Db, app_id: int, target_id: int, actor: str) -> bool:
    """Stamp the target removed (in the caller's transaction); False when it was not there or
    already removed. Its pending rows are dropped by the next worker that claims them."""
    return bool(db.execute(
        "UPDATE notify_targets SET removed_at = clock_timestamp(), removed_by = %(by)s "
        "WHERE app_id = %(a)s AND id = %(i)s AND removed_at IS NULL", a=app_id, i=target_id, by=actor))


def deliveries(db: Db, app_id: int, *, target_id: int | None = None, limit: int = 50) -> list[Row]:
    """The newest outbox rows of the app (newest first), without payloads' free text beyond the event."""
    return db.all(
        """
        SELECT o.id, o.key, o.target_id, o.event, o.state, o.attempts, o.created_at, o.next_attempt_at,
               o.finished_at, o.last_status, o.last_error, e.name AS environment
          FROM notify_outbox o LEFT JOIN environments e ON e.id = o.environment_id
         WHERE o.app_id = %(a)s AND (%(t)s::int IS NULL OR o.target_id = %(t)s)
         ORDER BY o.id DESC LIMIT %(n)s
        """, a=app_id, t=target_id, n=limit)


# --------------------------------------------------------------------------- the outbox (writers)

_ENQUEUE = """
WITH matching AS (
    SELECT gen_random_uuid() AS k, t.id AS target_id, a.name AS app, e.name AS env
      FROM notify_targets t
      JOIN apps a ON a.id = t.app_id
      LEFT JOIN environments e ON e.id = %(e)s
     WHERE t.app_id = %(a)s AND t.removed_at IS NULL AND %(ev)s = ANY(t.events)
       AND (t.environment_id IS NULL OR %(e)s::int IS NULL OR t.environment_id = %(e)s)
), ins AS (
    INSERT INTO notify_outbox (key, target_id, app_id, environment_id, event, payload)
    SELECT m.k, m.target_id, %(a)s, %(e)s, %(ev)s,
           %(p)s::jsonb || jsonb_build_object(
               'id', m.k, 'event', %(ev)s, 'app', m.app, 'environment', m.env,
               'at', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
      FROM matching m ORDER BY m.target_id
    RETURNING 1
)
SELECT count(*) FROM ins
"""


def enqueue(cur: Any, *, app_id: int, environment_id: int | None, event: str, payload: dict) -> None:
    """Write one outbox row per target of the app that wants `event`, in the caller's transaction.

    `cur` is the caller's `paas.db.sql.Db` (or a psycopg2 cursor or connection): the rows commit
    or roll back with the state change they report. Targets of the app's environment
    `environment_id` and the app's environment-less targets match; `environment_id=None` (an
    event about the app as a whole, e.g. an image pushed) matches every target of the app.

    `payload` holds the event's facts, JSON values only; the documented keys are `release`
    (number), `deployment_id`, `image`, `reason` (cut to 1,000 characters); any other key is
    passed on as is. `id`, `event`, `app`, `environment` and `at` are filled in here. An unknown
    event or a payload over 16 KB raises ValueError (a programming error, not user input).
    Wakes a listening worker when a row was written (NOTIFY, sent on commit).
    """
    from paas.db.queue import CHANNEL

    body = notify.payload(event, payload)
    db = _as_db(cur)
    n = db.scalar(_ENQUEUE, a=app_id, e=environment_id, ev=event, p=jsonb(body))
    if n:
        db.execute("SELECT pg_notify(%(c)s, 'notify')", c=CHANNEL)


# the end state of a deployment → the event it is notified as (superseded, cancelled: none)
DEPLOYMENT_EVENTS = {"succeeded": "deploy_succeeded", "failed": "deploy_failed", "rolled_back": "rolled_back"}


def enqueue_deployment(db: Db, deployment_id: int, event: str, reason: str | None = None) -> None:
    """`enqueue` for a deployment's start or end (paas/db/deployment_writes.py), in its transaction:
    one statement when no target of the app wants the event."""
    r = db.one(
        """
        SELECT d.app_id, d.environment_id, r.version AS release, r.kind AS release_kind, i.reference AS image,
               COALESCE(r.image_digest, i.digest) AS image_digest, d.strategy, d.actor
          FROM deployments d
          JOIN releases r ON r.id = d.release_id
          JOIN images i ON i.id = r.image_id
         WHERE d.id = %(d)s
           AND EXISTS (SELECT 1 FROM notify_targets t
                        WHERE t.app_id = d.app_id AND t.removed_at IS NULL AND %(ev)s = ANY(t.events)
                          AND (t.environment_id IS NULL OR t.environment_id = d.environment_id))
        """, d=deployment_id, ev=event)
    if r is None:
        return
    enqueue(db, app_id=r.app_id, environment_id=r.environment_id, event=event,
            payload={"release": r.release, "release_kind": r.release_kind, "deployment_id": deployment_id,
                     "image": r.image,
                     "image_digest": r.image_digest, "strategy": r.strategy, "actor": r.actor,
                     "reason": reason})


# --------------------------------------------------------------------------- delivery (workers)

@dataclass(frozen=True)
class Delivery:
    """A claimed outbox row with what sending it needs."""

    id: int
    key: str
    token: int
    attempts: int
    event: str
    payload: dict
    created_at: datetime
    target_id: int
    format: str
    url_param: str
    secret_param: str
    target_removed: bool
    store_env: Row  # region, role_arn, name: which driver reads the parameters


_CLAIM = """
WITH heads AS (
    SELECT DISTINCT ON (target_id) id FROM notify_outbox WHERE state = 'pending' ORDER BY target_id, id
), due AS (
    SELECT o.id FROM notify_outbox o JOIN heads h ON h.id = o.id
     WHERE o.state = 'pending' AND o.next_attempt_at <= now()
       AND (o.lease_expires_at IS NULL OR o.lease_expires_at < now())
     ORDER BY o.next_attempt_at, o.id
     LIMIT %(n)s
     FOR UPDATE OF o SKIP LOCKED
)
UPDATE notify_outbox o
   SET lease_owner = %(owner)s, lease_expires_at = now() + make_interval(secs => %(ttl)s),
       claim_token = o.claim_token + 1, attempts = o.attempts + 1
  FROM due, notify_targets t, environments e
 WHERE o.id = due.id AND t.id = o.target_id AND e.id = t.store_environment_id
RETURNING o.id, o.key::text AS key, o.claim_token, o.attempts, o.event, o.payload, o.created_at, o.target_id,
          t.format, t.url_param, t.secret_param, t.removed_at IS NOT NULL AS target_removed,
          e.id AS env_id, e.name AS env_name, e.region AS env_region, e.role_arn AS env_role_arn
"""


def claim(db: Db, owner: str, ttl: float, limit: int) -> list[Delivery]:
    """Lease up to `limit` due rows, each the oldest pending row of its target. Commits."""
    rows = db.all(_CLAIM, owner=owner, ttl=ttl, n=limit)
    db.commit()
    return [Delivery(r.id, r.key, r.claim_token, r.attempts, r.event, dict(r.payload), r.created_at, r.target_id,
                     r.format, r.url_param, r.secret_param, r.target_removed,
                     Row(id=r.env_id, name=r.env_name, region=r.env_region, role_arn=r.env_role_arn))
            for r in sorted(rows, key=lambda r: r.id)]


_GUARD = "WHERE id = %(i)s AND claim_token = %(t)s AND lease_owner = %(o)s AND state = 'pending'"


def delivered(db: Db, d: Delivery, owner: str, status: int) -> bool:
    """The receiver answered 2xx. False when the lease was lost meanwhile (nothing written). Commits."""
    n = db.execute(
        "UPDATE notify_outbox SET state = 'delivered', finished_at = clock_timestamp(), last_status = %(s)s, "
        "last_error = NULL, lease_owner = NULL, lease_expires_at = NULL " + _GUARD,
        i=d.id, t=d.token, o=owner, s=status)
    db.commit()
    return n == 1


def failed(db: Db, d: Delivery, owner: str, *, status: int | None, error: str, retry_in: float,
           max_age: float) -> str | None:
    """The attempt failed: due again in `retry_in` seconds, or `dead` once the row is older than
    `max_age` seconds. Returns the new state (None when the lease was lost). Commits."""
    state = db.scalar(
        """
        UPDATE notify_outbox
           SET state = CASE WHEN created_at < now() - make_interval(secs => %(age)s) THEN 'dead' ELSE 'pending' END,
               finished_at = CASE WHEN created_at < now() - make_interval(secs => %(age)s)
                                  THEN clock_timestamp() END,
               next_attempt_at = clock_timestamp() + make_interval(secs => %(after)s),
               last_status = %(s)s, last_error = %(err)s, lease_owner = NULL, lease_expires_at = NULL
        """ + _GUARD + " RETURNING state",
        i=d.id, t=d.token, o=owner, s=status, err=error[:500], after=retry_in, age=max_age)
    db.commit()
    return state


def dropped(db: Db, d: Delivery, owner: str, reason: str) -> bool:
    """Not sent, and never will be: its target was removed. Commits."""
    n = db.execute(
        "UPDATE notify_outbox SET state = 'dropped', finished_at = clock_timestamp(), last_error = %(err)s, "
        "lease_owner = NULL, lease_expires_at = NULL " + _GUARD, i=d.id, t=d.token, o=owner, err=reason[:500])
    db.commit()
    return n == 1


def next_due_in(db: Db) -> float | None:
    """Seconds until the earliest pending row is due or its lease expires (0 when overdue); None
    when nothing is pending."""
    return db.scalar(
        """
        SELECT GREATEST(0, EXTRACT(EPOCH FROM min(GREATEST(next_attempt_at, COALESCE(lease_expires_at,
                   next_attempt_at))) - now()))::float
          FROM notify_outbox WHERE state = 'pending'
        """)
