"""Saved audiences, and the whole-workspace read of profiles that previews, members and exports
judge (one pass, in chunks of profile ids, so memory stays bounded at any size)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
from sqlalchemy import Text, cast, delete, insert, select, update

from relevo.audiences.records import ProfileChunkRow, StoredAudience
from relevo.errors import ConflictError
from relevo.identity.identities import ANONYMOUS_ID, EMAIL, USER_ID
from relevo.storage import schema as t
from relevo.storage.database import Database


def _now_ms() -> int:
    return int(time.time() * 1000)


class AudienceStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _row(self, row: Any) -> StoredAudience:
        return StoredAudience(
            row.audience_id,
            row.name,
            row.description,
            row.condition,
            row.created_at,
            row.updated_at,
        )

    def saved(self, workspace_id: int) -> list[StoredAudience]:
        a = t.audiences.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.audiences).where(a.workspace_id == workspace_id).order_by(a.audience_id)
            )
            return [self._row(r) for r in rows]

    def get(self, workspace_id: int, audience_id: str) -> StoredAudience | None:
        a = t.audiences.c
        with self.db.read() as conn:
            row = conn.execute(
                select(t.audiences).where(
                    a.workspace_id == workspace_id, a.audience_id == audience_id
                )
            ).first()
        return None if row is None else self._row(row)

    def create(
        self, workspace_id: int, audience_id: str, name: str, description: str, condition: Any
    ) -> StoredAudience:
        now = _now_ms()
        with self.db.write() as conn:
            a = t.audiences.c
            taken = conn.execute(
                select(a.audience_id).where(
                    a.workspace_id == workspace_id, a.audience_id == audience_id
                )
            ).first()
            if taken is not None:
                raise ConflictError(f"an audience with id {audience_id!r} exists; PUT changes it")
            conn.execute(
                insert(t.audiences).values(
                    workspace_id=workspace_id,
                    audience_id=audience_id,
                    name=name,
                    description=description,
                    condition=condition,
                    created_at=now,
                    updated_at=now,
                )
            )
        return StoredAudience(audience_id, name, description, condition, now, now)

    def replace(
        self, workspace_id: int, audience_id: str, name: str, description: str, condition: Any
    ) -> StoredAudience | None:
        a = t.audiences.c
        now = _now_ms()
        with self.db.write() as conn:
            changed = conn.execute(
                update(t.audiences)
                .where(a.workspace_id == workspace_id, a.audience_id == audience_id)
                .values(name=name, description=description, condition=condition, updated_at=now)
            ).rowcount
        return self.get(workspace_id, audience_id) if changed else None

    def delete(self, workspace_id: int, audience_id: str) -> bool:
        a = t.audiences.c
        with self.db.write() as conn:
            return bool(
                conn.execute(
                    delete(t.audiences).where(
                        a.workspace_id == workspace_id, a.audience_id == audience_id
                    )
                ).rowcount
            )

    def profile(self, workspace_id: int, profile_id: int) -> ProfileChunkRow | None:
        """One surviving profile (a merged one answers None: the survivor holds the person)."""
        p = t.profiles.c
        with self.db.read() as conn:
            row = conn.execute(
                select(p.id, cast(p.traits, Text), cast(p.computed, Text)).where(
                    p.id == profile_id, p.workspace_id == workspace_id, p.merged_into.is_(None)
                )
            ).first()
        return (
            None
            if row is None
            else ProfileChunkRow(row[0], orjson.loads(row[1]), orjson.loads(row[2]))
        )

    # -- the whole workspace, for the vectorised interpreter -------------------------------
    def profile_chunks(
        self, workspace_id: int, after_id: int = 0, chunk: int = 5000
    ) -> Iterator[list[ProfileChunkRow]]:
        """Surviving profiles in id order, ``chunk`` at a time, from ``after_id`` on. The JSON
        is read as text and parsed here with orjson (the driver's own decoding is slower)."""
        p = t.profiles.c
        while True:
            query = (
                select(p.id, cast(p.traits, Text), cast(p.computed, Text))
                .where(p.workspace_id == workspace_id, p.merged_into.is_(None), p.id > after_id)
                .order_by(p.id)
                .limit(chunk)
            )
            with self.db.read() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            yield [ProfileChunkRow(r[0], orjson.loads(r[1]), orjson.loads(r[2])) for r in rows]
            if len(rows) < chunk:
                return
            after_id = rows[-1][0]

    def identities(self, profile_ids: list[int]) -> dict[int, dict[str, str]]:
        """For each profile, its first user id, e-mail and anonymous id (for listing members)."""
        found: dict[int, dict[str, str]] = {}
        i = t.identities.c
        with self.db.read() as conn:
            for start in range(0, len(profile_ids), 500):
                rows = conn.execute(
                    select(i.profile_id, i.kind, i.value)
                    .where(
                        i.profile_id.in_(profile_ids[start : start + 500]),
                        i.kind.in_((USER_ID, EMAIL, ANONYMOUS_ID)),
                    )
                    .order_by(i.created_at, i.value)
                )
                for profile, kind, value in rows:
                    found.setdefault(profile, {}).setdefault(kind, value)
        return found
