"""Placements, experiences and the errors decisions met, in the database.

Definitions are stored as validated (relevo.experiences.model). Servers cache a workspace's
and look for changes with ``revision`` (relevo.storage.revisions: one indexed read per table).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, delete, func, select, update

from relevo.errors import ConflictError
from relevo.storage import schema as t
from relevo.storage.database import Database
from relevo.storage.revisions import next_stamp

MAX_PLACEMENTS = 500  # per workspace
MAX_EXPERIENCES = 1000  # per workspace: a decision considers those of its placements
MAX_ERRORS_KEPT = 200  # per experience, newest kept


class ExperienceStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- placements ----------------------------------------------------------------------------
    def placements(self, workspace_id: int) -> list[dict[str, Any]]:
        c = t.placements.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(c.definition).where(c.workspace_id == workspace_id).order_by(c.placement_id)
            ).scalars()
            return [dict(r) for r in rows]

    def save_placement(
        self, workspace_id: int, placement_id: str, definition: dict[str, Any], now_ms: int,
        *, create: bool, replace: bool,
    ) -> bool | None:  # fmt: skip
        """Insert (``create``) and/or update (``replace``); True: created, False: replaced,
        None: neither allowed (it exists and only create was asked, or the reverse)."""
        return self._save(
            t.placements, "placement_id", MAX_PLACEMENTS, workspace_id, placement_id,
            {"definition": definition}, now_ms, create, replace,
        )  # fmt: skip

    def delete_placement(self, workspace_id: int, placement_id: str) -> bool:
        return self._delete(t.placements, t.placements.c.placement_id, workspace_id, placement_id)

    # -- experiences ---------------------------------------------------------------------------
    def experiences(self, workspace_id: int) -> list[dict[str, Any]]:
        c = t.experiences.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(c.definition).where(c.workspace_id == workspace_id).order_by(c.experience_id)
            ).scalars()
            return [dict(r) for r in rows]

    def experience(self, workspace_id: int, experience_id: str) -> dict[str, Any] | None:
        c = t.experiences.c
        with self.db.read() as conn:
            found = conn.execute(
                select(c.definition).where(
                    c.workspace_id == workspace_id, c.experience_id == experience_id
                )
            ).scalar_one_or_none()
        return None if found is None else dict(found)

    def save_experience(
        self, workspace_id: int, experience_id: str, definition: dict[str, Any], now_ms: int,
        *, create: bool, replace: bool,
    ) -> bool | None:  # fmt: skip
        values = {
            "definition": definition,
            "placement_id": definition["placement"],
            "audience_id": definition.get("audience"),
        }
        return self._save(
            t.experiences, "experience_id", MAX_EXPERIENCES, workspace_id, experience_id,
            values, now_ms, create, replace,
        )  # fmt: skip

    def delete_experience(self, workspace_id: int, experience_id: str) -> bool:
        c = t.experiences.c
        return self._delete(t.experiences, c.experience_id, workspace_id, experience_id)

    def revision(self, workspace_id: int) -> tuple[int, int, int, int]:
        """(placements, their latest update, experiences, theirs): changes with any save."""
        found: list[int] = []
        with self.db.read() as conn:
            for table in (t.placements, t.experiences):
                count, latest = conn.execute(
                    select(func.count(), func.max(table.c.updated_at)).where(
                        table.c.workspace_id == workspace_id
                    )
                ).one()
                found += [int(count), int(latest or 0)]
        return found[0], found[1], found[2], found[3]

    # -- errors --------------------------------------------------------------------------------
    def record_error(
        self, workspace_id: int, experience_id: str, variant_id: str | None, placement_id: str,
        code: str, message: str, now_ms: int,
    ) -> None:  # fmt: skip
        """Keeps the newest MAX_ERRORS_KEPT of the experience (the oldest go, amortised)."""
        e = t.experience_errors.c
        with self.db.write() as conn:
            conn.execute(
                t.experience_errors.insert().values(
                    workspace_id=workspace_id,
                    experience_id=experience_id,
                    variant_id=variant_id,
                    placement_id=placement_id,
                    code=code[:64],
                    message=message[:2000],
                    created_at=now_ms,
                )
            )
            mine = (e.workspace_id == workspace_id, e.experience_id == experience_id)
            count = conn.execute(select(func.count()).where(*mine)).scalar_one()
            if count > MAX_ERRORS_KEPT * 1.25:
                keep_from = conn.execute(
                    select(e.id).where(*mine).order_by(e.id.desc()).offset(MAX_ERRORS_KEPT - 1)
                ).scalars().first()  # fmt: skip
                if keep_from is not None:
                    conn.execute(delete(t.experience_errors).where(*mine, e.id < keep_from))

    def errors(
        self, workspace_id: int, experience_id: str, limit: int, before_id: int | None = None
    ) -> list[dict[str, Any]]:
        e = t.experience_errors.c
        query = select(e.id, e.variant_id, e.placement_id, e.code, e.message, e.created_at).where(
            e.workspace_id == workspace_id, e.experience_id == experience_id
        )
        if before_id is not None:
            query = query.where(e.id < before_id)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(e.id.desc()).limit(limit)).mappings()
            return [dict(r) for r in rows]

    def delete_errors(self, workspace_id: int, experience_id: str) -> None:
        e = t.experience_errors.c
        with self.db.write() as conn:
            conn.execute(
                delete(t.experience_errors).where(
                    e.workspace_id == workspace_id, e.experience_id == experience_id
                )
            )

    # -- shared --------------------------------------------------------------------------------
    def _save(
        self, table: Table, key: str, most: int, workspace_id: int, item_id: str,
        values: dict[str, Any], now_ms: int, create: bool, replace: bool,
    ) -> bool | None:  # fmt: skip
        c = table.c
        mine = (c.workspace_id == workspace_id, c[key] == item_id)
        with self.db.write() as conn:
            stamp = next_stamp(conn, table, workspace_id, now_ms)
            exists = conn.execute(select(c[key]).where(*mine)).first() is not None
            if exists:
                if not replace:
                    return None
                conn.execute(update(table).where(*mine).values(**values, updated_at=stamp))
                return False
            if not create:
                return None
            count = conn.execute(
                select(func.count()).where(c.workspace_id == workspace_id)
            ).scalar_one()
            if count >= most:
                raise ConflictError(
                    f"a workspace has at most {most} {table.name}; delete some first"
                )
            conn.execute(
                table.insert().values(
                    workspace_id=workspace_id,
                    **{key: item_id},
                    **values,
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
            return True

    def _delete(self, table: Table, column: Any, workspace_id: int, item_id: str) -> bool:
        with self.db.write() as conn:
            gone = conn.execute(
                delete(table).where(table.c.workspace_id == workspace_id, column == item_id)
            ).rowcount
        return bool(gone)
