"""paas_deploy_history: expose app_id/environment_id, rolled-back versions as scalar subqueries

`paas history APP` filters on the view's new `app_id` column (resolved from the name in an
InitPlan), so Postgres walks `ix_deployments_app_created` newest first and stops at the LIMIT,
instead of walking the global `created_at` index and discarding other apps' rows. The two
rolled-back version lookups become scalar subqueries (evaluated only for returned rows), which
also cuts the view's planning time from ~3-6 ms to ~1 ms. Existing columns keep their names,
types and order (CREATE OR REPLACE VIEW only appends), so grants and ops queries are unaffected.
Measured by bench/history.py.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

HISTORY_V2 = """
CREATE OR REPLACE VIEW paas_deploy_history AS
SELECT d.id                       AS deployment_id,
       a.name                     AS app,
       e.name                     AS environment,
       r.version                  AS release_version,
       r.kind                     AS release_kind,
       i.reference                AS image,
       COALESCE(r.image_digest, i.digest) AS image_digest,
       d.strategy,
       d.state,
       d.actor,
       d.message,
       d.created_at,
       d.started_at,
       d.finished_at,
       d.finished_at - COALESCE(d.started_at, d.created_at) AS duration,
       (SELECT rf.version FROM releases rf WHERE rf.id = d.rolled_back_from_id) AS rolled_back_from_version,
       (SELECT rt.version FROM releases rt WHERE rt.id = d.rolled_back_to_id)   AS rolled_back_to_version,
       d.error,
       d.app_id,
       d.environment_id
  FROM deployments d
  JOIN apps a          ON a.id = d.app_id
  JOIN environments e  ON e.id = d.environment_id
  JOIN releases r      ON r.id = d.release_id
  JOIN images i        ON i.id = r.image_id
"""

HISTORY_V1 = """
CREATE VIEW paas_deploy_history AS
SELECT d.id                       AS deployment_id,
       a.name                     AS app,
       e.name                     AS environment,
       r.version                  AS release_version,
       r.kind                     AS release_kind,
       i.reference                AS image,
       COALESCE(r.image_digest, i.digest) AS image_digest,
       d.strategy,
       d.state,
       d.actor,
       d.message,
       d.created_at,
       d.started_at,
       d.finished_at,
       d.finished_at - COALESCE(d.started_at, d.created_at) AS duration,
       rf.version                 AS rolled_back_from_version,
       rt.version                 AS rolled_back_to_version,
       d.error
  FROM deployments d
  JOIN apps a          ON a.id = d.app_id
  JOIN environments e  ON e.id = d.environment_id
  JOIN releases r      ON r.id = d.release_id
  JOIN images i        ON i.id = r.image_id
  LEFT JOIN releases rf ON rf.id = d.rolled_back_from_id
  LEFT JOIN releases rt ON rt.id = d.rolled_back_to_id
"""


def upgrade() -> None:
    op.execute(HISTORY_V2)


def downgrade() -> None:
    # A view cannot drop columns in place: recreate it. Its grants go with it; `paas db roles`
    # re-applies them.
    op.execute("DROP VIEW paas_deploy_history")
    op.execute(HISTORY_V1)
