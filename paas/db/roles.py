"""Least-privilege roles: each can do exactly what its commands need, and nothing more.

- `paas_cli`: reads everything; inserts requests (apps, environments, config versions, images,
  releases, deployments, steering requests, queue rows) and the events a request makes; moves
  a *pending* deployment to superseded or cancelled and nothing else; never writes an event a
  worker writes (no `finished`, no fencing token, no AWS request id). Records the one-off tasks
  it runs (`task_runs` of kind `run`: who ran what, its task, how it ended) and nothing else there.
- `paas_worker`: reads everything; advances deployments that have not finished (state, times,
  step, error, rollback target), records events a worker makes, observations, colours, task
  definitions and rule priorities; records release-phase and job tasks, the end of any task run
  not yet ended, and the job schedules it applied; claims work only through `paas_claim()`, so it
  cannot move a fencing token by hand, and it cannot rewrite who asked for a deployment, why or what.
  Delivers notifications: inserts outbox rows (in the transaction of the state change they
  report) and updates their delivery columns; reads targets, never writes them.
  Shares AWS request paces with the other workers (`aws_paces`, which no other role can read).
  Notification targets (`paas notify add/remove`) are the CLI's: it inserts them and stamps them
  removed, and writes no outbox row. Neither holds a webhook URL: those are in SSM.
- `paas_pipeline`: what a worker that runs pipelines adds to `paas_worker`: a promotion is a
  request (a release and a pending deployment, made by `paas deploy`'s path), so it gets the
  request rights of `paas_cli` (no more: it cannot start or finish a deployment either), plus
  recording pushes, checks and promotions and leasing pipelines. Grant both to such a worker:
  `GRANT paas_worker, paas_pipeline TO worker`.
- `paas_readonly`: the ops views only; no table, so no config values.

Column grants say which columns, row-level security policies say which rows and which values,
and triggers (migrations 0001, 0005) keep events, releases, config versions and finished
deployments immutable for everyone, the table owner included. Roles are NOLOGIN groups: grant
them to login users (`GRANT paas_cli TO alice`). Re-run after migrations (idempotent).
"""

from __future__ import annotations

from paas.db.sql import Db

ROLES = ("paas_cli", "paas_worker", "paas_pipeline", "paas_readonly")

TABLES = ("environments", "apps", "processes", "config_versions", "images", "releases", "deployments",
          "deployment_events", "work_queue", "observations", "deployment_colours", "deployment_requests",
          "task_definitions", "listener_rules", "task_runs", "job_schedules", "notify_targets", "notify_outbox",
          "pipelines", "image_pushes", "image_checks", "promotions", "pipeline_approvals")
VIEWS = ("paas_deploy_history", "paas_current_releases", "paas_live_releases", "paas_task_runs",
         "paas_notifications", "paas_promotions")

# what delivering a notification writes on its outbox row
OUTBOX_DELIVERY_COLUMNS = ("state, attempts, next_attempt_at, lease_owner, lease_expires_at, claim_token, "
                           "finished_at, last_status, last_error")
CHECK_END_COLUMNS = ("state, exit_code, stop_code, stopped_reason, duration_seconds, log_tail, finished_at, "
                     "task_definition_arn, task_arn, started_at")

# what the end of a task run sets (the CLI that followed it, or a worker that saw it stop)
TASK_END_COLUMNS = "started_at, stopped_at, exit_code, stop_code, stopped_reason, container_reason, log_tail"

# Event kinds a request writes; every other kind is a worker's.
CLI_EVENT_KINDS = ("requested", "superseded", "cancelled", "cancel_requested", "abort_requested",
                   "promote_requested", "gc_requested")

