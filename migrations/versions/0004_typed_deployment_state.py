"""typed deployment state, steering requests, task-definition records, one definition of live

`deployments.options` was a free-form JSON bag written by the CLI, the service layer and the
reconciler. Its keys become typed columns (what was requested: canary steps, pause, bake and
deadline overrides; how a rollback is going: target, start, reason, end state), a small table
for the colour each process's new release goes to, and an append-only table of steering
requests (cancel, abort, promote, gc) that the CLI inserts and never updates. Existing rows are
carried over; `rollback_to`, `config_version` and `scale` stay in each deployment's
`requested` event, where they always were too.

The task-definition ARN cache moves out of the observation JSON into `task_definitions`, and
the GC bookkeeping into typed columns of `observations`.

`paas_live_releases` is the one definition of the release an app+environment runs: the newest
finished deployment that either succeeded (its release) or returned traffic to a release (the
rollback target). `paas_current_releases`, the CLI and the reconciler all read it.

Times that order history (`created_at`, `finished_at`, event times) use `clock_timestamp()`:
versions are decided in lock order, after the transaction started, so `now()` could date a
later version before an earlier one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

LIVE_VIEW = """
CREATE VIEW paas_live_releases AS
SELECT DISTINCT ON (d.app_id, d.environment_id)
       d.app_id,
       d.environment_id,
       CASE WHEN d.state = 'succeeded' THEN d.release_id ELSE d.rolled_back_to_id END AS release_id,
       d.id          AS deployment_id,
       d.finished_at AS deployed_at
  FROM deployments d
 WHERE d.finished_at IS NOT NULL AND (d.state = 'succeeded' OR d.rolled_back_to_id IS NOT NULL)
 ORDER BY d.app_id, d.environment_id, d.finished_at DESC, d.id DESC
"""

CURRENT_VIEW = """
CREATE VIEW paas_current_releases AS
SELECT a.name        AS app,
       e.name        AS environment,
       r.version     AS release_version,
       r.kind        AS release_kind,
       i.reference   AS image,
       COALESCE(r.image_digest, i.digest) AS image_digest,
       l.deployment_id,
       d.actor,
       l.deployed_at,
       r.known_good_at,
       l.app_id,
       l.environment_id
  FROM paas_live_releases l
  JOIN deployments d  ON d.id = l.deployment_id
  JOIN apps a         ON a.id = l.app_id
  JOIN environments e ON e.id = l.environment_id
  JOIN releases r     ON r.id = l.release_id
  JOIN images i       ON i.id = r.image_id
"""

OLD_CURRENT_VIEW = """
CREATE VIEW paas_current_releases AS
SELECT DISTINCT ON (d.app_id, d.environment_id)
       a.name        AS app,
       e.name        AS environment,
       r.version     AS release_version,
       r.kind        AS release_kind,
       i.reference   AS image,
       COALESCE(r.image_digest, i.digest) AS image_digest,
       d.id          AS deployment_id,
       d.actor,
       d.finished_at AS deployed_at,
       r.known_good_at
  FROM deployments d
  JOIN apps a         ON a.id = d.app_id
  JOIN environments e ON e.id = d.environment_id
  JOIN releases r     ON r.id = CASE WHEN d.state = 'rolled_back' THEN d.rolled_back_to_id ELSE d.release_id END
  JOIN images i       ON i.id = r.image_id
 WHERE d.state IN ('succeeded', 'rolled_back') AND r.id IS NOT NULL
 ORDER BY d.app_id, d.environment_id, d.finished_at DESC, d.id DESC
