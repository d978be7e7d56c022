"""Every statement about tasks paas runs or sees: `task_runs` and `job_schedules`.

Transaction contract: each function runs in the caller's transaction. The CLI records a one-off
run in two short transactions around its RunTask (the row first, so the task's ``startedBy``
carries the run id; then its ARN) and its end in a third; a worker writes inside its fenced
transaction. A run is recorded stopped once (`WHERE stopped_at IS NULL`), so the CLI that
followed a task and a worker that noticed it stop can both try: the first one wins, the other
changes nothing. A trigger (migration 0006) keeps who ran what unchanged and stopped runs final.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from paas.db.read_records import JobScheduleRecord, TaskRunListing, TaskRunRecord
from paas.db.records import maybe, of
from paas.db.sql import Db, Row

_LISTING = """
SELECT t.*, a.name AS app, e.name AS environment, r.version AS release_version
  FROM task_runs t
  JOIN apps a         ON a.id = t.app_id
  JOIN environments e ON e.id = t.environment_id
  LEFT JOIN releases r ON r.id = t.release_id
"""


def _listing(r: Row) -> TaskRunListing:
    return TaskRunListing(of(TaskRunRecord, r), r.app, r.environment, r.release_version)


# --- the CLI's one-off runs -----------------------------------------------------------------------

def insert_run(db: Db, app_id: int, env_id: int, *, release_id: int, process: str, command: list[str],
               cpu: int | None, memory: int | None, actor: str) -> TaskRunRecord:
    return of(TaskRunRecord, db.one(
        """
        INSERT INTO task_runs (app_id, environment_id, kind, release_id, process, command, cpu, memory, actor)
        VALUES (%(a)s, %(e)s, 'run', %(r)s, %(p)s, %(c)s, %(cpu)s, %(mem)s, %(actor)s)
        RETURNING *
        """,
        a=app_id, e=env_id, r=release_id, p=process, c=list(command), cpu=cpu, mem=memory, actor=actor))


def set_task_arn(db: Db, run_id: int, task_arn: str) -> bool:
    return bool(db.execute("UPDATE task_runs SET task_arn = %(t)s WHERE id = %(i)s AND task_arn IS NULL",
                           i=run_id, t=task_arn))


def record_stop(db: Db, run_id: int, *, stopped_at: datetime | None, exit_code: int | None,
                stop_code: str | None, stopped_reason: str | None, container_reason: str | None = None,
                log_tail: Iterable[str] = (), started_at: datetime | None = None) -> bool:
    """True when this call recorded the end (False: someone already had)."""
    return bool(db.execute(
        """
        UPDATE task_runs SET stopped_at = COALESCE(%(at)s, clock_timestamp()),
               started_at = COALESCE(started_at, %(started)s), exit_code = %(code)s, stop_code = %(sc)s,
               stopped_reason = %(why)s, container_reason = %(cr)s, log_tail = %(tail)s
         WHERE id = %(i)s AND stopped_at IS NULL
        """,
        i=run_id, at=stopped_at, started=started_at, code=exit_code, sc=stop_code, why=stopped_reason,
        cr=container_reason, tail=list(log_tail)))


def run(db: Db, run_id: int) -> TaskRunListing | None:
    r = db.one(_LISTING + " WHERE t.id = %(i)s", i=run_id)
    return None if r is None else _listing(r)


def find(db: Db, app_id: int, ref: str) -> TaskRunListing | None:
    """A run of the app by run id, task id or task ARN."""
    if ref.isdigit():
        r = db.one(_LISTING + " WHERE t.app_id = %(a)s AND t.id = %(i)s", a=app_id, i=int(ref))
    else:
        r = db.one(_LISTING + " WHERE t.app_id = %(a)s AND (t.task_arn = %(r)s "
                   "OR regexp_replace(t.task_arn, '^.*/', '') = %(r)s) ORDER BY t.id DESC LIMIT 1", a=app_id, r=ref)
    return None if r is None else _listing(r)


def recent(db: Db, app_id: int, env_id: int | None, *, kinds: tuple[str, ...] = ("run",),
           limit: int = 20) -> list[TaskRunListing]:
    """An app's runs of these kinds, newest first."""
    params: dict[str, Any] = {"a": app_id, "k": list(kinds), "limit": limit or 10_000}
    where = "t.app_id = %(a)s AND t.kind = ANY(%(k)s)"
    if env_id is not None:
        where += " AND t.environment_id = %(e)s"
        params["e"] = env_id
    return [_listing(r) for r in db.all(_LISTING + f" WHERE {where} ORDER BY t.created_at DESC, t.id DESC "
                                                   "LIMIT %(limit)s", **params)]


