"""initial tables

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "anomaly",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("phase", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("detected_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("resolved_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("expected_cost", sa.Float(), nullable=False),
        sa.Column("actual_cost", sa.Float(), nullable=False),
        sa.Column("impact_usd", sa.Float(), nullable=False),
        sa.Column("peak_hourly_usd", sa.Float(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("anomaly", schema=None) as batch_op:
        batch_op.create_index(
            "ix_anomaly_workload", ["project", "environment", "status"], unique=False
        )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("subject_type", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("subject_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "cost_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("billing_account_id", sa.Text(), nullable=False),
        sa.Column("sub_account_id", sa.Text(), nullable=False),
        sa.Column("sub_account_name", sa.Text(), nullable=False),
        sa.Column("service_name", sa.Text(), nullable=False),
        sa.Column("service_category", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("phase", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("cost_center", sa.Text(), nullable=False),
        sa.Column("charge_category", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("usage_unit", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "provider",
            "billing_account_id",
            "sub_account_id",
            "sub_account_name",
            "service_name",
            "service_category",
            "region",
            "project",
            "environment",
            "owner",
            "phase",
            "cost_center",
            "charge_category",
            "currency",
            "usage_unit",
            name="uq_cost_series_identity",
        ),
    )
    with op.batch_alter_table("cost_series", schema=None) as batch_op:
        batch_op.create_index("ix_cost_series_account", ["billing_account_id"], unique=False)
        batch_op.create_index("ix_cost_series_workload", ["project", "environment"], unique=False)

    op.create_table(
        "ingest_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("file_path", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("checksum", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("file_size", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_kept", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.Column("points_written", sa.Integer(), nullable=False),
        sa.Column("billing_periods", sa.JSON(), nullable=True),
        sa.Column("rejected_reasons", sa.JSON(), nullable=True),
        sa.Column("warnings", sa.JSON(), nullable=True),
        sa.Column("quarantine_path", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("superseded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ingest_run", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ingest_run_delivery_id"), ["delivery_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ingest_run_fingerprint"), ["fingerprint"], unique=False
        )

    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("anomaly_id", sa.Integer(), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("message_ref", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["anomaly_id"],
            ["anomaly.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_anomaly_id"), ["anomaly_id"], unique=False)

    op.create_table(
        "cost_point",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("ingest_run_id", sa.Integer(), nullable=False),
        sa.Column("hour", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("billing_period_start", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("billed_cost", sa.Float(), nullable=False),
        sa.Column("effective_cost", sa.Float(), nullable=False),
        sa.Column("usage_quantity", sa.Float(), nullable=False),
        sa.Column("line_items", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ingest_run_id"],
            ["ingest_run.id"],
        ),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["cost_series.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cost_point", schema=None) as batch_op:
        batch_op.create_index("ix_cost_point_series_hour", ["series_id", "hour"], unique=False)

    op.create_table(
        "playbook_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("anomaly_id", sa.Integer(), nullable=False),
        sa.Column("playbook", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("current_step", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=True),
        sa.Column("started_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("completed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["anomaly_id"],
            ["anomaly.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("playbook_run", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_playbook_run_anomaly_id"), ["anomaly_id"], unique=False
        )

    op.create_table(
        "runbook_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("service_name", sa.Text(), nullable=False),
        sa.Column("anomaly_id", sa.Integer(), nullable=True),
        sa.Column("root_cause", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("fix", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("prevention", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["anomaly_id"],
            ["anomaly.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("runbook_entry", schema=None) as batch_op:
        batch_op.create_index(
            "ix_runbook_workload", ["project", "environment", "service_name"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("runbook_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_runbook_workload")

    op.drop_table("runbook_entry")
    with op.batch_alter_table("playbook_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_playbook_run_anomaly_id"))

    op.drop_table("playbook_run")
    with op.batch_alter_table("cost_point", schema=None) as batch_op:
        batch_op.drop_index("ix_cost_point_series_hour")

    op.drop_table("cost_point")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_anomaly_id"))

    op.drop_table("alert")
    with op.batch_alter_table("ingest_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_run_fingerprint"))
        batch_op.drop_index(batch_op.f("ix_ingest_run_delivery_id"))

    op.drop_table("ingest_run")
    with op.batch_alter_table("cost_series", schema=None) as batch_op:
        batch_op.drop_index("ix_cost_series_workload")
        batch_op.drop_index("ix_cost_series_account")

    op.drop_table("cost_series")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
    with op.batch_alter_table("anomaly", schema=None) as batch_op:
        batch_op.drop_index("ix_anomaly_workload")

    op.drop_table("anomaly")
