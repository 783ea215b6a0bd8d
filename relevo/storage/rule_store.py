"""Merchandising rules in the database: one row per rule, its definition as saved.

Servers cache a workspace's rules and look for changes with `revision` (one indexed read):
`updated_at` rises strictly within a workspace, so (count, latest update) changes whenever a
rule is created, replaced or deleted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update

from relevo.errors import ConflictError, NotFound
from relevo.storage import schema as t
from relevo.storage.database import Database
from relevo.storage.revisions import next_stamp

MAX_RULES = 500  # per workspace: every request considers all of them


class RuleStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, workspace_id: int, rule_id: str, definition: dict[str, Any],
               audience_id: str | None, now_ms: int) -> None:  # fmt: skip
        c = t.merchandising_rules.c
        with self.db.write() as conn:
            exists = conn.execute(
                select(c.rule_id).where(c.workspace_id == workspace_id, c.rule_id == rule_id)
            ).first()
            if exists is not None:
                raise ConflictError(f"rule {rule_id!r} exists; PUT /v1/rules/{rule_id} replaces it")
            count = conn.execute(
                select(func.count()).where(c.workspace_id == workspace_id)
            ).scalar_one()
            if count >= MAX_RULES:
                raise ConflictError(f"a workspace has at most {MAX_RULES} rules; delete some first")
            stamp = next_stamp(conn, t.merchandising_rules, workspace_id, now_ms)
            conn.execute(
                t.merchandising_rules.insert().values(
                    workspace_id=workspace_id,
                    rule_id=rule_id,
                    definition=definition,
                    audience_id=audience_id,
                    created_at=stamp,
                    updated_at=stamp,
                )
            )

    def replace(self, workspace_id: int, rule_id: str, definition: dict[str, Any],
                audience_id: str | None, now_ms: int) -> None:  # fmt: skip
        c = t.merchandising_rules.c
        with self.db.write() as conn:
            stamp = next_stamp(conn, t.merchandising_rules, workspace_id, now_ms)
            changed = conn.execute(
                update(t.merchandising_rules)
                .where(c.workspace_id == workspace_id, c.rule_id == rule_id)
                .values(definition=definition, audience_id=audience_id, updated_at=stamp)
            ).rowcount
        if not changed:
            raise NotFound(f"no rule {rule_id!r} in this workspace (POST /v1/rules creates one)")

    def delete(self, workspace_id: int, rule_id: str) -> None:
        c = t.merchandising_rules.c
        with self.db.write() as conn:
            gone = conn.execute(
                delete(t.merchandising_rules).where(
                    c.workspace_id == workspace_id, c.rule_id == rule_id
                )
            ).rowcount
        if not gone:
            raise NotFound(f"no rule {rule_id!r} in this workspace")

    def get(self, workspace_id: int, rule_id: str) -> dict[str, Any] | None:
        c = t.merchandising_rules.c
        with self.db.read() as conn:
            row = conn.execute(
                select(c.definition, c.created_at, c.updated_at).where(
                    c.workspace_id == workspace_id, c.rule_id == rule_id
                )
            ).first()
        return None if row is None else _view(row)

    def all(self, workspace_id: int) -> list[dict[str, Any]]:
        c = t.merchandising_rules.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(c.definition, c.created_at, c.updated_at)
                .where(c.workspace_id == workspace_id)
                .order_by(c.rule_id)
            ).all()
        return [_view(r) for r in rows]

    def definitions(self, workspace_id: int) -> list[dict[str, Any]]:
        c = t.merchandising_rules.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(c.definition).where(c.workspace_id == workspace_id).order_by(c.rule_id)
            ).scalars()
            return [dict(d) for d in rows]

    def revision(self, workspace_id: int) -> tuple[int, int]:
        """(rules, latest update): changes whenever the workspace's rules change."""
        c = t.merchandising_rules.c
        with self.db.read() as conn:
            count, latest = conn.execute(
                select(func.count(), func.max(c.updated_at)).where(c.workspace_id == workspace_id)
            ).one()
        return int(count), int(latest or 0)

    def rules_using_audience(self, workspace_id: int, audience_id: str) -> list[str]:
        """Ids of the rules that apply only to this audience: deleting it is refused while
        there are any."""
        c = t.merchandising_rules.c
        with self.db.read() as conn:
            return list(
                conn.execute(
                    select(c.rule_id)
                    .where(c.workspace_id == workspace_id, c.audience_id == audience_id)
                    .order_by(c.rule_id)
                ).scalars()
            )


def _view(row: Any) -> dict[str, Any]:
    return {**dict(row[0]), "created_at": row[1], "updated_at": row[2]}
