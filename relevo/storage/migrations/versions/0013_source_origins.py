"""allowed origins of browser sources (CORS)

Revision ID: 0013
Revises: 0011

Browser sources that exist already allow every origin (`*`), as they did before origins were
checked, so a shop's pages keep working through the upgrade; a source created from now on
allows none until they are set (`relevo source origins`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("allowed_origins", sa.JSON(), nullable=True))
    op.execute("UPDATE sources SET allowed_origins = '[\"*\"]' WHERE kind = 'browser'")


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("allowed_origins")
