"""budgets

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

Budgets set in chat (``budget_change``, newest wins, history kept) and the thresholds each
budget has crossed in a period (``budget_crossing``, unique per threshold and basis, so each
alerts once).
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budget_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("monthly", sa.Float(), nullable=False),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.Column("set_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_budget_change_set_at", "budget_change", ["set_at"])
    op.create_table(
        "budget_crossing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("budget", sa.String(length=400), nullable=False),
        sa.Column("period_start", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("basis", sa.String(length=20), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("crossed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("spent", sa.Float(), nullable=False),
        sa.Column("forecast", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("budget", "period_start", "basis", "threshold",
                            name="uq_budget_crossing"),
    )


def downgrade() -> None:
    op.drop_table("budget_crossing")
    op.drop_index("ix_budget_change_set_at", table_name="budget_change")
    op.drop_table("budget_change")
