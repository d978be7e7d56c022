"""`paas jobs`: an app's scheduled jobs, as the live release wants them and as they run.

From the database only (no AWS call): the jobs of the live release's paas.toml, the schedule a
worker last applied for each (`job_schedules`: its expression, task definition and release),
the newest run and the newest finished run a worker saw (`task_runs`). The next run is computed
from the expression (UTC; a rate counts from when the schedule was applied, as Scheduler does).

A job's state: ``scheduled`` (applied as the live release wants it), ``pending`` (a worker has
yet to apply it: just deployed, or no worker running), ``removing`` (applied, but no longer in
the live release's paas.toml).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from paas.db import reads, state, task_runs
from paas.db.sql import Db
from paas.domain import schedule
from paas.domain.manifest import Manifest
from paas.service.catalog import require_app_env
from paas.service.tasks import run_state


def jobs(db: Db, app_name: str, env_name: str | None, now: datetime | None = None) -> dict[str, Any]:
    app, env = require_app_env(db, app_name, env_name)
    now = now or datetime.now(timezone.utc)
    release_id = reads.live_release_id(db, app.id, env.id)
    rows = state.releases(db, [release_id]) if release_id else {}
    live = rows.get(release_id) if release_id else None
    manifest = Manifest.from_json(live.manifest) if live else None
    wanted = manifest.jobs if manifest else {}
    applied = {j.job: j for j in task_runs.job_schedules(db, app.id, env.id)}
    runs = task_runs.last_job_runs(db, app.id, env.id)
    out = []
    for name in sorted(set(wanted) | set(applied)):
        job, rec = wanted.get(name), applied.get(name)
        expression = job.schedule if job else rec.expression
        if job is None:
            status = "removing"
        elif rec is not None and rec.expression == job.schedule and rec.release_id == release_id:
            status = "scheduled"
        else:
            status = "pending"
        nxt = schedule.next_run(expression, now, rec.applied_at if rec else None) if status != "removing" else None
        last, done = runs.get(name), runs.get(f"{name}/finished")
        out.append({
            "job": name, "schedule": expression, "command": job.command if job else None,
            "process": manifest.task_process(job.process) if job and manifest else None,
            "cpu": job.cpu if job else None, "memory": job.memory if job else None, "state": status,
            "release_version": task_runs.release_version(db, rec.release_id) if rec and rec.release_id else None,
            "applied_at": rec.applied_at if rec else None, "next_run_at": nxt,
            "last_run_at": last.created_at if last else None,
            "last_run_state": run_state(last) if last else None,
            "last_exit_code": done.exit_code if done else None,
            "last_finished_at": done.stopped_at if done else None,
            "last_task_id": last.task_arn.rsplit("/", 1)[-1] if last and last.task_arn else None,
        })
    return {"app": app.name, "environment": env.name,
            "release_version": live.version if live else None, "jobs": out}
