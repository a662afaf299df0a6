"""learning

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

What the team teaches the bot: runbook entries keep their earlier versions
(``runbook_revision``), planned spend suppresses alerts within its envelope (``plan``),
"not an anomaly" widens a line's normal (``line_feedback``), and deploys and config changes
are kept for "what changed" (``change_event``).
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

UTC_TIME = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("runbook_entry") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch.add_column(sa.Column("updated_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("updated_at", UTC_TIME(), nullable=True))
    op.create_table(
        "runbook_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("root_cause", sa.Text(), nullable=False),
        sa.Column("fix", sa.Text(), nullable=False),
        sa.Column("prevention", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("written_at", UTC_TIME(), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["runbook_entry.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id", "version", name="uq_runbook_revision"),
    )
    op.create_index("ix_runbook_revision_entry_id", "runbook_revision", ["entry_id"])
    op.create_table(
        "plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("service_name", sa.Text(), nullable=False),
        sa.Column("amount_usd", sa.Float(), nullable=False),
        sa.Column("starts_at", UTC_TIME(), nullable=False),
        sa.Column("ends_at", UTC_TIME(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC_TIME(), nullable=False),
        sa.Column("anomaly_id", sa.Integer(), nullable=True),
        sa.Column("removed_by", sa.String(length=100), nullable=True),
        sa.Column("removed_at", UTC_TIME(), nullable=True),
        sa.ForeignKeyConstraint(["anomaly_id"], ["anomaly.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_plan_workload", "plan", ["project", "environment", "ends_at"])
    op.create_table(
        "line_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("service_name", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("sku_id", sa.Text(), nullable=False),
        sa.Column("anomaly_id", sa.Integer(), nullable=True),
        sa.Column("level_usd", sa.Float(), nullable=False),
        sa.Column("baseline_usd", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC_TIME(), nullable=False),
        sa.Column("undone_by", sa.String(length=100), nullable=True),
        sa.Column("undone_at", UTC_TIME(), nullable=True),
        sa.ForeignKeyConstraint(["anomaly_id"], ["anomaly.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_line_feedback_line", "line_feedback",
                    ["project", "environment", "service_name"])
    op.create_table(
        "change_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("external_id", sa.String(length=400), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("service_name", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("at", UTC_TIME(), nullable=False),
        sa.Column("recorded_at", UTC_TIME(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "external_id", name="uq_change_event_source"),
    )
    op.create_index("ix_change_event_workload", "change_event",
                    ["project", "environment", "at"])


def downgrade() -> None:
    op.drop_index("ix_change_event_workload", table_name="change_event")
    op.drop_table("change_event")
    op.drop_index("ix_line_feedback_line", table_name="line_feedback")
    op.drop_table("line_feedback")
    op.drop_index("ix_plan_workload", table_name="plan")
    op.drop_table("plan")
    op.drop_index("ix_runbook_revision_entry_id", table_name="runbook_revision")
    op.drop_table("runbook_revision")
    with op.batch_alter_table("runbook_entry") as batch:
        batch.drop_column("updated_at")
        batch.drop_column("updated_by")
        batch.drop_column("version")
