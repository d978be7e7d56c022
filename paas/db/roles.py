"""Least-privilege roles for the three kinds of client.

- `paas_cli`: reads everything, inserts requests (and marks pending deployments superseded or
  cancelled, which is how a newer request takes precedence), never rewrites history.
- `paas_worker`: reads everything, advances deployments, the queue and observations, appends
  events.
- `paas_readonly`: the two ops views only; no table, so no config values.
Events stay append-only for everyone through the trigger, whatever the grants.
Roles are NOLOGIN groups: grant them to login users (`GRANT paas_cli TO alice`).
"""

from __future__ import annotations

from paas.db.sql import Db

ROLES = ("paas_cli", "paas_worker", "paas_readonly")

TABLES = ("environments", "apps", "processes", "config_versions", "images", "releases", "deployments",
          "deployment_events", "work_queue", "observations", "deployment_colours", "deployment_requests",
          "task_definitions")

GRANTS = [
    "REVOKE ALL ON {tables} FROM paas_cli, paas_worker, paas_readonly",
    "REVOKE ALL ON paas_deploy_history, paas_current_releases, paas_live_releases "
    "FROM paas_cli, paas_worker, paas_readonly",
    "GRANT USAGE ON SCHEMA public TO paas_cli, paas_worker, paas_readonly",
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
    # worker
    "GRANT SELECT ON {tables} TO paas_worker",
    "GRANT INSERT ON deployment_events, observations, images, deployment_colours, task_definitions TO paas_worker",
    "GRANT UPDATE ON deployments, work_queue, observations, task_definitions TO paas_worker",
    "GRANT DELETE ON task_definitions TO paas_worker",
    "GRANT UPDATE (known_good_at, image_digest) ON releases TO paas_worker",
    # both write through sequences
    "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO paas_cli, paas_worker",
    # ops
    "GRANT SELECT ON paas_deploy_history, paas_current_releases, paas_live_releases "
    "TO paas_cli, paas_worker, paas_readonly",
]


def create_roles(db: Db) -> list[str]:
    """Create the roles if missing and (re)apply their grants. Idempotent; returns what it created."""
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
    tables = ", ".join(TABLES)
    for stmt in GRANTS:
        db.execute(stmt.format(tables=tables))
    return created
