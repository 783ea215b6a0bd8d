"""Accounts (Segment `group` calls): the calls naming a group, and what its members are.

Membership is read from the event log through a partial expression index (migration 0004), so
merges (which move events to the survivor) and GDPR erasure (which deletes them) need nothing
of their own here. Only trusted calls (a server or secret key) make a member: a public key's
group call is a claim.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text

from relevo.identity.identities import EMAIL, USER_ID
from relevo.profiles.accounts import GroupCall, Member
from relevo.storage import schema as t
from relevo.storage.database import Database

# The groupId of a stored message as text (it may have been sent as a number); the index of
# migration 0004 is on exactly this expression.
GROUP_ID_SQL = {
    "sqlite": "CAST(json_extract(payload, '$.groupId') AS TEXT)",
    "postgresql": "payload ->> 'groupId'",
}


class AccountStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def group_calls(self, workspace_id: int, group_id: str, limit: int) -> list[GroupCall]:
        """The latest ``limit`` calls naming the group, in time order."""
        expression = GROUP_ID_SQL["sqlite" if self.db.is_sqlite else "postgresql"]
        query = text(
            "SELECT profile_id, timestamp, seq, payload FROM events "
            f"WHERE workspace_id = :w AND type = 'group' AND ({expression}) = :g AND trusted "
            "ORDER BY timestamp DESC, seq DESC LIMIT :n"
        ).columns(t.events.c.profile_id, t.events.c.timestamp, t.events.c.seq, t.events.c.payload)
        with self.db.read() as conn:
            rows = conn.execute(query, {"w": workspace_id, "g": group_id, "n": limit}).all()
        return [GroupCall(r[0], r[1], r[2], r[3]) for r in reversed(rows)]

    def members(self, workspace_id: int, profile_ids: list[int]) -> list[Member]:
        if not profile_ids:
            return []
        p, i = t.profiles.c, t.identities.c
        with self.db.read() as conn:
            computed = dict(
                conn.execute(
                    select(p.id, p.computed).where(
                        p.workspace_id == workspace_id, p.id.in_(profile_ids)
                    )
                ).all()
            )
            names: dict[int, dict[str, Any]] = {}
            for profile, kind, value in conn.execute(
                select(i.profile_id, i.kind, i.value)
                .where(i.profile_id.in_(profile_ids), i.kind.in_((USER_ID, EMAIL)))
                .order_by(i.created_at)
            ):
                names.setdefault(profile, {}).setdefault(kind, value)
        return [
            Member(pid, names.get(pid, {}).get(USER_ID), names.get(pid, {}).get(EMAIL), state)
            for pid, state in computed.items()
        ]
