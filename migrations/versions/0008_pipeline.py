"""pipeline: ECR pushes tested and promoted stage by stage, every promotion with its evidence

- `pipelines`: one row per app that declares a `[pipeline]` (its spec as JSON, who set it), with
  the pipeline's own due time and lease (a worker advances one app's pipeline at a time) and
  when its watched repository is next compared with what the database has seen (resync).
- `image_pushes`: each pushed image that counts, once per app and digest (unique: at-least-once
  delivery in, exactly-once recorded), where it came from (the push event or a resync), when it
  landed on the queue, and how its pipeline ended (failed, superseded, released).
- `image_checks`: the integration tests of a push: one ECS task of the image by digest; exit
  code, stop code and reason, duration and the last lines it logged.
- `promotions`: each promotion of a push into a stage, the deployment it created and its
  evidence: the check, the stage before's release and when it became known-good, who approved.
- `pipeline_approvals`: `paas approve`, who and when, once per push and stage.
- `paas_promotions`: the ops view of promotions, with the canary's gate readings.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

CLOCK = sa.text('clock_timestamp()')
TSTZ = sa.DateTime(timezone=True)

PROMOTIONS_VIEW = """
CREATE VIEW paas_promotions AS
SELECT p.id              AS promotion_id,
       a.name            AS app,
       e.name            AS environment,
       p.stage,
       i.repository,
       i.tag,
       i.digest,
       i.image,
       r.version         AS release_version,
       p.deployment_id,
       d.state           AS deployment_state,
       p.created_at      AS promoted_at,
       d.finished_at,
       r.known_good_at,
       c.state           AS check_state,
       c.exit_code       AS check_exit_code,
       c.finished_at     AS check_finished_at,
       ue.name           AS upstream_environment,
       ur.version        AS upstream_release_version,
       p.upstream_known_good_at,
       p.approver,
       p.approved_at,
       (SELECT jsonb_agg(COALESCE(ev.data->'evidence'->'gate', ev.data->'gate')
                         || jsonb_build_object('event', ev.kind, 'at', ev.at,
                                               'percent', COALESCE(ev.data->'evidence'->'step_percent',
                                                                   ev.data->'step_percent'))
                         ORDER BY ev.id) FROM deployment_events ev
         WHERE ev.deployment_id = p.deployment_id
           AND (ev.data ? 'gate' OR ev.data->'evidence' ? 'gate')) AS gate_readings,
       p.evidence,
       i.state           AS push_state,
       p.app_id,
       p.environment_id,
       p.push_id
  FROM promotions p
  JOIN apps a              ON a.id = p.app_id
  JOIN environments e      ON e.id = p.environment_id
  JOIN image_pushes i      ON i.id = p.push_id
  JOIN deployments d       ON d.id = p.deployment_id
  JOIN releases r          ON r.id = d.release_id
  LEFT JOIN image_checks c ON c.push_id = p.push_id
  LEFT JOIN environments ue ON ue.id = p.upstream_environment_id
  LEFT JOIN releases ur    ON ur.id = p.upstream_release_id
