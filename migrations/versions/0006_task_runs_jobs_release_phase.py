"""tasks: one-off runs, release phases and job runs; job schedules; stopped tasks recorded once

- `task_runs`: every task paas started or saw run for an app+environment: `paas run` (kind
  `run`, with who ran it), a deployment's release phase (`release`, with its deployment) and a
  scheduled job's (`job`, with the job's name). Command, process and size; the task ARN (unique:
  a task is recorded once); when it was asked for, started and stopped; exit code, stop code,
  stopped reason, container reason and the last lines it logged. History: who ran what never
  changes, a stopped run never changes, nothing is deleted (a trigger, as for deployments).
- `job_schedules`: each job's EventBridge Scheduler schedule as a worker last applied it (its
  expression, task definition and release), for `paas jobs` and so a worker reads the schedule
  group only for apps that have or had jobs.
- `deployments.run_release_phase`: a rollback runs its release phase only when asked
  (`paas rollback --run-release-phase`); part of the request, so the history guard keeps it.
- A unique index on `deployment_events (deployment_id, data->>'task_arn')` for `task_stopped`
  events: a task's stop is in a deployment's timeline once, however many passes see it.
- `paas_task_runs`: the ops view of task runs (what ran, who ran it, how it ended).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

TASK_RUNS_VIEW = """
CREATE VIEW paas_task_runs AS
SELECT t.id          AS run_id,
       a.name        AS app,
       e.name        AS environment,
       t.kind,
       t.job,
       r.version     AS release_version,
       t.process,
       array_to_string(t.command, ' ') AS command,
       t.actor,
       t.task_arn,
       regexp_replace(t.task_arn, '^.*/', '') AS task_id,
       t.deployment_id,
       t.created_at,
       t.started_at,
       t.stopped_at,
       t.stopped_at - COALESCE(t.started_at, t.created_at) AS duration,
       t.exit_code,
       t.stop_code,
       t.stopped_reason,
       t.container_reason,
       CASE WHEN t.stopped_at IS NULL THEN 'running'
            WHEN t.exit_code = 0 AND COALESCE(t.stop_code, 'EssentialContainerExited') = 'EssentialContainerExited'
                 THEN 'succeeded'
            WHEN t.stop_code = 'UserInitiated' THEN 'stopped'
            ELSE 'failed' END AS state,
       t.app_id,
       t.environment_id
  FROM task_runs t
  JOIN apps a         ON a.id = t.app_id
  JOIN environments e ON e.id = t.environment_id
  LEFT JOIN releases r ON r.id = t.release_id
"""

TASK_RUN_GUARD = """
CREATE FUNCTION paas_task_run_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'task runs are history: DELETE rejected' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.app_id, NEW.environment_id, NEW.kind, NEW.release_id, NEW.deployment_id, NEW.job, NEW.process,
        NEW.command, NEW.cpu, NEW.memory, NEW.actor, NEW.created_at)
       IS DISTINCT FROM
       (OLD.app_id, OLD.environment_id, OLD.kind, OLD.release_id, OLD.deployment_id, OLD.job, OLD.process,
        OLD.command, OLD.cpu, OLD.memory, OLD.actor, OLD.created_at) THEN
        RAISE EXCEPTION 'who ran what, and when, never changes' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.task_arn IS NOT NULL AND NEW.task_arn IS DISTINCT FROM OLD.task_arn THEN
        RAISE EXCEPTION 'task run % already names its task', OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.stopped_at IS NOT NULL THEN
        RAISE EXCEPTION 'task run % stopped: it is history', OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$
"""


def _history_guard(with_release_phase: bool) -> str:
    extra_new = ", NEW.run_release_phase" if with_release_phase else ""
    extra_old = ", OLD.run_release_phase" if with_release_phase else ""
    return f"""
