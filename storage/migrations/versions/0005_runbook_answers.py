"""runbook answers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

A runbook entry keeps every answer of the playbook walk that wrote it (each step's fields, as
text), not only the root cause, fix and prevention. Entries written before have none.
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runbook_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answers", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runbook_entry", schema=None) as batch_op:
        batch_op.drop_column("answers")
