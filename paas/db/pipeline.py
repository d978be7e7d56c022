"""Every statement of the delivery pipeline: pipelines, pushes, checks, promotions, approvals.

Transaction contract: each function runs in the caller's transaction and commits nothing,
except `claim` (which commits its lease, like `paas.db.queue.claim`). A pipeline is advanced by
one worker at a time: `claim` leases the app's `pipelines` row (`FOR UPDATE SKIP LOCKED`), and
every write a pass makes starts with `fence`, which checks the lease is still the caller's.
A push is recorded once per app and digest (unique constraint): at-least-once delivery in,
exactly-once recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from paas.db.sql import Db, jsonb
from paas.domain.errors import LeaseLost
from paas.domain.pipeline import CheckState, PipelineSpec, PipelineState, PromotionState, PushState

CHANNEL = "paas_pipeline"
RECENT_ENDED = 10  # ended pushes loaded with a pipeline's state (for `paas pipeline`: the last failure)


# --- declaring ---------------------------------------------------------------------------------

def environment_ids(db: Db, names: list[str]) -> dict[str, int]:
    rows = db.all("SELECT id, name FROM environments WHERE name = ANY(%(n)s)", n=names)
    return {r.name: r.id for r in rows}


def set_pipeline(db: Db, app_id: int, spec: PipelineSpec, actor: str) -> bool:
    """Insert or replace the app's pipeline; True when it is new. Makes it due at once."""
    new = db.scalar(
        """
        INSERT INTO pipelines (app_id, spec, actor) VALUES (%(a)s, %(s)s::jsonb, %(actor)s)
        ON CONFLICT (app_id) DO UPDATE SET spec = EXCLUDED.spec, actor = EXCLUDED.actor,
               updated_at = clock_timestamp(), run_after = clock_timestamp()
        RETURNING (xmax = 0)
        """, a=app_id, s=jsonb(spec.to_json()), actor=actor)
    db.execute("SELECT pg_notify(%(c)s, %(k)s)", c=CHANNEL, k=str(app_id))
    return bool(new)


def spec_of(db: Db, app_id: int) -> PipelineSpec | None:
    raw = db.scalar("SELECT spec FROM pipelines WHERE app_id = %(a)s", a=app_id)
    return None if raw is None else PipelineSpec.from_json(raw)


def watched(db: Db) -> list[tuple[int, str, PipelineSpec, Any]]:
    """(app id, app name, spec, first stage's environment row) of every pipeline: what the push
    consumer matches events against and which regions it listens in."""
    rows = db.all(
        """
        SELECT p.app_id, a.name AS app, p.spec, e.name AS env_name, e.region, e.role_arn
          FROM pipelines p JOIN apps a ON a.id = p.app_id
          LEFT JOIN environments e ON e.name = p.spec->'stages'->0->>'environment'
         ORDER BY p.app_id
        """)
    return [(r.app_id, r.app, PipelineSpec.from_json(r.spec), r) for r in rows]


# --- pushes ------------------------------------------------------------------------------------

def record_push(db: Db, app_id: int, *, repository: str, tag: str | None, digest: str, image: str, source: str,
                pushed_at: datetime | None, queued_at: datetime | None) -> int | None:
    """The push's id when it is new (None: this digest was seen before). Makes the pipeline due."""
    push_id = db.scalar(
        """
        INSERT INTO image_pushes (app_id, repository, tag, digest, image, source, pushed_at, queued_at)
        VALUES (%(a)s, %(r)s, %(t)s, %(d)s, %(i)s, %(s)s, %(p)s, %(q)s)
        ON CONFLICT (app_id, digest) DO NOTHING RETURNING id
        """, a=app_id, r=repository, t=tag, d=digest, i=image, s=source, p=pushed_at, q=queued_at)
    if push_id is not None:
        make_due(db, app_id)
    return push_id


def make_due(db: Db, app_id: int) -> None:
    db.execute("UPDATE pipelines SET run_after = clock_timestamp() WHERE app_id = %(a)s", a=app_id)
    db.execute("SELECT pg_notify(%(c)s, %(k)s)", c=CHANNEL, k=str(app_id))


def seen_digests(db: Db, app_id: int, digests: list[str]) -> set[str]:
    rows = db.all("SELECT digest FROM image_pushes WHERE app_id = %(a)s AND digest = ANY(%(d)s)",
                  a=app_id, d=digests)
    return {r.digest for r in rows}


