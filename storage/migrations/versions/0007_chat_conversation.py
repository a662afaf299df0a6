"""chat conversations

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

Teams posts need the address each conversation was reached at (its service URL), which is
only known from the install or from an activity that came from it: ``chat_conversation``
keeps it per platform and conversation.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_conversation",
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("conversation_id", sa.String(length=400), nullable=False),
        sa.Column("service_url", sa.String(length=400), nullable=False),
        sa.Column("tenant_id", sa.String(length=100), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=True),
        sa.Column("name", sa.String(length=400), nullable=True),
        sa.Column("team_id", sa.String(length=400), nullable=True),
        sa.Column("installed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("removed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "conversation_id"),
    )


def downgrade() -> None:
    op.drop_table("chat_conversation")