GRANTS = [
    "REVOKE ALL ON {tables} FROM paas_cli, paas_worker, paas_pipeline, paas_readonly",
    "REVOKE ALL ON {views} FROM paas_cli, paas_worker, paas_pipeline, paas_readonly",
    "REVOKE ALL ON FUNCTION paas_claim(text, double precision, integer) FROM PUBLIC, paas_cli, paas_pipeline, "
    "paas_readonly",
    "GRANT USAGE ON SCHEMA public TO paas_cli, paas_worker, paas_pipeline, paas_readonly",
    # CLI
    "GRANT SELECT ON {tables} TO paas_cli",
    "GRANT INSERT ON environments, apps, processes, config_versions, images, releases, deployments, "
    "deployment_events, work_queue, deployment_requests TO paas_cli",
    "GRANT UPDATE (command, port, health_check_path) ON processes TO paas_cli",
    # the image upsert touches `reference` (to itself) so RETURNING works under concurrency
    "GRANT UPDATE (reference) ON images TO paas_cli",
    "GRANT UPDATE (gc_policy) ON apps TO paas_cli",
    "GRANT UPDATE (state, finished_at, superseded_by_id) ON deployments TO paas_cli",
    "GRANT UPDATE (run_after, enqueued_at, updated_at) ON work_queue TO paas_cli",
    "GRANT INSERT ON task_runs TO paas_cli",
    "GRANT UPDATE (task_arn, " + TASK_END_COLUMNS + ") ON task_runs TO paas_cli",
    "GRANT INSERT ON notify_targets TO paas_cli",
    "GRANT UPDATE (removed_at, removed_by) ON notify_targets TO paas_cli",
    # pipelines: declare one (paas pipeline set, or with a deploy), approve (paas approve)
    "GRANT INSERT ON pipelines, pipeline_approvals TO paas_cli",
    "GRANT UPDATE (spec, actor, updated_at, run_after) ON pipelines TO paas_cli",
    # worker
    "GRANT SELECT ON {tables} TO paas_worker",
    "GRANT INSERT ON deployment_events, observations, images, deployment_colours, task_definitions, "
    "listener_rules TO paas_worker",
    "GRANT UPDATE (state, started_at, finished_at, current_step, error, superseded_by_id, rolled_back_from_id, "
    "rolled_back_to_id, rollback_started_at, rollback_reason, end_state) ON deployments TO paas_worker",
    "GRANT UPDATE (lease_owner, lease_expires_at, run_after, attempts, last_error, enqueued_at, updated_at) "
    "ON work_queue TO paas_worker",
    "GRANT INSERT ON work_queue TO paas_worker",  # resync queues drifted apps
    "GRANT UPDATE ON observations, task_definitions, listener_rules TO paas_worker",
    "GRANT DELETE ON task_definitions, listener_rules TO paas_worker",
    "GRANT INSERT ON task_runs, job_schedules TO paas_worker",
    "GRANT UPDATE (" + TASK_END_COLUMNS + ") ON task_runs TO paas_worker",
    "GRANT UPDATE, DELETE ON job_schedules TO paas_worker",
    "GRANT UPDATE (known_good_at, image_digest) ON releases TO paas_worker",
    "GRANT UPDATE (resync_after) ON environments TO paas_worker",
    "GRANT INSERT ON notify_outbox TO paas_worker",
    "GRANT UPDATE (" + OUTBOX_DELIVERY_COLUMNS + ") ON notify_outbox TO paas_worker",
    "GRANT EXECUTE ON FUNCTION paas_claim(text, double precision, integer) TO paas_worker",
    # the AWS request paces workers share (paas/db/paces.py): workers only
    "REVOKE ALL ON aws_paces FROM paas_cli, paas_worker, paas_pipeline, paas_readonly",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON aws_paces TO paas_worker",
    # pipeline runner: a promotion is a request (paas_cli's request rights), plus its own records
    "GRANT SELECT ON {tables} TO paas_pipeline",
    "GRANT INSERT ON processes, config_versions, images, releases, deployments, deployment_events, work_queue, "
    "image_pushes, image_checks, promotions TO paas_pipeline",
    "GRANT UPDATE (command, port, health_check_path) ON processes TO paas_pipeline",
    "GRANT UPDATE (reference) ON images TO paas_pipeline",
    "GRANT UPDATE (state, finished_at, superseded_by_id) ON deployments TO paas_pipeline",
    "GRANT UPDATE (run_after, enqueued_at, updated_at) ON work_queue TO paas_pipeline",
    "GRANT UPDATE (run_after, lease_owner, lease_expires_at, resync_after) ON pipelines TO paas_pipeline",
    "GRANT UPDATE (state, ended_at, end_reason, approval_notified) ON image_pushes TO paas_pipeline",
    "GRANT UPDATE (" + CHECK_END_COLUMNS + ") ON image_checks TO paas_pipeline",
    # both write through sequences
    "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO paas_cli, paas_worker, paas_pipeline",
    # ops
    "GRANT SELECT ON {views} TO paas_cli, paas_worker, paas_pipeline, paas_readonly",
]

_CLI_KINDS = ", ".join(f"'{k}'" for k in CLI_EVENT_KINDS)