"""

CLOCK_COLUMNS = (("deployments", "created_at"), ("releases", "created_at"), ("config_versions", "created_at"),
                 ("deployment_events", "at"))


def upgrade() -> None:
    op.add_column('deployments', sa.Column('canary_steps', postgresql.ARRAY(sa.Integer()), nullable=True))
    op.add_column('deployments', sa.Column('pause_at', sa.Integer(), nullable=True))
    op.add_column('deployments', sa.Column('bake_seconds', sa.Float(), nullable=True))
    op.add_column('deployments', sa.Column('step_deadline_seconds', sa.Float(), nullable=True))
    op.add_column('deployments', sa.Column('rollback_started_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('deployments', sa.Column('rollback_reason', sa.Text(), nullable=True))
    op.add_column('deployments', sa.Column('end_state', sa.Text(), nullable=True))
    op.create_check_constraint(op.f('ck_deployments_end_state'), 'deployments',
                               "end_state IN ('failed', 'superseded')")
    op.create_check_constraint(op.f('ck_deployments_pause_at_range'), 'deployments',
                               'pause_at IS NULL OR pause_at BETWEEN 1 AND 99')
    op.create_check_constraint(op.f('ck_deployments_canary_steps_shape'), 'deployments',
                               'canary_steps IS NULL OR cardinality(canary_steps) BETWEEN 1 AND 20')
    op.create_table(
        'deployment_colours',
        sa.Column('deployment_id', sa.BigInteger(), nullable=False),
        sa.Column('process', sa.Text(), nullable=False),
        sa.Column('colour', sa.Text(), nullable=False),
        sa.CheckConstraint("colour IN ('blue', 'green')", name=op.f('ck_deployment_colours_colour')),
        sa.ForeignKeyConstraint(['deployment_id'], ['deployments.id'],
                                name=op.f('fk_deployment_colours_deployment_id_deployments')),
        sa.PrimaryKeyConstraint('deployment_id', 'process', name=op.f('pk_deployment_colours')),
    )
    op.create_table(
        'deployment_requests',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('deployment_id', sa.BigInteger(), nullable=False),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('actor', sa.Text(), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'),
                  nullable=False),
        sa.CheckConstraint("kind IN ('cancel', 'abort', 'promote', 'gc')", name=op.f('ck_deployment_requests_kind')),
        sa.ForeignKeyConstraint(['deployment_id'], ['deployments.id'],
                                name=op.f('fk_deployment_requests_deployment_id_deployments')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_deployment_requests')),
    )
    op.create_index('uq_deployment_requests_once', 'deployment_requests', ['deployment_id', 'kind'], unique=True,
                    postgresql_where=sa.text("kind <> 'gc'"))
    op.create_index('ix_deployment_requests_deployment', 'deployment_requests', ['deployment_id', 'id'])
    op.create_table(
        'task_definitions',
        sa.Column('app_id', sa.Integer(), nullable=False),
        sa.Column('environment_id', sa.Integer(), nullable=False),
        sa.Column('family', sa.Text(), nullable=False),
        sa.Column('task_version', sa.Integer(), nullable=False),
        sa.Column('arn', sa.Text(), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'),
                  nullable=False),
        sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_task_definitions_app_id_apps')),
        sa.ForeignKeyConstraint(['environment_id'], ['environments.id'],
                                name=op.f('fk_task_definitions_environment_id_environments')),
        sa.PrimaryKeyConstraint('app_id', 'environment_id', 'family', 'task_version',
                                name=op.f('pk_task_definitions')),
    )
    op.add_column('observations', sa.Column('gc_checked_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('observations', sa.Column('gc_request_handled_id', sa.BigInteger(), nullable=True))
    for table, col in CLOCK_COLUMNS:
        op.alter_column(table, col, server_default=sa.text('clock_timestamp()'))

    # --- carry existing rows over -----------------------------------------------------------
    op.execute("""
        UPDATE deployments d SET
            canary_steps = CASE WHEN jsonb_typeof(options->'steps') = 'array'
                                THEN ARRAY(SELECT jsonb_array_elements_text(options->'steps')::int) END,
            pause_at = (options->>'pause_at')::int,
            bake_seconds = (options->>'bake_seconds')::float,
            step_deadline_seconds = (options->>'step_deadline_seconds')::float,
            rollback_started_at = (options->>'rollback_started_at')::timestamptz,
            rollback_reason = options->>'rollback_reason',
            end_state = CASE WHEN options->>'fail_state' IN ('failed', 'superseded') THEN options->>'fail_state' END,
            rolled_back_to_id = COALESCE(d.rolled_back_to_id, (
                SELECT r.id FROM releases r WHERE r.app_id = d.app_id AND r.environment_id = d.environment_id
                   AND r.version = (d.options->>'rolling_back_to')::int))
        WHERE options <> '{}'::jsonb
    """)
    op.execute("""
        INSERT INTO deployment_colours (deployment_id, process, colour)
        SELECT d.id, c.key, c.value FROM deployments d, jsonb_each_text(d.options->'colours') c
         WHERE jsonb_typeof(d.options->'colours') = 'object' AND c.value IN ('blue', 'green')
    """)
    for key, kind in (("cancel_requested", "cancel"), ("abort_requested", "abort"),
                      ("promote_requested", "promote")):
        op.execute(f"""
            INSERT INTO deployment_requests (deployment_id, kind, actor, requested_at)
            SELECT d.id, '{kind}',
                   COALESCE((SELECT e.actor FROM deployment_events e WHERE e.deployment_id = d.id
                              AND e.kind = '{key}' ORDER BY e.id LIMIT 1), 'unknown'),
                   COALESCE((SELECT e.at FROM deployment_events e WHERE e.deployment_id = d.id
                              AND e.kind = '{key}' ORDER BY e.id LIMIT 1), d.created_at)
              FROM deployments d WHERE (d.options->>'{key}')::boolean
        """)
    op.execute("""
        INSERT INTO deployment_requests (deployment_id, kind, actor, requested_at)
        SELECT d.id, 'gc',
               COALESCE((SELECT e.actor FROM deployment_events e WHERE e.deployment_id = d.id
                          AND e.kind = 'gc_requested' ORDER BY e.id DESC LIMIT 1), 'unknown'),
               (d.options->>'gc_requested_at')::timestamptz
          FROM deployments d WHERE d.options ? 'gc_requested_at'
    """)
    op.execute("""
        INSERT INTO task_definitions (app_id, environment_id, family, task_version, arn)
        SELECT o.app_id, o.environment_id, split_part(t.key, ':', 1), split_part(t.key, ':', 2)::int, t.value
          FROM observations o, jsonb_each_text(o.data->'task_definitions') t
         WHERE jsonb_typeof(o.data->'task_definitions') = 'object' AND t.key ~ '^[^:]+:[0-9]+$'
        ON CONFLICT DO NOTHING
    """)
    op.execute("""
        UPDATE observations SET gc_checked_at = (data->'gc'->>'checked_at')::timestamptz,
                                data = data - 'task_definitions' - 'gc'
    """)
    op.drop_column('deployments', 'options')

    op.execute("DROP VIEW paas_current_releases")
    op.execute(LIVE_VIEW)
    op.execute(CURRENT_VIEW)
    op.create_index('ix_deployments_live', 'deployments',
                    ['app_id', 'environment_id', sa.literal_column('finished_at DESC'), sa.literal_column('id DESC')],
                    postgresql_where=sa.text("finished_at IS NOT NULL AND "
                                             "(state = 'succeeded' OR rolled_back_to_id IS NOT NULL)"))


def downgrade() -> None:
    op.drop_index('ix_deployments_live', table_name='deployments')
    op.execute("DROP VIEW paas_current_releases")
    op.execute("DROP VIEW paas_live_releases")
    op.execute(OLD_CURRENT_VIEW)
    op.add_column('deployments', sa.Column('options', postgresql.JSONB(astext_type=sa.Text()),
                                           server_default=sa.text("'{}'::jsonb"), nullable=False))
    op.execute("""
        UPDATE deployments d SET options = jsonb_strip_nulls(jsonb_build_object(
            'steps', to_jsonb(d.canary_steps), 'pause_at', d.pause_at, 'bake_seconds', d.bake_seconds,
            'step_deadline_seconds', d.step_deadline_seconds, 'rollback_started_at', d.rollback_started_at,
            'rollback_reason', d.rollback_reason, 'fail_state', d.end_state,
            'rolling_back_to', CASE WHEN d.state IN ('pending', 'in_progress') THEN
                (SELECT r.version FROM releases r WHERE r.id = d.rolled_back_to_id) END,
            'colours', (SELECT jsonb_object_agg(c.process, c.colour) FROM deployment_colours c
                         WHERE c.deployment_id = d.id),
            'cancel_requested', (SELECT true FROM deployment_requests q WHERE q.deployment_id = d.id AND q.kind = 'cancel'),
            'abort_requested', (SELECT true FROM deployment_requests q WHERE q.deployment_id = d.id AND q.kind = 'abort'),
            'promote_requested', (SELECT true FROM deployment_requests q WHERE q.deployment_id = d.id AND q.kind = 'promote')
        ))
    """)
    for table, col in CLOCK_COLUMNS:
        op.alter_column(table, col, server_default=sa.text('now()'))
    op.drop_column('observations', 'gc_request_handled_id')
    op.drop_column('observations', 'gc_checked_at')
    op.drop_table('task_definitions')
    op.drop_index('ix_deployment_requests_deployment', table_name='deployment_requests')
    op.drop_index('uq_deployment_requests_once', table_name='deployment_requests')
    op.drop_table('deployment_requests')
    op.drop_table('deployment_colours')
    op.drop_constraint(op.f('ck_deployments_canary_steps_shape'), 'deployments')
    op.drop_constraint(op.f('ck_deployments_pause_at_range'), 'deployments')
    op.drop_constraint(op.f('ck_deployments_end_state'), 'deployments')
    for col in ('end_state', 'rollback_reason', 'rollback_started_at', 'step_deadline_seconds', 'bake_seconds',
                'pause_at', 'canary_steps'):
        op.drop_column('deployments', col)
