"""experiments and their sticky assignments

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("definition", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=True),
        sa.Column("stopped_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("workspace_id", "experiment_id"),
    )
    op.create_index("ix_experiments_subject", "experiments", ["workspace_id", "kind", "subject_id"])
    op.create_table(
        "experiment_assignments",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.String(length=64), nullable=False),
        sa.Column("profile_id", sa.BigInteger(), nullable=False),
        sa.Column("variation_id", sa.String(length=64), nullable=False),
        sa.Column("exposed_at", sa.BigInteger(), nullable=False),
        sa.Column("device", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("visitor_type", sa.String(length=16), nullable=True),
        sa.Column("segment", sa.String(length=64), nullable=True),
        sa.Column("audiences", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("workspace_id", "experiment_id", "profile_id"),
    )
    op.create_index(
        "ix_experiment_assignments_profile",
        "experiment_assignments",
        ["workspace_id", "profile_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_experiment_assignments_profile", table_name="experiment_assignments")
    op.drop_table("experiment_assignments")
    op.drop_index("ix_experiments_subject", table_name="experiments")
    op.drop_table("experiments")
