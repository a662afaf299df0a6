"""retention

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

``cost_point.hours``: how many hours a point stands for. Ingest writes 1; ``spendwatch db
prune`` replaces a day's hourly points of one series and ingest run by one point at the day's
00:00 with 24. A plain ``ADD COLUMN`` with a constant default, not a batch copy: on SQLite and
PostgreSQL it changes the table's definition without rewriting its rows, and ``cost_point`` is
the big table.
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cost_point",
                  sa.Column("hours", sa.Integer(), server_default="1", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("cost_point") as batch:
        batch.drop_column("hours")
