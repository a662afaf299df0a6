"""cost_point's index covers the amounts

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30

The one index on ``cost_point`` becomes ``(series_id, hour, effective_cost, billed_cost)``:
every cost question sums one of those amounts over a range of hours per series, and with the
amounts in the index SQLite answers from the index alone instead of fetching each point's
row (``/cost top 10 30d`` over 1,000 lines reads 1.4 million points; about 1.8 times faster,
``bench/cost_query.py``). Bulk inserts cost about 3 % more per point. Still one index: the
new one is built before the old one is dropped, so a store is never left without it. On a
large store this rebuild takes a while (tens of seconds per ten million points) and holds
writes for that time.
"""

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cost_point_series_hour_cost", "cost_point",
                    ["series_id", "hour", "effective_cost", "billed_cost"])
    op.drop_index("ix_cost_point_series_hour", table_name="cost_point")


def downgrade() -> None:
    op.create_index("ix_cost_point_series_hour", "cost_point", ["series_id", "hour"])
    op.drop_index("ix_cost_point_series_hour_cost", table_name="cost_point")
