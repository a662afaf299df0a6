"""cost series keep the SKU

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

A line of spend is now (service, region, SKU): a model switch or a new token kind shows as its
own line. Existing rows get "" (no SKU), which is what an export without SkuId gives too.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OLD = (
    "provider", "billing_account_id", "sub_account_id", "sub_account_name", "service_name",
    "service_category", "region", "project", "environment", "owner", "phase", "cost_center",
    "charge_category", "currency", "usage_unit",
)
NEW = OLD[:7] + ("sku_id",) + OLD[7:]


def upgrade() -> None:
    with op.batch_alter_table("cost_series") as batch:
        batch.add_column(sa.Column("sku_id", sa.Text(), nullable=False, server_default=""))
        batch.drop_constraint("uq_cost_series_identity", type_="unique")
        batch.create_unique_constraint("uq_cost_series_identity", list(NEW))


def downgrade() -> None:
    with op.batch_alter_table("cost_series") as batch:
        batch.drop_constraint("uq_cost_series_identity", type_="unique")
        batch.drop_column("sku_id")
        batch.create_unique_constraint("uq_cost_series_identity", list(OLD))
