"""environment resync schedule: when a worker next compares every steady service with AWS

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('environments', sa.Column('resync_after', sa.DateTime(timezone=True),
                                            server_default=sa.text('now()'), nullable=False))


def downgrade() -> None:
    op.drop_column('environments', 'resync_after')
