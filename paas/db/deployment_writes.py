"""What a worker records: deployment state changes, events, observations, task definitions.

Every function runs inside the caller's fenced transaction (`paas.db.queue.fence` first), so a
worker whose lease was taken over writes nothing. State changes guard on the state they expect
(`WHERE state = 'pending'`), so a write that lost a race changes no row instead of the wrong one.
`start` and `finish` are also where the deployment notifications are written (paas/db/notifications.py):
in the same transaction as the state they report, so neither exists without the other.
"""

from __future__ import annotations

from typing import Any

from paas.db import notifications
from paas.db.sql import Db, jsonb


def event(db: Db, deployment_id: int, kind: str, message: str, *, step: str | None = None,
          data: dict[str, Any] | None = None, actor: str | None = None, request_id: str | None = None,
          token: int | None = None) -> None:
    db.execute(
        """
        INSERT INTO deployment_events (deployment_id, kind, step, message, data, actor, aws_request_id,
                                       fencing_token)
        VALUES (%(d)s, %(k)s, %(s)s, %(m)s, %(data)s::jsonb, %(actor)s, %(rid)s, %(tok)s)
        """,
        d=deployment_id, k=kind, s=step, m=message, data=jsonb(data or {}), actor=actor, rid=request_id, tok=token,
    )


def start(db: Db, deployment_id: int, worker: str, token: int) -> bool:
    n = db.execute("UPDATE deployments SET state = 'in_progress', started_at = clock_timestamp() "
                   "WHERE id = %(i)s AND state = 'pending'", i=deployment_id)
    if n:
        event(db, deployment_id, "started", f"started by worker {worker}", token=token, data={"worker": worker})
        notifications.enqueue_deployment(db, deployment_id, "deploy_started")
    return bool(n)


def supersede(db: Db, deployment_id: int, by_id: int, reason: str, token: int) -> None:
    n = db.execute("UPDATE deployments SET state = 'superseded', finished_at = clock_timestamp(), "
                   "superseded_by_id = %(b)s, current_step = NULL WHERE id = %(i)s AND state = 'in_progress'",
                   i=deployment_id, b=by_id)
    if n:
        event(db, deployment_id, "superseded", reason, token=token, data={"superseded_by": by_id})


def choose_colours(db: Db, deployment_id: int, colours: dict[str, str], reason: str, token: int) -> None:
    db.execute(
        """
        INSERT INTO deployment_colours (deployment_id, process, colour)
        SELECT %(d)s, * FROM unnest(%(p)s::text[], %(c)s::text[]) ON CONFLICT DO NOTHING
        """,
        d=deployment_id, p=list(colours), c=list(colours.values()),
    )
    event(db, deployment_id, "colours", reason, token=token, data={"colours": colours})


def begin_rollback(db: Db, deployment_id: int, to_version: int | None, reason: str, token: int, *,
                   end_state: str | None = None, data: dict[str, Any] | None = None) -> None:
    """Record where the deployment is going back to (None: nowhere known-good) and why."""
    db.execute(
        """
        UPDATE deployments d SET
               rolled_back_to_id = COALESCE((SELECT r.id FROM releases r WHERE r.app_id = d.app_id
                                                AND r.environment_id = d.environment_id
                                                AND r.version = %(v)s), d.rolled_back_to_id),
               rollback_started_at = COALESCE(d.rollback_started_at, clock_timestamp()),
               rollback_reason = COALESCE(d.rollback_reason, %(why)s),
               end_state = COALESCE(d.end_state, %(es)s)
         WHERE d.id = %(i)s AND d.state = 'in_progress'
        """,
        i=deployment_id, v=to_version, why=reason, es=end_state,
    )
    event(db, deployment_id, "rollback_started", reason, token=token,
          data=data if data is not None else {"to_release": to_version})


def finish(db: Db, deployment_id: int, state: str, reason: str, token: int, *, error: str | None,
           rolled_back: bool) -> bool:
    n = db.execute(
        """
        UPDATE deployments SET state = %(st)s, finished_at = clock_timestamp(), current_step = NULL,
               error = %(err)s, rolled_back_from_id = CASE WHEN %(rb)s THEN release_id END
         WHERE id = %(i)s AND state IN ('pending', 'in_progress')
        """,
        st=state, i=deployment_id, err=error, rb=rolled_back,
    )
    if n:
        event(db, deployment_id, "finished", reason, token=token, data={"state": state})
        if state in notifications.DEPLOYMENT_EVENTS:
            notifications.enqueue_deployment(db, deployment_id, notifications.DEPLOYMENT_EVENTS[state],
                                             error or (None if state == "succeeded" else reason))
    return bool(n)


