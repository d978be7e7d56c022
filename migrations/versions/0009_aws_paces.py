"""aws_paces: the per-operation AWS request pace shared by every worker of an account

AWS throttles some operation families far below the account-wide rate (ECS
RegisterTaskDefinition: 1/s sustained per account and Region). A worker that gets a throttling
answer paces that operation (AIMD). With one pace per worker process, N workers run N control
loops against one AWS bucket and back off more than one loop would; here the pace is one row
per (account, operation) that every worker shares: `rate` (requests/s; cut at most once a
second on a throttle, raised on each success, the row deleted back at `ceiling`), `next_slot`
(when the next request of that operation may go out), `ok_count` successes since `ok_since`
(what AWS accepted since the last cut) and `slow_start` (no cut yet). Taking a slot is one
UPDATE, so the account's requests of that operation are spaced 1/rate apart whichever worker
sends them (paas/db/paces.py has the control loop).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

CLOCK = sa.text('clock_timestamp()')
TSTZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'aws_paces',
        sa.Column('account', sa.Text(), nullable=False),
        sa.Column('operation', sa.Text(), nullable=False),
        sa.Column('rate', sa.Float(), nullable=False),
        sa.Column('ceiling', sa.Float(), nullable=False),
        sa.Column('floor', sa.Float(), nullable=False),
        sa.Column('next_slot', TSTZ, server_default=CLOCK, nullable=False),
        sa.Column('last_cut', TSTZ, server_default=CLOCK, nullable=False),
        sa.Column('started_at', TSTZ, server_default=CLOCK, nullable=False),
        sa.Column('ok_since', TSTZ, server_default=CLOCK, nullable=False),
        sa.Column('ok_count', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
        sa.Column('slow_start', sa.Boolean(), server_default=sa.text('true'), nullable=False),
        sa.Column('throttles', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
        sa.Column('updated_at', TSTZ, server_default=CLOCK, nullable=False),
        sa.CheckConstraint('floor > 0 AND rate >= floor AND ceiling >= floor', name=op.f('ck_aws_paces_rate_range')),
        sa.CheckConstraint('length(account) <= 512 AND length(operation) <= 128',
                           name=op.f('ck_aws_paces_key_length')),
        sa.PrimaryKeyConstraint('account', 'operation', name=op.f('pk_aws_paces')),
    )


def downgrade() -> None:
    op.drop_table('aws_paces')
