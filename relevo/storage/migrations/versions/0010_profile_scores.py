"""profile scores: each customer's automatic segment, propensity and lifetime value

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "profile_scores",
        sa.Column("profile_id", sa.BigInteger(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("segment_id", sa.String(length=20), nullable=True),
        sa.Column("segment_label", sa.String(length=200), nullable=True),
        sa.Column("purchase_30d", sa.Float(), nullable=True),
        sa.Column("churn_90d", sa.Float(), nullable=True),
        sa.Column("clv_next_12m", sa.Float(), nullable=True),
        sa.Column("computed_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("profile_id"),
    )
    op.create_index("ix_profile_scores_workspace", "profile_scores", ["workspace_id", "segment_id"])


def downgrade() -> None:
    op.drop_index("ix_profile_scores_workspace", table_name="profile_scores")
    op.drop_table("profile_scores")
