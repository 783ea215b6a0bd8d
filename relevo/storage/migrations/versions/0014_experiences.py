"""experiences: placements, experiences and the errors decisions met trying them

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "placements",
        sa.Column("workspace_id", sa.Integer(), primary_key=True),
        sa.Column("placement_id", sa.String(64), primary_key=True),
        sa.Column("definition", _JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "experiences",
        sa.Column("workspace_id", sa.Integer(), primary_key=True),
        sa.Column("experience_id", sa.String(64), primary_key=True),
        sa.Column("placement_id", sa.String(64), nullable=False),
        sa.Column("audience_id", sa.String(64), nullable=True),
        sa.Column("definition", _JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_experiences_placement", "experiences", ["workspace_id", "placement_id"])
    op.create_index("ix_experiences_audience", "experiences", ["workspace_id", "audience_id"])
    op.create_table(
        "experience_errors",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("experience_id", sa.String(64), nullable=False),
        sa.Column("variant_id", sa.String(64), nullable=True),
        sa.Column("placement_id", sa.String(64), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_experience_errors", "experience_errors", ["workspace_id", "experience_id", "id"]
    )


def downgrade() -> None:
    op.drop_table("experience_errors")
    op.drop_table("experiences")
    op.drop_table("placements")
