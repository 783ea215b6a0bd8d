"""audiences: saved audiences, who is in them (for Entered/Exited), webhook deliveries, the
audience job's lease

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audiences",
        sa.Column("workspace_id", sa.Integer(), primary_key=True),
        sa.Column("audience_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("condition", _JSON, nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("webhook_secret", sa.String(80), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "audience_members",
        sa.Column("workspace_id", sa.Integer(), primary_key=True),
        sa.Column("audience_id", sa.String(64), primary_key=True),
        sa.Column("profile_id", sa.BigInteger(), primary_key=True),
        sa.Column("entered_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_audience_members_profile", "audience_members", ["profile_id"])
    lease = op.create_table(
        "audience_job_lease",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("until", sa.BigInteger(), nullable=False),
        sa.Column("judged_until", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(lease, [{"id": 1, "owner": "", "until": 0, "judged_until": 0}])
    op.create_table(
        "audience_deliveries",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("audience_id", sa.String(64), nullable=False),
        sa.Column("profile_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
    )
    op.create_index(
        "ix_audience_deliveries_due", "audience_deliveries", ["status", "next_attempt_at"]
    )
    op.create_index(
        "ix_audience_deliveries_audience",
        "audience_deliveries",
        ["workspace_id", "audience_id", "id"],
    )
    op.create_index("ix_audience_deliveries_profile", "audience_deliveries", ["profile_id"])


def downgrade() -> None:
    op.drop_table("audience_deliveries")
    op.drop_table("audience_job_lease")
    op.drop_table("audience_members")
    op.drop_table("audiences")
