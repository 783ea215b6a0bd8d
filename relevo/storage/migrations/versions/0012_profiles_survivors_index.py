"""partial index of a workspace's surviving profiles in id order (whole-workspace reads)

Revision ID: 0012
Revises: 0011 when it exists, else 0010
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0012"
# 0011 is reserved for other work in progress: this revision follows it once it exists.
down_revision = "0011" if any(Path(__file__).parent.glob("0011_*.py")) else "0010"
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