def end_push(db: Db, push_id: int, state: str, reason: str) -> bool:
    return db.execute(
        "UPDATE image_pushes SET state = %(s)s, end_reason = %(r)s, ended_at = clock_timestamp() "
        "WHERE id = %(i)s AND state = 'active'", s=state, r=reason[:2000], i=push_id) == 1


def mark_approval_announced(db: Db, push_id: int, environment_id: int) -> None:
    db.execute("UPDATE image_pushes SET approval_notified = array_append(approval_notified, %(e)s) "
               "WHERE id = %(i)s AND NOT (%(e)s = ANY(approval_notified))", e=environment_id, i=push_id)


# --- the pipeline's lease ----------------------------------------------------------------------

def claim(db: Db, owner: str, ttl: float) -> int | None:
    """Lease one due pipeline, or one whose lease expired (a worker died). Commits.

    The claim moves `run_after` to infinity: anything that makes the pipeline due while the pass
    runs (a push, an approval) sets it back to now, and `release` keeps the earlier time."""
    app_id = db.scalar(
        """
        WITH due AS (
            SELECT app_id FROM pipelines
             WHERE (lease_expires_at IS NULL AND run_after <= clock_timestamp())
                OR lease_expires_at < clock_timestamp()
             ORDER BY run_after LIMIT 1 FOR UPDATE SKIP LOCKED)
        UPDATE pipelines p SET lease_owner = %(o)s, run_after = 'infinity',
               lease_expires_at = clock_timestamp() + make_interval(secs => %(t)s)
          FROM due WHERE p.app_id = due.app_id RETURNING p.app_id
        """, o=owner, t=ttl)
    db.commit()
    return app_id


def fence(db: Db, app_id: int, owner: str) -> None:
    """First statement of every write of a pass: the lease must still be ours."""
    ok = db.scalar("SELECT 1 FROM pipelines WHERE app_id = %(a)s AND lease_owner = %(o)s "
                   "AND lease_expires_at > clock_timestamp() FOR SHARE", a=app_id, o=owner)
    if not ok:
        raise LeaseLost(f"pipeline lease of app {app_id} lost")


def release(db: Db, app_id: int, owner: str, after: float) -> None:
    """Give the lease back; due again after `after` seconds, or earlier if made due meanwhile. Commits."""
    db.execute(
        """
        UPDATE pipelines SET lease_owner = NULL, lease_expires_at = NULL,
               run_after = LEAST(run_after, clock_timestamp() + make_interval(secs => %(d)s))
         WHERE app_id = %(a)s AND lease_owner = %(o)s
        """, a=app_id, o=owner, d=after)
    db.commit()


def next_due_in(db: Db) -> float | None:
    """Seconds until the next pipeline is due (None: none is waiting)."""
    return db.scalar("SELECT GREATEST(0, EXTRACT(EPOCH FROM min(run_after) - clock_timestamp()))::float "
                     "FROM pipelines WHERE run_after < 'infinity'")


def resync_due(db: Db, app_id: int, interval: float) -> bool:
    """True (and the next resync scheduled) when the app's repository is due for a resync."""
    return db.execute(
        "UPDATE pipelines SET resync_after = clock_timestamp() + make_interval(secs => %(i)s) "
        "WHERE app_id = %(a)s AND resync_after <= clock_timestamp()", a=app_id, i=interval) == 1


def created_at(db: Db, app_id: int) -> datetime | None:
    return db.scalar("SELECT created_at FROM pipelines WHERE app_id = %(a)s", a=app_id)


# --- loading a pipeline's state ----------------------------------------------------------------

