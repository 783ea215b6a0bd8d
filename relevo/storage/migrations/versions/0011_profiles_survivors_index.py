"""partial index of a workspace's surviving profiles in id order (whole-workspace reads)

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_profiles_workspace_survivors",
        "profiles",
        ["workspace_id", "id"],
        sqlite_where=sa.text("merged_into IS NULL"),
        postgresql_where=sa.text("merged_into IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_profiles_workspace_survivors", table_name="profiles")