"""


def upgrade() -> None:
    op.create_table(
        'pipelines',
        sa.Column('app_id', sa.Integer(), nullable=False),
        sa.Column('spec', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('actor', sa.Text(), nullable=False),
        sa.Column('created_at', TSTZ, server_default=CLOCK, nullable=False),
        sa.Column('updated_at', TSTZ, server_default=CLOCK, nullable=False),
        sa.Column('run_after', TSTZ, server_default=CLOCK, nullable=False),
        sa.Column('lease_owner', sa.Text(), nullable=True),
        sa.Column('lease_expires_at', TSTZ, nullable=True),
        sa.Column('resync_after', TSTZ, server_default=CLOCK, nullable=False),
        sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_pipelines_app_id_apps')),
        sa.PrimaryKeyConstraint('app_id', name=op.f('pk_pipelines')),
    )
    op.create_index('ix_pipelines_run_after', 'pipelines', ['run_after'])
    op.create_table(
        'image_pushes',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('app_id', sa.Integer(), nullable=False),
        sa.Column('repository', sa.Text(), nullable=False),
        sa.Column('tag', sa.Text(), nullable=True),
        sa.Column('digest', sa.Text(), nullable=False),
        sa.Column('image', sa.Text(), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('pushed_at', TSTZ, nullable=True),
        sa.Column('queued_at', TSTZ, nullable=True),
        sa.Column('seen_at', TSTZ, server_default=CLOCK, nullable=False),
        sa.Column('state', sa.Text(), server_default=sa.text("'active'"), nullable=False),
        sa.Column('ended_at', TSTZ, nullable=True),
        sa.Column('end_reason', sa.Text(), nullable=True),
        sa.Column('approval_notified', postgresql.ARRAY(sa.Integer()), server_default=sa.text("'{}'"),
                  nullable=False),
        sa.CheckConstraint("source IN ('event', 'resync')", name=op.f('ck_image_pushes_source')),
        sa.CheckConstraint("state IN ('active', 'failed', 'superseded', 'released')",
                           name=op.f('ck_image_pushes_state')),
        sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_image_pushes_app_id_apps')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_image_pushes')),
        sa.UniqueConstraint('app_id', 'digest', name=op.f('uq_image_pushes_app_id')),
    )
    op.create_index('ix_image_pushes_active', 'image_pushes', ['app_id'],
                    postgresql_where=sa.text("state = 'active'"))
    op.create_table(
        'image_checks',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('push_id', sa.BigInteger(), nullable=False),
        sa.Column('app_id', sa.Integer(), nullable=False),
        sa.Column('environment_id', sa.Integer(), nullable=False),
        sa.Column('digest', sa.Text(), nullable=False),
        sa.Column('command', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column('task_definition_arn', sa.Text(), nullable=True),
        sa.Column('task_arn', sa.Text(), nullable=True),
        sa.Column('created_at', TSTZ, server_default=CLOCK, nullable=False),
        sa.Column('started_at', TSTZ, nullable=True),
        sa.Column('finished_at', TSTZ, nullable=True),
        sa.Column('state', sa.Text(), server_default=sa.text("'running'"), nullable=False),
        sa.Column('exit_code', sa.Integer(), nullable=True),
        sa.Column('stop_code', sa.Text(), nullable=True),
        sa.Column('stopped_reason', sa.Text(), nullable=True),
        sa.Column('duration_seconds', sa.Float(), nullable=True),
        sa.Column('log_tail', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.CheckConstraint("state IN ('running', 'passed', 'failed')", name=op.f('ck_image_checks_state')),
        sa.ForeignKeyConstraint(['push_id'], ['image_pushes.id'], name=op.f('fk_image_checks_push_id_image_pushes')),
        sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_image_checks_app_id_apps')),
        sa.ForeignKeyConstraint(['environment_id'], ['environments.id'],
                                name=op.f('fk_image_checks_environment_id_environments')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_image_checks')),
        sa.UniqueConstraint('push_id', name=op.f('uq_image_checks_push_id')),
        sa.UniqueConstraint('task_arn', name=op.f('uq_image_checks_task_arn')),
    )
    op.create_table(
        'promotions',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('push_id', sa.BigInteger(), nullable=False),
        sa.Column('app_id', sa.Integer(), nullable=False),
        sa.Column('environment_id', sa.Integer(), nullable=False),
        sa.Column('stage', sa.Integer(), nullable=False),
        sa.Column('deployment_id', sa.BigInteger(), nullable=False),
        sa.Column('created_at', TSTZ, server_default=CLOCK, nullable=False),
        sa.Column('upstream_environment_id', sa.Integer(), nullable=True),
        sa.Column('upstream_release_id', sa.BigInteger(), nullable=True),
        sa.Column('upstream_known_good_at', TSTZ, nullable=True),
        sa.Column('approver', sa.Text(), nullable=True),
        sa.Column('approved_at', TSTZ, nullable=True),
        sa.Column('evidence', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'"),
                  nullable=False),
        sa.ForeignKeyConstraint(['push_id'], ['image_pushes.id'], name=op.f('fk_promotions_push_id_image_pushes')),
        sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_promotions_app_id_apps')),
        sa.ForeignKeyConstraint(['environment_id'], ['environments.id'],
                                name=op.f('fk_promotions_environment_id_environments')),
        sa.ForeignKeyConstraint(['deployment_id'], ['deployments.id'],
                                name=op.f('fk_promotions_deployment_id_deployments')),
        sa.ForeignKeyConstraint(['upstream_environment_id'], ['environments.id'],
                                name=op.f('fk_promotions_upstream_environment_id_environments')),
        sa.ForeignKeyConstraint(['upstream_release_id'], ['releases.id'],
                                name=op.f('fk_promotions_upstream_release_id_releases')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_promotions')),
        sa.UniqueConstraint('push_id', 'environment_id', name=op.f('uq_promotions_push_id')),
        sa.UniqueConstraint('deployment_id', name=op.f('uq_promotions_deployment_id')),
    )
    op.create_table(
        'pipeline_approvals',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('push_id', sa.BigInteger(), nullable=False),
        sa.Column('environment_id', sa.Integer(), nullable=False),
        sa.Column('approver', sa.Text(), nullable=False),
        sa.Column('created_at', TSTZ, server_default=CLOCK, nullable=False),
        sa.ForeignKeyConstraint(['push_id'], ['image_pushes.id'],
                                name=op.f('fk_pipeline_approvals_push_id_image_pushes')),
        sa.ForeignKeyConstraint(['environment_id'], ['environments.id'],
                                name=op.f('fk_pipeline_approvals_environment_id_environments')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pipeline_approvals')),
        sa.UniqueConstraint('push_id', 'environment_id', name=op.f('uq_pipeline_approvals_push_id')),
    )
    op.execute(PROMOTIONS_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS paas_promotions")
    op.drop_table('pipeline_approvals')
    op.drop_table('promotions')
    op.drop_table('image_checks')
    op.drop_index('ix_image_pushes_active', table_name='image_pushes')
    op.drop_table('image_pushes')
    op.drop_index('ix_pipelines_run_after', table_name='pipelines')
    op.drop_table('pipelines')