def history(db: Db, *, app: str | None, env: str | None, since_seconds: int | None,
            limit: int) -> list[TaskRunListing]:
    """One-off runs for `paas history`, with its filters, newest first."""
    where, params = ["t.kind = 'run'"], {}
    if app is not None:
        where.append("t.app_id = (SELECT id FROM apps WHERE name = %(app)s)")
        params["app"] = app
    if env is not None:
        where.append("t.environment_id = (SELECT id FROM environments WHERE name = %(env)s)")
        params["env"] = env
    if since_seconds is not None:
        where.append("t.created_at >= now() - make_interval(secs => %(since)s)")
        params["since"] = since_seconds
    sql = _LISTING + " WHERE " + " AND ".join(where) + " ORDER BY t.created_at DESC, t.id DESC"
    if limit:
        sql += " LIMIT %(limit)s"
        params["limit"] = limit
    return [_listing(r) for r in db.all(sql, **params)]


# --- a worker's records ---------------------------------------------------------------------------

def insert_release_run(db: Db, app_id: int, env_id: int, *, release_id: int, deployment_id: int, process: str,
                       command: list[str], actor: str, task_arn: str) -> None:
    """The deployment's release-phase task (one per deployment: a retry that found the same task
    changes nothing)."""
    db.execute(
        """
        INSERT INTO task_runs (app_id, environment_id, kind, release_id, deployment_id, process, command, actor,
                               task_arn)
        VALUES (%(a)s, %(e)s, 'release', %(r)s, %(d)s, %(p)s, %(c)s, %(actor)s, %(t)s)
        ON CONFLICT DO NOTHING
        """,
        a=app_id, e=env_id, r=release_id, d=deployment_id, p=process, c=list(command), actor=actor, t=task_arn)


def upsert_job_run(db: Db, app_id: int, env_id: int, *, job: str, release_id: int | None, process: str,
                   command: list[str], task_arn: str, created_at: datetime | None, started_at: datetime | None,
                   stopped_at: datetime | None, exit_code: int | None, stop_code: str | None,
                   stopped_reason: str | None, container_reason: str | None, log_tail: Iterable[str]) -> None:
    """A job's task as seen now: new, or its end when it stopped since it was first seen."""
    db.execute(
        """
        INSERT INTO task_runs (app_id, environment_id, kind, release_id, job, process, command, actor, task_arn,
                               created_at, started_at, stopped_at, exit_code, stop_code, stopped_reason,
                               container_reason, log_tail)
        VALUES (%(a)s, %(e)s, 'job', %(r)s, %(j)s, %(p)s, %(c)s, 'EventBridge Scheduler', %(t)s,
                COALESCE(%(created)s, clock_timestamp()), %(started)s, %(stopped)s, %(code)s, %(sc)s, %(why)s,
                %(cr)s, %(tail)s)
        ON CONFLICT (task_arn) DO UPDATE
           SET started_at = COALESCE(task_runs.started_at, EXCLUDED.started_at), stopped_at = EXCLUDED.stopped_at,
               exit_code = EXCLUDED.exit_code, stop_code = EXCLUDED.stop_code,
               stopped_reason = EXCLUDED.stopped_reason, container_reason = EXCLUDED.container_reason,
               log_tail = EXCLUDED.log_tail
         WHERE task_runs.stopped_at IS NULL AND EXCLUDED.stopped_at IS NOT NULL
        """,
        a=app_id, e=env_id, r=release_id, j=job, p=process, c=list(command), t=task_arn, created=created_at,
        started=started_at, stopped=stopped_at, code=exit_code, sc=stop_code, why=stopped_reason,
        cr=container_reason, tail=list(log_tail))


