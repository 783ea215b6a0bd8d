"""Everything stored about one person: lookups by identity, timeline, merges, GDPR export and
erase. A person is a surviving profile plus the profiles merged into it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select

from relevo.identity.identities import ANONYMOUS_ID, EMAIL, USER_ID, Identity
from relevo.profiles.records import Person
from relevo.storage import schema as t
from relevo.storage.database import Database


class PersonStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def find(self, workspace_id: int, identity: Identity) -> Person | None:
        with self.db.read() as conn:
            return self._find(conn, workspace_id, identity)

    def _find(self, conn: Connection, workspace_id: int, identity: Identity) -> Person | None:
        c = t.identities.c
        profile_id = conn.execute(
            select(c.profile_id).where(
                c.workspace_id == workspace_id, c.kind == identity[0], c.value == identity[1]
            )
        ).scalar()
        if profile_id is None:
            return None
        p = t.profiles.c
        row = conn.execute(
            select(
                p.id,
                p.workspace_id,
                p.created_at,
                p.updated_at,
                p.traits,
                p.computed,
                p.merged_into,
            ).where(p.id == profile_id)
        ).first()
        if row is None:
            return None
        merged = [r[0] for r in conn.execute(select(p.id).where(p.merged_into == row.id))]
        identities = [
            {"kind": k, "value": v, "first_seen_ms": created}
            for k, v, created in conn.execute(
                select(c.kind, c.value, c.created_at)
                .where(c.profile_id == row.id)
                .order_by(c.created_at, c.kind, c.value)
            )
        ]
        return Person(
            row.id,
            row.workspace_id,
            row.created_at,
            row.updated_at,
            row.traits,
            row.computed,
            merged,
            identities,
        )

    def events(
        self,
        person: Person,
        limit: int,
        before: tuple[int, int] | None = None,
        name: str | None = None,
        since_ms: int | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first; ``before`` is the (timestamp, seq) of the last item of the prior page."""
        c = t.events.c
        query = select(
            c.seq, c.timestamp, c.type, c.event, c.message_id, c.received_at, c.payload
        ).where(c.profile_id.in_(person.all_ids))
        if before is not None:
            query = query.where(
                or_(c.timestamp < before[0], and_(c.timestamp == before[0], c.seq < before[1]))
            )
        if name is not None:
            query = query.where(c.event == name)
        if since_ms is not None:
            query = query.where(c.timestamp >= since_ms)
        query = query.order_by(c.timestamp.desc(), c.seq.desc()).limit(limit)
        with self.db.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def merges(self, person: Person) -> list[dict[str, Any]]:
        m = t.merges.c
        ids = person.all_ids
        with self.db.read() as conn:
            rows = conn.execute(
                select(
                    m.survivor_id,
                    m.merged_id,
                    m.status,
                    m.reason,
                    m.identities,
                    m.message_id,
                    m.created_at,
                )
                .where(or_(m.survivor_id.in_(ids), m.merged_id.in_(ids)))
                .order_by(m.created_at, m.id)
            )
            return [dict(r._mapping) for r in rows]

    def trait_history(self, person: Person) -> list[dict[str, Any]]:
        c = t.trait_changes.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(c.trait, c.old_value, c.new_value, c.timestamp, c.message_id)
                .where(c.profile_id.in_(person.all_ids))
                .order_by(c.timestamp, c.id)
            )
            return [dict(r._mapping) for r in rows]

    def _quarantine_condition(self, person: Person) -> Any:
        q = t.quarantine.c
        values = {
            k: [i["value"] for i in person.identities if i["kind"] == k]
            for k in (ANONYMOUS_ID, USER_ID, EMAIL)
        }
        return and_(
            q.workspace_id == person.workspace_id,
            or_(
                q.anonymous_id.in_(values[ANONYMOUS_ID]),
                q.user_id.in_(values[USER_ID]),
                q.email.in_(values[EMAIL]),
            ),
        )

    def quarantined(self, person: Person) -> list[dict[str, Any]]:
        q = t.quarantine.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(q.received_at, q.source, q.position, q.reason, q.payload)
                .where(self._quarantine_condition(person))
                .order_by(q.received_at, q.id)
            )
            return [dict(r._mapping) for r in rows]

    def erase(self, workspace_id: int, identity: Identity) -> dict[str, int]:
        """Delete the person and everything stored about them, in one transaction."""
        counts = {
            "profiles": 0,
            "identities": 0,
            "events": 0,
            "trait_changes": 0,
            "merges": 0,
            "quarantined_messages": 0,
        }
        with self.db.write() as conn:
            self.db.lock_ingest(conn)  # no new event can attach to the person meanwhile
            person = self._find(conn, workspace_id, identity)
            if person is None:
                return counts
            ids = person.all_ids
            counts["quarantined_messages"] = conn.execute(
                delete(t.quarantine).where(self._quarantine_condition(person))
            ).rowcount
            counts["events"] = conn.execute(
                delete(t.events).where(t.events.c.profile_id.in_(ids))
            ).rowcount
            counts["identities"] = conn.execute(
                delete(t.identities).where(t.identities.c.profile_id.in_(ids))
            ).rowcount
            counts["trait_changes"] = conn.execute(
                delete(t.trait_changes).where(t.trait_changes.c.profile_id.in_(ids))
            ).rowcount
            m = t.merges.c
            counts["merges"] = conn.execute(
                delete(t.merges).where(or_(m.survivor_id.in_(ids), m.merged_id.in_(ids)))
            ).rowcount
            counts["profiles"] = conn.execute(
                delete(t.profiles).where(t.profiles.c.id.in_(ids))
            ).rowcount
        return counts
