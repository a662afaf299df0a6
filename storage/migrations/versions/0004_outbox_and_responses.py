"""outbox and responses

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

The durable outbox of chat messages, one alert per anomaly and platform, and what people did
about an anomaly (kept apart from the detector's own status, which the detector alone writes).
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('operation', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('result_ref', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alert.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index('ix_outbox_pending', ['status', 'next_attempt_at'], unique=False)

    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_alert_anomaly', ['anomaly_id', 'platform'])

    text = sqlmodel.sql.sqltypes.AutoString
    stamp = sqlmodel.sql.sqltypes.UTCDateTime
    with op.batch_alter_table("anomaly", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("response", text(length=30), nullable=False, server_default="none"))
        batch_op.add_column(sa.Column("response_by", text(length=100), nullable=True))
        batch_op.add_column(sa.Column("response_at", stamp(), nullable=True))
        batch_op.add_column(sa.Column("response_note", sa.Text(), nullable=True))
        for column in ("snoozed_until", "reminded_at", "escalated_at"):
            batch_op.add_column(sa.Column(column, stamp(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('anomaly', schema=None) as batch_op:
        batch_op.drop_column('escalated_at')
        batch_op.drop_column('reminded_at')
        batch_op.drop_column('snoozed_until')
        batch_op.drop_column('response_note')
        batch_op.drop_column('response_at')
        batch_op.drop_column('response_by')
        batch_op.drop_column('response')

    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_constraint('uq_alert_anomaly', type_='unique')

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_pending')
        batch_op.drop_index(batch_op.f('ix_outbox_alert_id'))

    op.drop_table('outbox')
