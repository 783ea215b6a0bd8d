"""B2B account assortments and price lists

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "account_assortments",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(length=255), nullable=False),
        sa.Column("product_ids", _json(), nullable=False),
        sa.Column("categories", _json(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "group_id"),
    )
    op.create_table(
        "account_prices",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(length=255), nullable=False),
        sa.Column("product_id", sa.String(length=255), nullable=False),
        sa.Column("price", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "group_id", "product_id"),
    )
    op.create_index("ix_account_prices_updated", "account_prices", ["workspace_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_account_prices_updated", table_name="account_prices")
    op.drop_table("account_prices")
    op.drop_table("account_assortments")
