"""experience exposure counters and refused decision tokens

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experience_exposures",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("visitor", sa.String(length=64), nullable=False),
        sa.Column("experience_id", sa.String(length=64), nullable=False),
        sa.Column("lifetime", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("day_count", sa.Integer(), nullable=False),
        sa.Column("session_key", sa.BigInteger(), nullable=False),
        sa.Column("session_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "visitor", "experience_id"),
    )
    op.create_table(
        "decision_refusals",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("experience_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "experience_id", "reason"),
    )


def downgrade() -> None:
    op.drop_table("decision_refusals")
    op.drop_table("experience_exposures")