def put_job_schedule(db: Db, app_id: int, env_id: int, job: str, expression: str, task_definition: str,
                     release_id: int | None) -> None:
    db.execute(
        """
        INSERT INTO job_schedules (app_id, environment_id, job, expression, task_definition, release_id)
        VALUES (%(a)s, %(e)s, %(j)s, %(x)s, %(td)s, %(r)s)
        ON CONFLICT (app_id, environment_id, job) DO UPDATE
           SET expression = EXCLUDED.expression, task_definition = EXCLUDED.task_definition,
               release_id = EXCLUDED.release_id, applied_at = clock_timestamp()
        """,
        a=app_id, e=env_id, j=job, x=expression, td=task_definition, r=release_id)


def delete_job_schedule(db: Db, app_id: int, env_id: int, job: str) -> None:
    db.execute("DELETE FROM job_schedules WHERE app_id = %(a)s AND environment_id = %(e)s AND job = %(j)s",
               a=app_id, e=env_id, j=job)


def replace_job_schedules(db: Db, app_id: int, env_id: int, jobs: dict[str, tuple[str, str, int | None]]) -> None:
    """Make the table say exactly `jobs` (job → expression, task definition, release id)."""
    db.execute("DELETE FROM job_schedules WHERE app_id = %(a)s AND environment_id = %(e)s AND NOT job = ANY(%(j)s)",
               a=app_id, e=env_id, j=list(jobs))
    for job, (expression, td, release_id) in jobs.items():
        db.execute(
            """
            INSERT INTO job_schedules (app_id, environment_id, job, expression, task_definition, release_id)
            VALUES (%(a)s, %(e)s, %(j)s, %(x)s, %(td)s, %(r)s)
            ON CONFLICT (app_id, environment_id, job) DO UPDATE
               SET expression = EXCLUDED.expression, task_definition = EXCLUDED.task_definition,
                   release_id = EXCLUDED.release_id
             WHERE (job_schedules.expression, job_schedules.task_definition)
                   IS DISTINCT FROM (EXCLUDED.expression, EXCLUDED.task_definition)
            """,
            a=app_id, e=env_id, j=job, x=expression, td=td, r=release_id)


# --- what `paas jobs` shows -----------------------------------------------------------------------

def job_schedules(db: Db, app_id: int, env_id: int) -> list[JobScheduleRecord]:
    return [of(JobScheduleRecord, r) for r in db.all(
        "SELECT * FROM job_schedules WHERE app_id = %(a)s AND environment_id = %(e)s ORDER BY job",
        a=app_id, e=env_id)]


def last_job_runs(db: Db, app_id: int, env_id: int) -> dict[str, TaskRunRecord]:
    """Each job's newest run, and separately its newest finished run (key ``job + '/finished'``)."""
    rows = db.all(
        """
        SELECT DISTINCT ON (t.job, t.stopped_at IS NULL) t.*
          FROM task_runs t
         WHERE t.app_id = %(a)s AND t.environment_id = %(e)s AND t.kind = 'job'
         ORDER BY t.job, t.stopped_at IS NULL, t.created_at DESC, t.id DESC
        """,
        a=app_id, e=env_id)
    out: dict[str, TaskRunRecord] = {}
    for r in rows:
        rec = of(TaskRunRecord, r)
        if rec.stopped_at is not None:
            out[f"{rec.job}/finished"] = rec
        newest = out.get(rec.job or "")
        if newest is None or rec.created_at > newest.created_at:
            out[rec.job or ""] = rec
    return out


def release_version(db: Db, release_id: int | None) -> int | None:
    if release_id is None:
        return None
    return db.scalar("SELECT version FROM releases WHERE id = %(i)s", i=release_id)


def run_of_task(db: Db, task_arn: str) -> TaskRunRecord | None:
    return maybe(TaskRunRecord, db.one("SELECT * FROM task_runs WHERE task_arn = %(t)s", t=task_arn))
