"""partial index of profiles awaiting a rebuild

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_profiles_awaiting_rebuild",
        "profiles",
        ["id"],
        sqlite_where=sa.text("rebuild_gen > built_gen"),
        postgresql_where=sa.text("rebuild_gen > built_gen"),
    )


def downgrade() -> None:
    op.drop_index("ix_profiles_awaiting_rebuild", table_name="profiles")
