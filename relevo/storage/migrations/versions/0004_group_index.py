"""partial expression index of group calls by groupId (account profiles)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


# The groupId as text, exactly as relevo/storage/account_store.py queries it.
GROUP_ID_SQL = {
    "sqlite": "CAST(json_extract(payload, '$.groupId') AS TEXT)",
    "postgresql": "payload ->> 'groupId'",
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute(
        f"CREATE INDEX ix_events_group ON events (workspace_id, ({GROUP_ID_SQL[dialect]})) "
        "WHERE type = 'group'"
    )


def downgrade() -> None:
    op.drop_index("ix_events_group", table_name="events")