# (table, policy name, command, role, USING, WITH CHECK); a table with RLS enabled shows a role
# no row its policies do not allow. The owner (migrations) is not subject to them.
POLICIES = [
    ("deployments", "cli_read", "SELECT", "paas_cli", "true", None),
    ("deployments", "cli_request", "INSERT", "paas_cli", None,
     "state = 'pending' AND started_at IS NULL AND finished_at IS NULL AND error IS NULL "
     "AND rolled_back_to_id IS NULL AND rolled_back_from_id IS NULL AND current_step IS NULL "
     "AND rollback_started_at IS NULL AND end_state IS NULL"),
    ("deployments", "cli_supersede_or_cancel_pending", "UPDATE", "paas_cli", "state = 'pending'",
     "state IN ('superseded', 'cancelled') AND finished_at IS NOT NULL"),
    ("deployments", "worker_read", "SELECT", "paas_worker", "true", None),
    ("deployments", "worker_advance_unfinished", "UPDATE", "paas_worker",
     "state IN ('pending', 'in_progress')", "true"),
    ("deployment_events", "cli_read", "SELECT", "paas_cli", "true", None),
    ("deployment_events", "cli_request_events", "INSERT", "paas_cli", None,
     f"kind IN ({_CLI_KINDS}) AND fencing_token IS NULL AND aws_request_id IS NULL AND step IS NULL"),
    ("deployment_events", "worker_read", "SELECT", "paas_worker", "true", None),
    ("deployment_events", "worker_events", "INSERT", "paas_worker", None,
     f"actor IS NULL AND (kind NOT IN ({_CLI_KINDS}) OR kind = 'superseded')"),
    ("releases", "cli_read", "SELECT", "paas_cli", "true", None),
    ("releases", "cli_new_release", "INSERT", "paas_cli", None, "known_good_at IS NULL"),
    ("releases", "worker_read", "SELECT", "paas_worker", "true", None),
    ("releases", "worker_known_good", "UPDATE", "paas_worker", "true", "true"),
    # task runs: the CLI records its own one-off runs; workers the release phase's and jobs', and
    # the end of any run not yet ended (a detached `paas run`)
    ("task_runs", "cli_read", "SELECT", "paas_cli", "true", None),
    ("task_runs", "cli_run", "INSERT", "paas_cli", None,
     "kind = 'run' AND deployment_id IS NULL AND job IS NULL AND task_arn IS NULL AND stopped_at IS NULL"),
    ("task_runs", "cli_track_run", "UPDATE", "paas_cli", "kind = 'run' AND stopped_at IS NULL", "kind = 'run'"),
    ("task_runs", "worker_read", "SELECT", "paas_worker", "true", None),
    ("task_runs", "worker_record", "INSERT", "paas_worker", None, "kind IN ('release', 'job')"),
    ("task_runs", "worker_end", "UPDATE", "paas_worker", "stopped_at IS NULL", "true"),
    # notifications: a worker writes new rows as pending, and records only on rows still pending
    ("notify_outbox", "cli_read", "SELECT", "paas_cli", "true", None),
    ("notify_outbox", "worker_read", "SELECT", "paas_worker", "true", None),
    ("notify_outbox", "worker_enqueue", "INSERT", "paas_worker", None,
     "state = 'pending' AND attempts = 0 AND claim_token = 0 AND lease_owner IS NULL AND finished_at IS NULL"),
    ("notify_outbox", "worker_deliver", "UPDATE", "paas_worker", "state = 'pending'", "true"),
    # targets: the CLI adds them and removes them once; a removed target stays removed
    ("notify_targets", "cli_read", "SELECT", "paas_cli", "true", None),
    ("notify_targets", "cli_add", "INSERT", "paas_cli", None, "removed_at IS NULL"),
    ("notify_targets", "cli_remove", "UPDATE", "paas_cli", "removed_at IS NULL", "removed_at IS NOT NULL"),
    ("notify_targets", "worker_read", "SELECT", "paas_worker", "true", None),
]

# the pipeline runner makes requests the way the CLI does: the CLI's request policies, for its role
POLICIES += [
    (table, name.replace("cli_", "pipeline_", 1), cmd, "paas_pipeline", using, check)
    for table, name, cmd, role, using, check in list(POLICIES)
    if role == "paas_cli" and name in ("cli_read", "cli_request", "cli_supersede_or_cancel_pending",
                                       "cli_request_events", "cli_new_release")
]

RLS_TABLES = ("deployments", "deployment_events", "releases", "task_runs", "notify_outbox", "notify_targets")


def _policies(db: Db) -> None:
    for table in RLS_TABLES:
        db.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    existing = {(r.tablename, r.policyname) for r in db.all(
        "SELECT tablename, policyname FROM pg_policies WHERE schemaname = current_schema()")}
    for table, name in existing:
        if table in RLS_TABLES:
            db.execute(f"DROP POLICY {name} ON {table}")
    for table, name, cmd, role, using, check in POLICIES:
        sql = f"CREATE POLICY {name} ON {table} FOR {cmd} TO {role}"
        if using is not None:
            sql += f" USING ({using})"
        if check is not None:
            sql += f" WITH CHECK ({check})"
        db.execute(sql)


def create_roles(db: Db) -> list[str]:
    """Create the roles if missing and (re)apply their grants and policies. Returns what it created."""
    import psycopg2.errors

    created = []
    for role in ROLES:
        exists = db.scalar("SELECT 1 FROM pg_roles WHERE rolname = %(r)s", r=role)
        if not exists:
            # Roles are cluster-wide: another database on the same server (or a concurrent
            # `paas db roles`) may create it between the check and here.
            db.execute("SAVEPOINT paas_create_role")
            try:
                db.execute(f"CREATE ROLE {role} NOLOGIN")
            except (psycopg2.errors.DuplicateObject, psycopg2.errors.UniqueViolation):
                db.execute("ROLLBACK TO SAVEPOINT paas_create_role")
            else:
                db.execute("RELEASE SAVEPOINT paas_create_role")
                created.append(role)
    for stmt in GRANTS:
        db.execute(stmt.format(tables=", ".join(TABLES), views=", ".join(VIEWS)))
    _policies(db)
    return created
