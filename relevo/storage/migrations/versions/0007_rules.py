"""merchandising rules

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "merchandising_rules",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column(
            "definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("audience_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "rule_id"),
    )
    op.create_index(
        "ix_merchandising_rules_audience", "merchandising_rules", ["workspace_id", "audience_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_merchandising_rules_audience", table_name="merchandising_rules")
    op.drop_table("merchandising_rules")
