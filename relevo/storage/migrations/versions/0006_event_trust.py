"""events.trusted: whether a server or secret key sent the message (a public key's group call
is a claim, not a membership)

Revision ID: 0006
Revises: 0005

Messages stored before this revision keep true: until now every group call made a member.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column(
        "events", sa.Column("trusted", sa.Boolean(), nullable=False, server_default=sa.true())
    )


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("trusted")