def fail(db: Db, deployment_id: int, error: str, token: int, *, step: str | None = None,
         request_id: str | None = None, data: dict[str, Any] | None = None) -> bool:
    """An error that ends the deployment: recorded as an `error` event and the `failed` state."""
    event(db, deployment_id, "error", error, step=step, request_id=request_id, token=token,
          data={"permanent": True, **(data or {})})
    return finish(db, deployment_id, "failed", f"failed: {error}", token, error=error, rolled_back=False)


def set_current_step(db: Db, deployment_id: int, step: str) -> None:
    db.execute("UPDATE deployments SET current_step = %(s)s WHERE id = %(i)s AND state = 'in_progress'",
               s=step, i=deployment_id)


def mark_known_good(db: Db, release_id: int) -> bool:
    return bool(db.execute("UPDATE releases SET known_good_at = clock_timestamp() "
                           "WHERE id = %(i)s AND known_good_at IS NULL", i=release_id))


def record_observation(db: Db, app_id: int, env_id: int, data: dict[str, Any]) -> None:
    db.execute(
        """
        INSERT INTO observations (app_id, environment_id, data, observed_at)
        VALUES (%(a)s, %(e)s, %(d)s::jsonb, clock_timestamp())
        ON CONFLICT (app_id, environment_id) DO UPDATE SET data = EXCLUDED.data, observed_at = EXCLUDED.observed_at
        """,
        a=app_id, e=env_id, d=jsonb(data),
    )


def record_task_definition(db: Db, app_id: int, env_id: int, family: str, task_version: int, arn: str) -> None:
    db.execute(
        """
        INSERT INTO task_definitions (app_id, environment_id, family, task_version, arn)
        VALUES (%(a)s, %(e)s, %(f)s, %(v)s, %(arn)s)
        ON CONFLICT (app_id, environment_id, family, task_version) DO UPDATE SET arn = EXCLUDED.arn
        """,
        a=app_id, e=env_id, f=family, v=task_version, arn=arn,
    )


def forget_task_definition(db: Db, app_id: int, env_id: int, arn: str) -> None:
    """A deregistered revision is never reused."""
    db.execute("DELETE FROM task_definitions WHERE app_id = %(a)s AND environment_id = %(e)s AND arn = %(arn)s",
               a=app_id, e=env_id, arn=arn)


def gc_checked(db: Db, app_id: int, env_id: int, request_id: int | None) -> None:
    db.execute(
        "UPDATE observations SET gc_checked_at = clock_timestamp(), "
        "gc_request_handled_id = COALESCE(%(r)s, gc_request_handled_id) "
        "WHERE app_id = %(a)s AND environment_id = %(e)s",
        a=app_id, e=env_id, r=request_id,
    )


def store_rule_priorities(db: Db, app_id: int, env_id: int, listener_arn: str, priorities: dict[str, int]) -> None:
    """The listener's (listener, priority) pairs are unique: a number another app took since the
    listener was read makes this fail, and the pass retries from a fresh read."""
    import psycopg2.errors

    from paas.domain.errors import TransientError

    db.execute("SAVEPOINT paas_priorities")
    try:
        db.execute(
            """
            INSERT INTO listener_rules (app_id, environment_id, process, listener_arn, priority)
            SELECT %(a)s, %(e)s, p, %(l)s, n FROM unnest(%(p)s::text[], %(n)s::int[]) AS v(p, n)
            ON CONFLICT (app_id, environment_id, process) DO UPDATE
               SET listener_arn = EXCLUDED.listener_arn, priority = EXCLUDED.priority,
                   allocated_at = clock_timestamp()
            """,
            a=app_id, e=env_id, l=listener_arn, p=list(priorities), n=list(priorities.values()),
        )
    except psycopg2.errors.UniqueViolation:
        db.execute("ROLLBACK TO SAVEPOINT paas_priorities")
        raise TransientError("a listener-rule priority was taken by another app meanwhile; reading the "
                             "listener again", delay=0.2) from None
    db.execute("RELEASE SAVEPOINT paas_priorities")


def forget_rule_priorities(db: Db, app_id: int, env_id: int, processes) -> None:
    db.execute("DELETE FROM listener_rules WHERE app_id = %(a)s AND environment_id = %(e)s "
               "AND process = ANY(%(p)s)", a=app_id, e=env_id, p=list(processes))


def task_stopped(db: Db, deployment_id: int, message: str, data: dict[str, Any], token: int) -> bool:
    """A task's stop in the deployment's timeline, once per task: a second insert for the same
    task ARN (another pass, or a racing worker) is a no-op (`uq_deployment_events_task_stopped`)."""
    return bool(db.execute(
        """
        INSERT INTO deployment_events (deployment_id, kind, message, data, fencing_token)
        VALUES (%(d)s, 'task_stopped', %(m)s, %(data)s::jsonb, %(tok)s)
        ON CONFLICT (deployment_id, (data->>'task_arn')) WHERE kind = 'task_stopped' DO NOTHING
        """,
        d=deployment_id, m=message, data=jsonb(data), tok=token))
