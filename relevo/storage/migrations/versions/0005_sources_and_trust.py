"""sources with browser and server keys, workspace HMAC keys, claims, quarantine identities,
erasures and suppressions

Revision ID: 0005
Revises: 0004

Each existing workspace's write key becomes its browser source (it was public already), so
pages keep working; server-side clients get a server key with `relevo source create`.
"""

from __future__ import annotations

import hashlib
import secrets
import time

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    sources = op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_hint", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("rotated_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_sources_name"),
    )
    with op.batch_alter_table("workspaces") as batch:
        for column in ("identity_secret", "link_secret", "suppression_key"):
            batch.add_column(sa.Column(column, sa.String(length=64), nullable=True))

    conn = op.get_bind()
    now = int(time.time() * 1000)
    rows = conn.execute(sa.text("SELECT id, write_key FROM workspaces")).all()
    for workspace_id, _ in rows:
        conn.execute(
            sa.text(
                "UPDATE workspaces SET identity_secret = :i, link_secret = :l, "
                "suppression_key = :s WHERE id = :w"
            ),
            {
                "i": secrets.token_urlsafe(32),
                "l": secrets.token_urlsafe(32),
                "s": secrets.token_urlsafe(32),
                "w": workspace_id,
            },
        )
    if rows:
        op.bulk_insert(
            sources,
            [
                {
                    "workspace_id": workspace_id,
                    "name": "browser",
                    "kind": "browser",
                    "key_hash": hashlib.sha256(write_key.encode()).hexdigest(),
                    "key_hint": write_key[:12],
                    "public_key": write_key,
                    "created_at": now,
                }
                for workspace_id, write_key in rows
            ],
        )
    with op.batch_alter_table("workspaces") as batch:
        for column in ("identity_secret", "link_secret", "suppression_key"):
            batch.alter_column(column, existing_type=sa.String(length=64), nullable=False)
        batch.drop_column("write_key")

    op.create_index("ix_quarantine_received", "quarantine", ["received_at"])
    op.create_table(
        "quarantine_identities",
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("quarantine_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("value", "kind", "workspace_id", "quarantine_id"),
    )
    op.create_index("ix_quarantine_identities_row", "quarantine_identities", ["quarantine_id"])
    op.create_table(
        "claims",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("profile_id", "kind", "value", "reason", name="uq_claims"),
    )
    op.create_index("ix_claims_identity", "claims", ["value", "kind", "workspace_id"])
    op.create_table(
        "erasures",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.BigInteger(), nullable=False),
        sa.Column("erased_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_erasures_workspace", "erasures", ["workspace_id", "erased_at"])
    op.create_table(
        "suppressions",
        sa.Column("identity_hash", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("refused", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("identity_hash", "workspace_id"),
    )


def downgrade() -> None:
    for table in ("suppressions", "erasures", "claims", "quarantine_identities"):
        op.drop_table(table)
    op.drop_index("ix_quarantine_received", table_name="quarantine")
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(sa.Column("write_key", sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE workspaces SET write_key = (SELECT public_key FROM sources WHERE "
        "sources.workspace_id = workspaces.id AND kind = 'browser' ORDER BY id LIMIT 1)"
    )
    with op.batch_alter_table("workspaces") as batch:
        for column in ("identity_secret", "link_secret", "suppression_key"):
            batch.drop_column(column)
    op.drop_table("sources")
