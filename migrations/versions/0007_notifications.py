"""notifications: webhook targets and a transactional outbox delivered at least once

- `notify_targets`: a webhook per app (every environment) or per app+environment, with its
  format (`json` or `slack`) and the events it wants. The URL and the signing secret are never
  here: they are SecureString parameters in SSM Parameter Store (`url_param`, `secret_param`
  name them) stored through the driver of `store_environment_id`; `url_display` is the
  redacted scheme://host/… shown by `paas notify list`. Removing a target stamps `removed_at`.
- `notify_outbox`: one row per (event, matching target), written in the transaction that made
  the event happen. `key` is the stable Idempotency-Key a receiver deduplicates on; workers
  claim due rows with a lease (`lease_owner`, `lease_expires_at`, `claim_token` as a fencing
  token), post without a transaction open, and record the result: `delivered`, back to
  `pending` with `next_attempt_at` later (exponential backoff), `dead` once older than the
  maximum age, or `dropped` when the target was removed. Only the oldest pending row of a
  target is ever claimed, so each receiver gets its app's events in order.
- `paas_notifications`: the ops view of targets (redacted) with their delivery counts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

EVENTS = ("pipeline_started", "check_failed", "deploy_started", "deploy_succeeded", "deploy_failed",
          "rolled_back", "approval_needed")
_EVENT_ARRAY = "ARRAY[" + ", ".join(f"'{e}'" for e in EVENTS) + "]::text[]"

VIEW = """
CREATE VIEW paas_notifications AS
SELECT t.id          AS target_id,
       a.name        AS app,
       e.name        AS environment,
       t.format,
       t.events,
       t.url_display AS url,
       t.actor,
       t.created_at,
       t.removed_at,
       count(o.id) FILTER (WHERE o.state = 'pending')   AS pending,
       count(o.id) FILTER (WHERE o.state = 'delivered') AS delivered,
       count(o.id) FILTER (WHERE o.state = 'dead')      AS dead,
       min(o.created_at) FILTER (WHERE o.state = 'pending') AS oldest_pending_at,
       max(o.finished_at) FILTER (WHERE o.state = 'delivered') AS last_delivered_at,
       (SELECT x.last_error FROM notify_outbox x WHERE x.target_id = t.id AND x.last_error IS NOT NULL
         ORDER BY x.id DESC LIMIT 1) AS last_error,
       t.app_id,
       t.environment_id
  FROM notify_targets t
  JOIN apps a ON a.id = t.app_id
  LEFT JOIN environments e ON e.id = t.environment_id
  LEFT JOIN notify_outbox o ON o.target_id = t.id
 GROUP BY t.id, a.name, e.name
"""


def upgrade() -> None:
    op.create_table(
        'notify_targets',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('app_id', sa.Integer(), nullable=False),
        sa.Column('environment_id', sa.Integer(), nullable=True),
        sa.Column('store_environment_id', sa.Integer(), nullable=False),
        sa.Column('format', sa.Text(), nullable=False),
        sa.Column('events', postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column('url_param', sa.Text(), nullable=False),
        sa.Column('secret_param', sa.Text(), nullable=False),
        sa.Column('url_display', sa.Text(), nullable=False),
        sa.Column('actor', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'),
                  nullable=False),
        sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('removed_by', sa.Text(), nullable=True),
        sa.CheckConstraint("format IN ('json', 'slack')", name=op.f('ck_notify_targets_format')),
        sa.CheckConstraint(f"cardinality(events) > 0 AND events <@ {_EVENT_ARRAY}",
                           name=op.f('ck_notify_targets_known_events')),
        sa.CheckConstraint("(removed_at IS NULL) = (removed_by IS NULL)", name=op.f('ck_notify_targets_removed_by')),
        sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_notify_targets_app_id_apps')),
        sa.ForeignKeyConstraint(['environment_id'], ['environments.id'],
                                name=op.f('fk_notify_targets_environment_id_environments')),
        sa.ForeignKeyConstraint(['store_environment_id'], ['environments.id'],
                                name=op.f('fk_notify_targets_store_environment_id_environments')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_targets')),
        sa.UniqueConstraint('url_param', name=op.f('uq_notify_targets_url_param')),
    )
    op.create_index('ix_notify_targets_app', 'notify_targets', ['app_id'],
                    postgresql_where=sa.text('removed_at IS NULL'))
    op.create_table(
        'notify_outbox',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('key', postgresql.UUID(as_uuid=False), server_default=sa.text('gen_random_uuid()'),
                  nullable=False),
        sa.Column('target_id', sa.Integer(), nullable=False),
        sa.Column('app_id', sa.Integer(), nullable=False),
        sa.Column('environment_id', sa.Integer(), nullable=True),
        sa.Column('event', sa.Text(), nullable=False),
        sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('state', sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'),
                  nullable=False),
        sa.Column('lease_owner', sa.Text(), nullable=True),
        sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('claim_token', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'),
                  nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'delivered', 'dead', 'dropped')",
                           name=op.f('ck_notify_outbox_state')),
        sa.CheckConstraint(f"event = ANY({_EVENT_ARRAY})", name=op.f('ck_notify_outbox_known_event')),
        sa.CheckConstraint("(state = 'pending') = (finished_at IS NULL)",
                           name=op.f('ck_notify_outbox_finished_iff_done')),
        sa.ForeignKeyConstraint(['target_id'], ['notify_targets.id'],
                                name=op.f('fk_notify_outbox_target_id_notify_targets')),
        sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_notify_outbox_app_id_apps')),
        sa.ForeignKeyConstraint(['environment_id'], ['environments.id'],
                                name=op.f('fk_notify_outbox_environment_id_environments')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_outbox')),
        sa.UniqueConstraint('key', name=op.f('uq_notify_outbox_key')),
    )
    op.create_index('ix_notify_outbox_pending', 'notify_outbox', ['target_id', 'id'],
                    postgresql_where=sa.text("state = 'pending'"))
    op.create_index('ix_notify_outbox_target', 'notify_outbox', ['target_id', sa.literal_column('id DESC')])
    op.execute(VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS paas_notifications")
    op.drop_index('ix_notify_outbox_target', table_name='notify_outbox')
    op.drop_index('ix_notify_outbox_pending', table_name='notify_outbox')
    op.drop_table('notify_outbox')
    op.drop_index('ix_notify_targets_app', table_name='notify_targets')
    op.drop_table('notify_targets')