def load(db: Db, app_id: int) -> PipelineState | None:
    """The pipeline, its active pushes and the last few ended ones, with checks, promotions (and
    their deployments and releases), approvals, and what is live in each stage."""
    head = db.one("SELECT p.spec, a.name FROM pipelines p JOIN apps a ON a.id = p.app_id WHERE p.app_id = %(a)s",
                  a=app_id)
    if head is None:
        return None
    spec = PipelineSpec.from_json(head.spec)
    envs = environment_ids(db, [s.environment for s in spec.stages])
    env_ids = tuple(envs.get(s.environment) for s in spec.stages)
    pushes = db.all(
        """
        (SELECT * FROM image_pushes WHERE app_id = %(a)s AND state = 'active')
        UNION ALL
        (SELECT * FROM image_pushes WHERE app_id = %(a)s AND state <> 'active' ORDER BY id DESC LIMIT %(n)s)
        ORDER BY id
        """, a=app_id, n=RECENT_ENDED)
    ids = [p.id for p in pushes]
    checks = {r.push_id: r for r in db.all("SELECT * FROM image_checks WHERE push_id = ANY(%(i)s)", i=ids)}
    proms: dict[int, list[PromotionState]] = {}
    for r in db.all(
            """
            SELECT p.*, d.state AS deployment_state, d.finished_at, d.error, r.id AS release_id,
                   r.version AS release_version, r.known_good_at
              FROM promotions p JOIN deployments d ON d.id = p.deployment_id JOIN releases r ON r.id = d.release_id
             WHERE p.push_id = ANY(%(i)s) ORDER BY p.stage
            """, i=ids):
        proms.setdefault(r.push_id, []).append(PromotionState(
            id=r.id, stage=r.stage, environment_id=r.environment_id, deployment_id=r.deployment_id,
            deployment_state=r.deployment_state, release_id=r.release_id, release_version=r.release_version,
            created_at=r.created_at, finished_at=r.finished_at, known_good_at=r.known_good_at, error=r.error))
    approvals: dict[int, list[tuple[int, str, datetime]]] = {}
    for r in db.all("SELECT * FROM pipeline_approvals WHERE push_id = ANY(%(i)s)", i=ids):
        approvals.setdefault(r.push_id, []).append((r.environment_id, r.approver, r.created_at))
    live = {r.environment_id: r.release_id for r in db.all(
        "SELECT environment_id, release_id FROM paas_live_releases WHERE app_id = %(a)s "
        "AND environment_id = ANY(%(e)s)", a=app_id, e=[e for e in env_ids if e is not None])}
    return PipelineState(
        app_id=app_id, app=head.name, spec=spec, stage_environment_ids=env_ids, live=live,
        pushes=tuple(PushState(
            id=p.id, repository=p.repository, tag=p.tag, digest=p.digest, image=p.image, state=p.state,
            seen_at=p.seen_at, queued_at=p.queued_at, ended_at=p.ended_at, end_reason=p.end_reason,
            check=_check(checks.get(p.id)), promotions=tuple(proms.get(p.id, ())),
            approvals=tuple(approvals.get(p.id, ())), approval_notified=tuple(p.approval_notified or ()))
            for p in pushes))


def _check(r: Any) -> CheckState | None:
    if r is None:
        return None
    return CheckState(id=r.id, state=r.state, environment_id=r.environment_id, created_at=r.created_at,
                      task_arn=r.task_arn, started_at=r.started_at, finished_at=r.finished_at, exit_code=r.exit_code,
                      stop_code=r.stop_code, stopped_reason=r.stopped_reason, duration_seconds=r.duration_seconds,
                      log_tail=tuple(r.log_tail or ()))


# --- checks ------------------------------------------------------------------------------------

def insert_check(db: Db, push_id: int, app_id: int, environment_id: int, digest: str,
                 command: list[str]) -> tuple[int, datetime]:
    """Transaction 1 of a check: it exists (before RunTask, so its id names the task's startedBy)."""
    r = db.one(
        """
        INSERT INTO image_checks (push_id, app_id, environment_id, digest, command)
        VALUES (%(p)s, %(a)s, %(e)s, %(d)s, %(c)s)
        ON CONFLICT (push_id) DO NOTHING RETURNING id, created_at
        """, p=push_id, a=app_id, e=environment_id, d=digest, c=command)
    if r is None:  # an earlier attempt made it
        r = db.one("SELECT id, created_at FROM image_checks WHERE push_id = %(p)s", p=push_id)
    return r.id, r.created_at


def check_row(db: Db, push_id: int) -> Any:
    return db.one("SELECT * FROM image_checks WHERE push_id = %(p)s", p=push_id)


def set_check_task(db: Db, check_id: int, task_definition_arn: str, task_arn: str) -> None:
    db.execute("UPDATE image_checks SET task_definition_arn = %(td)s, task_arn = %(t)s, "
               "started_at = COALESCE(started_at, clock_timestamp()) WHERE id = %(i)s AND task_arn IS NULL",
               td=task_definition_arn, t=task_arn, i=check_id)


