"""The reconcile work queue: every statement that touches `work_queue` lives here.

One row per app+environment. Claims use `FOR UPDATE SKIP LOCKED` in a CTE so any number of
workers on any number of hosts share the queue without blocking each other; a claim sets a
lease with an expiry and increments the fencing token. Every write a worker makes afterwards
first calls `fence()`, which locks the row in SHARE mode and checks the token: a worker whose
lease was rescued by another can no longer write anything (DESIGN.md §2).
"""

from __future__ import annotations

from datetime import datetime

from paas.db.sql import Db
from paas.domain.errors import LeaseLost
from paas.domain.frozen import Frozen, setfield

CHANNEL = "paas_work"


class Claim(Frozen):
    """A leased queue row (a plain frozen class: this module is on `paas deploy`'s path)."""

    __slots__ = ("app_id", "environment_id", "token", "enqueued_at", "attempts", "rescued")
    app_id: int
    environment_id: int
    token: int
    enqueued_at: datetime
    attempts: int
    rescued: bool

    def __init__(self, app_id: int, environment_id: int, token: int, enqueued_at: datetime, attempts: int,
                 rescued: bool) -> None:
        setfield(self, "app_id", app_id)
        setfield(self, "environment_id", environment_id)
        setfield(self, "token", token)
        setfield(self, "enqueued_at", enqueued_at)
        setfield(self, "attempts", attempts)
        setfield(self, "rescued", rescued)

    @property
    def key(self) -> str:
        return f"{self.app_id}:{self.environment_id}"


ENQUEUE_SQL = """
INSERT INTO work_queue (app_id, environment_id, run_after)
VALUES (%(a)s, %(e)s, now() + make_interval(secs => %(d)s))
ON CONFLICT (app_id, environment_id) DO UPDATE
   SET run_after = LEAST(work_queue.run_after, EXCLUDED.run_after),
       enqueued_at = clock_timestamp(), updated_at = now()
"""


def enqueue(db: Db, app_id: int, environment_id: int, delay: float = 0.0, notify: bool = True) -> None:
    """Make the app+environment due (now, or after `delay`), waking a listening worker.

    The upsert takes the row lock, which also serialises concurrent requests for the same
    app+environment until commit: release numbering relies on that.
    """
    db.execute(ENQUEUE_SQL, a=app_id, e=environment_id, d=delay)
    if notify:
        db.execute("SELECT pg_notify(%(c)s, %(k)s)", c=CHANNEL, k=f"{app_id}:{environment_id}")


def claim(db: Db, owner: str, ttl: float, limit: int = 1) -> list[Claim]:
    """Lease up to `limit` due rows (expired leases are rescued). Commits.

    `paas_claim()` (migration 0005) is `FOR UPDATE SKIP LOCKED` in a CTE that sets the lease and
    increments the fencing token; it is the only statement that moves a token.
    """
    rows = db.all("SELECT * FROM paas_claim(%(owner)s, %(ttl)s, %(limit)s)", owner=owner, ttl=ttl, limit=limit)
    db.commit()
    return [Claim(r.app_id, r.environment_id, r.fencing_token, r.enqueued_at, r.attempts, r.rescued)
            for r in rows]


def fence(db: Db, c: Claim) -> None:
    """Inside the caller's transaction: hold the row and prove we still own it, or raise."""
    token = db.scalar(
        "SELECT fencing_token FROM work_queue WHERE app_id = %(a)s AND environment_id = %(e)s FOR SHARE",
        a=c.app_id, e=c.environment_id,
    )
    if token != c.token:
        raise LeaseLost(f"lease on {c.key} lost: fencing token is {token}, ours was {c.token}")


LOCK_NOT_AVAILABLE = "55P03"


def heartbeat(db: Db, c: Claim, owner: str, ttl: float) -> bool:
    """Extend the lease; True when it was. A row locked for longer than half a second (a fenced
    write of our own, or a stuck session) skips this beat rather than holding up the others;
    nobody can claim a locked row meanwhile. Raises LeaseLost when the lease is no longer ours."""
    db.execute("SET LOCAL lock_timeout = '500ms'")
    try:
        n = db.execute(
            """
            UPDATE work_queue SET lease_expires_at = now() + make_interval(secs => %(ttl)s), updated_at = now()
             WHERE app_id = %(a)s AND environment_id = %(e)s AND fencing_token = %(t)s AND lease_owner = %(o)s
            """,
            a=c.app_id, e=c.environment_id, t=c.token, o=owner, ttl=ttl,
        )
    except Exception as e:
        db.rollback()
        if getattr(e, "pgcode", None) == LOCK_NOT_AVAILABLE:
            return False
        raise
    db.commit()
    if n != 1:
        raise LeaseLost(f"lease on {c.key} lost before heartbeat")
    return True


def release(db: Db, c: Claim, after: float, *, ok: bool, error: str | None = None) -> bool:
    """Give the row back, due again in `after` seconds, or at once if a request arrived meanwhile.

    Returns False when the lease had already been lost (nothing written). Commits.
    """
    n = db.execute(
        """
        UPDATE work_queue
           SET lease_owner = NULL, lease_expires_at = NULL,
               run_after = CASE WHEN enqueued_at > %(seen)s THEN now()
                                ELSE now() + make_interval(secs => %(after)s) END,
               attempts = CASE WHEN %(ok)s THEN 0 ELSE attempts END,
               last_error = %(err)s, updated_at = now()
         WHERE app_id = %(a)s AND environment_id = %(e)s AND fencing_token = %(t)s
        """,
        a=c.app_id, e=c.environment_id, t=c.token, seen=c.enqueued_at, after=after, ok=ok, err=error,
    )
    db.commit()
    return n == 1


def next_due_in(db: Db) -> float | None:
    """Seconds until the earliest row is due (0 when overdue), None for an empty queue."""
    return db.scalar(
        """
        SELECT GREATEST(0, EXTRACT(EPOCH FROM min(
                   GREATEST(run_after, COALESCE(lease_expires_at, run_after)) - now())))::float
          FROM work_queue
        """
    )


def depth(db: Db) -> tuple[int, float]:
    """Due rows not leased, and the age in seconds of the oldest of them."""
    r = db.one(
        """
        SELECT count(*) AS n, COALESCE(EXTRACT(EPOCH FROM now() - min(run_after)), 0)::float AS age
          FROM work_queue
         WHERE run_after <= now() AND (lease_expires_at IS NULL OR lease_expires_at < now())
        """
    )
    return (r.n, r.age) if r else (0, 0.0)