CREATE OR REPLACE FUNCTION paas_deployment_history_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'deployments are history: DELETE rejected' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.app_id, NEW.environment_id, NEW.release_id, NEW.strategy, NEW.actor, NEW.message, NEW.created_at,
        NEW.canary_steps, NEW.pause_at, NEW.bake_seconds, NEW.step_deadline_seconds{extra_new})
       IS DISTINCT FROM
       (OLD.app_id, OLD.environment_id, OLD.release_id, OLD.strategy, OLD.actor, OLD.message, OLD.created_at,
        OLD.canary_steps, OLD.pause_at, OLD.bake_seconds, OLD.step_deadline_seconds{extra_old}) THEN
        RAISE EXCEPTION 'a deployment''s request (who, why, what) never changes' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.finished_at IS NOT NULL THEN
        RAISE EXCEPTION 'deployment % finished as %: it is history', OLD.id, OLD.state
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$
"""


def upgrade() -> None:
    op.add_column('deployments', sa.Column('run_release_phase', sa.Boolean(), nullable=True))
    op.execute(_history_guard(True))
    op.create_table(
        'task_runs',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('app_id', sa.Integer(), nullable=False),
        sa.Column('environment_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('release_id', sa.BigInteger(), nullable=True),
        sa.Column('deployment_id', sa.BigInteger(), nullable=True),
        sa.Column('job', sa.Text(), nullable=True),
        sa.Column('process', sa.Text(), nullable=False),
        sa.Column('command', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column('cpu', sa.Integer(), nullable=True),
        sa.Column('memory', sa.Integer(), nullable=True),
        sa.Column('actor', sa.Text(), nullable=False),
        sa.Column('task_arn', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'),
                  nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('exit_code', sa.Integer(), nullable=True),
        sa.Column('stop_code', sa.Text(), nullable=True),
        sa.Column('stopped_reason', sa.Text(), nullable=True),
        sa.Column('container_reason', sa.Text(), nullable=True),
        sa.Column('log_tail', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.CheckConstraint("kind IN ('run', 'release', 'job')", name=op.f('ck_task_runs_kind')),
        sa.CheckConstraint("(kind = 'job') = (job IS NOT NULL)", name=op.f('ck_task_runs_job_named')),
        sa.CheckConstraint("(kind = 'release') = (deployment_id IS NOT NULL)",
                           name=op.f('ck_task_runs_release_of_deployment')),
        sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_task_runs_app_id_apps')),
        sa.ForeignKeyConstraint(['environment_id'], ['environments.id'],
                                name=op.f('fk_task_runs_environment_id_environments')),
        sa.ForeignKeyConstraint(['release_id'], ['releases.id'], name=op.f('fk_task_runs_release_id_releases')),
        sa.ForeignKeyConstraint(['deployment_id'], ['deployments.id'],
                                name=op.f('fk_task_runs_deployment_id_deployments')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_task_runs')),
        sa.UniqueConstraint('task_arn', name=op.f('uq_task_runs_task_arn')),
    )
    op.create_index('ix_task_runs_app_env_created', 'task_runs',
                    ['app_id', 'environment_id', sa.literal_column('created_at DESC')])
    op.create_index('ix_task_runs_created', 'task_runs', [sa.literal_column('created_at DESC')])
    op.create_index('ix_task_runs_open', 'task_runs', ['app_id', 'environment_id'],
                    postgresql_where=sa.text('stopped_at IS NULL AND task_arn IS NOT NULL'))
    op.create_index('uq_task_runs_one_release_phase', 'task_runs', ['deployment_id'], unique=True,
                    postgresql_where=sa.text("kind = 'release'"))
    op.execute(TASK_RUN_GUARD)
    op.execute("CREATE TRIGGER task_runs_history_guard BEFORE UPDATE OR DELETE ON task_runs "
               "FOR EACH ROW EXECUTE FUNCTION paas_task_run_guard()")
    op.create_table(
        'job_schedules',
        sa.Column('app_id', sa.Integer(), nullable=False),
        sa.Column('environment_id', sa.Integer(), nullable=False),
        sa.Column('job', sa.Text(), nullable=False),
        sa.Column('expression', sa.Text(), nullable=False),
        sa.Column('task_definition', sa.Text(), nullable=False),
        sa.Column('release_id', sa.BigInteger(), nullable=True),
        sa.Column('applied_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'),
                  nullable=False),
        sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_job_schedules_app_id_apps')),
        sa.ForeignKeyConstraint(['environment_id'], ['environments.id'],
                                name=op.f('fk_job_schedules_environment_id_environments')),
        sa.ForeignKeyConstraint(['release_id'], ['releases.id'], name=op.f('fk_job_schedules_release_id_releases')),
        sa.PrimaryKeyConstraint('app_id', 'environment_id', 'job', name=op.f('pk_job_schedules')),
    )
    op.create_index('uq_deployment_events_task_stopped', 'deployment_events',
                    ['deployment_id', sa.literal_column("(data->>'task_arn')")], unique=True,
                    postgresql_where=sa.text("kind = 'task_stopped'"))
    op.execute(TASK_RUNS_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS paas_task_runs")
    op.drop_index('uq_deployment_events_task_stopped', table_name='deployment_events')
    op.drop_table('job_schedules')
    op.execute("DROP TRIGGER IF EXISTS task_runs_history_guard ON task_runs")
    op.execute("DROP FUNCTION IF EXISTS paas_task_run_guard()")
    op.drop_index('uq_task_runs_one_release_phase', table_name='task_runs')
    op.drop_index('ix_task_runs_open', table_name='task_runs')
    op.drop_index('ix_task_runs_created', table_name='task_runs')
    op.drop_index('ix_task_runs_app_env_created', table_name='task_runs')
    op.drop_table('task_runs')
    op.execute(_history_guard(False))
    op.drop_column('deployments', 'run_release_phase')