def finish_check(db: Db, check_id: int, *, passed: bool, exit_code: int | None, stop_code: str | None,
                 stopped_reason: str | None, duration_seconds: float | None, log_tail: list[str]) -> bool:
    """How the check ended (False: it was recorded before)."""
    return db.execute(
        """
        UPDATE image_checks SET state = %(s)s, exit_code = %(x)s, stop_code = %(sc)s, stopped_reason = %(r)s,
               duration_seconds = %(d)s, log_tail = %(l)s, finished_at = clock_timestamp()
         WHERE id = %(i)s AND state = 'running'
        """, s="passed" if passed else "failed", x=exit_code, sc=stop_code, r=(stopped_reason or "")[:1000] or None,
        d=duration_seconds, l=log_tail, i=check_id) == 1


# --- promotions and approvals ------------------------------------------------------------------

def insert_promotion(db: Db, *, push_id: int, app_id: int, environment_id: int, stage: int, deployment_id: int,
                     upstream_environment_id: int | None, upstream_release_id: int | None,
                     upstream_known_good_at: datetime | None, approver: str | None, approved_at: datetime | None,
                     evidence: dict[str, Any]) -> int:
    return db.scalar(
        """
        INSERT INTO promotions (push_id, app_id, environment_id, stage, deployment_id, upstream_environment_id,
                                upstream_release_id, upstream_known_good_at, approver, approved_at, evidence)
        VALUES (%(p)s, %(a)s, %(e)s, %(s)s, %(d)s, %(ue)s, %(ur)s, %(uk)s, %(ap)s, %(at)s, %(ev)s::jsonb)
        RETURNING id
        """, p=push_id, a=app_id, e=environment_id, s=stage, d=deployment_id, ue=upstream_environment_id,
        ur=upstream_release_id, uk=upstream_known_good_at, ap=approver, at=approved_at, ev=jsonb(evidence))


def push_for_release(db: Db, app_id: int, environment_id: int, version: int) -> int | None:
    """The push whose promotion made release `version` of the app in that environment."""
    return db.scalar(
        """
        SELECT p.push_id FROM promotions p JOIN deployments d ON d.id = p.deployment_id
          JOIN releases r ON r.id = d.release_id
         WHERE p.app_id = %(a)s AND p.environment_id = %(e)s AND r.version = %(v)s
        """, a=app_id, e=environment_id, v=version)


def approve(db: Db, push_id: int, environment_id: int, approver: str) -> bool:
    """Record an approval once (False: it was approved before). Makes the pipeline due."""
    new = db.scalar(
        "INSERT INTO pipeline_approvals (push_id, environment_id, approver) VALUES (%(p)s, %(e)s, %(a)s) "
        "ON CONFLICT (push_id, environment_id) DO NOTHING RETURNING id", p=push_id, e=environment_id, a=approver)
    return new is not None


def app_of_push(db: Db, push_id: int) -> int | None:
    return db.scalar("SELECT app_id FROM image_pushes WHERE id = %(p)s", p=push_id)


def release_version_of(db: Db, deployment_id: int) -> int:
    return db.scalar("SELECT r.version FROM deployments d JOIN releases r ON r.id = d.release_id "
                     "WHERE d.id = %(d)s", d=deployment_id)


def config_vars(db: Db, app_id: int, environment_id: int) -> tuple[dict[str, str], dict[str, Any]]:
    """The first stage's config for a check: the live (or newest) release's config version,
    else the newest config version set before any deploy."""
    r = db.one(
        """
        SELECT c.vars, c.secrets FROM config_versions c
         WHERE c.id = COALESCE(
               (SELECT r.config_version_id FROM paas_live_releases l JOIN releases r ON r.id = l.release_id
                 WHERE l.app_id = %(a)s AND l.environment_id = %(e)s),
               (SELECT max(id) FROM config_versions WHERE app_id = %(a)s AND environment_id = %(e)s))
        """, a=app_id, e=environment_id)
    return (dict(r.vars), dict(r.secrets)) if r else ({}, {})


def environment_row(db: Db, environment_id: int) -> Any:
    return db.one("SELECT * FROM environments WHERE id = %(e)s", e=environment_id)
