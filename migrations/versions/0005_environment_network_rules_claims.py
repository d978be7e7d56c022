"""environment networking, stored listener-rule priorities, claims through one function

- `environments.endpoint_url` goes: which AWS endpoint a worker signs requests for is the
  worker's own configuration, never a row a CLI user can write.
- `environments.alb_security_group` (the ALB's own group, which task security groups admit on
  the container port), `assign_public_ip` (tasks in public subnets without a NAT gateway) and
  `app_domain` (apps that route no host of their own get `<app>.<app_domain>`, so many apps
  share one listener without one catch-all shadowing the rest).
- `listener_rules`: the priority allocated to each web process's rule on its listener, from the
  listener's free ones; unique per listener, so two apps can never be given the same number.
- `paas_claim()`: the only way a fencing token moves. It runs as the schema owner, so the
  worker role needs no UPDATE on `work_queue.fencing_token` and cannot bump tokens at will.
- Finished deployments are history: a trigger rejects changes to a deployment once it has
  finished, and to who asked for it, why, and what, ever.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

CLAIM = """
CREATE FUNCTION paas_claim(p_owner text, p_ttl double precision, p_limit integer)
RETURNS TABLE (app_id integer, environment_id integer, fencing_token bigint, enqueued_at timestamptz,
               attempts integer, rescued boolean)
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH due AS (
        SELECT w.app_id, w.environment_id, w.lease_owner IS NOT NULL AS rescued
          FROM work_queue w
         WHERE w.run_after <= now()
           AND (w.lease_expires_at IS NULL OR w.lease_expires_at < now())
         ORDER BY w.run_after
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    )
    UPDATE work_queue w
       SET lease_owner = p_owner,
           lease_expires_at = now() + make_interval(secs => p_ttl),
           fencing_token = w.fencing_token + 1,
           attempts = w.attempts + 1,
           updated_at = now()
      FROM due
     WHERE w.app_id = due.app_id AND w.environment_id = due.environment_id
    RETURNING w.app_id, w.environment_id, w.fencing_token, w.enqueued_at, w.attempts, due.rescued
$$
"""

HISTORY_GUARD = """
CREATE FUNCTION paas_deployment_history_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'deployments are history: DELETE rejected' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.app_id, NEW.environment_id, NEW.release_id, NEW.strategy, NEW.actor, NEW.message, NEW.created_at,
        NEW.canary_steps, NEW.pause_at, NEW.bake_seconds, NEW.step_deadline_seconds)
       IS DISTINCT FROM
       (OLD.app_id, OLD.environment_id, OLD.release_id, OLD.strategy, OLD.actor, OLD.message, OLD.created_at,
        OLD.canary_steps, OLD.pause_at, OLD.bake_seconds, OLD.step_deadline_seconds) THEN
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
    op.drop_column('environments', 'endpoint_url')
    op.add_column('environments', sa.Column('alb_security_group', sa.Text(), nullable=True))
    op.add_column('environments', sa.Column('assign_public_ip', sa.Boolean(), server_default=sa.text('false'),
                                            nullable=False))
    op.add_column('environments', sa.Column('app_domain', sa.Text(), nullable=True))
    op.create_table(
        'listener_rules',
        sa.Column('app_id', sa.Integer(), nullable=False),
        sa.Column('environment_id', sa.Integer(), nullable=False),
        sa.Column('process', sa.Text(), nullable=False),
        sa.Column('listener_arn', sa.Text(), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('allocated_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'),
                  nullable=False),
        sa.CheckConstraint('priority BETWEEN 1 AND 50000', name=op.f('ck_listener_rules_priority_range')),
        sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_listener_rules_app_id_apps')),
        sa.ForeignKeyConstraint(['environment_id'], ['environments.id'],
                                name=op.f('fk_listener_rules_environment_id_environments')),
        sa.PrimaryKeyConstraint('app_id', 'environment_id', 'process', name=op.f('pk_listener_rules')),
        sa.UniqueConstraint('listener_arn', 'priority', name=op.f('uq_listener_rules_listener_arn')),
    )
    op.execute(CLAIM)
    op.execute("REVOKE ALL ON FUNCTION paas_claim(text, double precision, integer) FROM PUBLIC")
    op.execute(HISTORY_GUARD)
    op.execute("CREATE TRIGGER deployments_history_guard BEFORE UPDATE OR DELETE ON deployments "
               "FOR EACH ROW EXECUTE FUNCTION paas_deployment_history_guard()")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS deployments_history_guard ON deployments")
    op.execute("DROP FUNCTION IF EXISTS paas_deployment_history_guard()")
    op.execute("DROP FUNCTION IF EXISTS paas_claim(text, double precision, integer)")
    op.drop_table('listener_rules')
    op.drop_column('environments', 'app_domain')
    op.drop_column('environments', 'assign_public_ip')
    op.drop_column('environments', 'alb_security_group')
    op.add_column('environments', sa.Column('endpoint_url', sa.Text(), nullable=True))
