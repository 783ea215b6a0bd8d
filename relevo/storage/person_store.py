"""Everything stored about one person: lookups by identity, timeline, merges, GDPR export and
erase. A person is a surviving profile plus the profiles merged into it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Select, and_, or_, select, tuple_

from relevo.identity.identities import ANONYMOUS_ID, EMAIL, USER_ID, Identity
from relevo.profiles.records import Person
from relevo.storage import schema as t
from relevo.storage.database import Database

MAX_CLAIMS_SHOWN = 50


class PersonStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def find(self, workspace_id: int, identity: Identity) -> Person | None:
        with self.db.read() as conn:
            return self.find_in(conn, workspace_id, identity)

    def find_in(self, conn: Connection, workspace_id: int, identity: Identity) -> Person | None:
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
        cl = t.claims.c
        claims = [
            {"kind": k, "value": v, "reason": r, "message_id": m, "first_seen_ms": created}
            for k, v, r, m, created in conn.execute(
                select(cl.kind, cl.value, cl.reason, cl.message_id, cl.created_at)
                .where(cl.profile_id == row.id)
                .order_by(cl.created_at.desc(), cl.id.desc())
                .limit(MAX_CLAIMS_SHOWN)
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
            claims,
        )

    def profile_ids(self, workspace_id: int, identities: list[Identity]) -> dict[Identity, int]:
        """The (surviving) profile of each identity that has one."""
        c = t.identities.c
        by_kind: dict[str, list[str]] = {}
        for kind, value in identities:
            by_kind.setdefault(kind, []).append(value)
        found: dict[Identity, int] = {}
        with self.db.read() as conn:
            for kind, values in by_kind.items():
                for start in range(0, len(values), 500):
                    rows = conn.execute(
                        select(c.value, c.profile_id).where(
                            c.workspace_id == workspace_id,
                            c.kind == kind,
                            c.value.in_(values[start : start + 500]),
                        )
                    )
                    found.update(((kind, value), profile) for value, profile in rows)
        return found

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

    def merges(
        self, person: Person, limit: int, after_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Oldest first, ``limit`` at a time; ``after_id`` is the previous page's last id."""
        m = t.merges.c
        ids = person.all_ids
        query = select(
            m.id,
            m.survivor_id,
            m.merged_id,
            m.status,
            m.reason,
            m.identities,
            m.message_id,
            m.created_at,
        ).where(or_(m.survivor_id.in_(ids), m.merged_id.in_(ids)))
        if after_id is not None:
            query = query.where(m.id > after_id)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(m.id).limit(limit))
            return [dict(r._mapping) for r in rows]

    def trait_history(
        self, person: Person, limit: int, after: tuple[int, int] | None = None
    ) -> list[dict[str, Any]]:
        """In time order, ``limit`` at a time; ``after`` is the last (timestamp, id) seen."""
        c = t.trait_changes.c
        query = select(c.id, c.trait, c.old_value, c.new_value, c.timestamp, c.message_id).where(
            c.profile_id.in_(person.all_ids)
        )
        if after is not None:
            query = query.where(
                or_(c.timestamp > after[0], and_(c.timestamp == after[0], c.id > after[1]))
            )
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(c.timestamp, c.id).limit(limit))
            return [dict(r._mapping) for r in rows]

    # -- the whole person: export and erasure ----------------------------------------------
    def person_profiles(self, conn: Connection, person: Person) -> list[int]:
        """The person's profiles: the surviving one, those merged into it, and the profiles
        split off when a message of theirs went over the anonymous-id limit (the refusal
        record links them; they are the same person), followed transitively."""
        p, m = t.profiles.c, t.merges.c
        found = set(person.all_ids)
        frontier = set(found)
        while frontier:
            linked = conn.execute(
                select(m.survivor_id, m.merged_id).where(
                    m.status == "refused",
                    m.reason == "anonymous_id_limit",
                    or_(m.survivor_id.in_(frontier), m.merged_id.in_(frontier)),
                )
            ).all()
            candidates = {pid for row in linked for pid in row} - found
            if candidates:
                candidates |= {
                    r[0]
                    for r in conn.execute(
                        select(p.id).where(or_(p.merged_into.in_(candidates), p.id.in_(candidates)))
                    )
                }
            frontier = candidates - found
            found |= frontier
        existing = conn.execute(select(p.id).where(p.id.in_(found))).scalars()
        return sorted(existing)

    @staticmethod
    def identities_of(conn: Connection, profile_ids: list[int]) -> list[Identity]:
        c = t.identities.c
        rows = conn.execute(select(c.kind, c.value).where(c.profile_id.in_(profile_ids)))
        return [(kind, value) for kind, value in rows]

    @staticmethod
    def quarantine_ids(
        conn: Connection, workspace_id: int, identities: list[Identity]
    ) -> list[int]:
        """Quarantined messages naming any of the identities (any kind: an index of every
        identity a quarantined message names; plus the columns rows from before it had)."""
        if not identities:
            return []
        qi, q = t.quarantine_identities.c, t.quarantine.c
        found = set()
        for start in range(0, len(identities), 200):
            part = identities[start : start + 200]
            found |= set(
                conn.execute(
                    select(qi.quarantine_id).where(
                        qi.workspace_id == workspace_id, tuple_(qi.kind, qi.value).in_(part)
                    )
                ).scalars()
            )
            values = {
                k: [v for kind, v in part if kind == k] for k in (ANONYMOUS_ID, USER_ID, EMAIL)
            }
            found |= set(
                conn.execute(
                    select(q.id).where(
                        q.workspace_id == workspace_id,
                        or_(
                            q.anonymous_id.in_(values[ANONYMOUS_ID]),
                            q.user_id.in_(values[USER_ID]),
                            q.email.in_(values[EMAIL]),
                        ),
                    )
                ).scalars()
            )
        return sorted(found)

    @staticmethod
    def claims_naming(
        conn: Connection, workspace_id: int, identities: list[Identity], own: list[int]
    ) -> list[tuple[int, int, str]]:
        """(claim id, profile id, message id) of claims other profiles made of these
        identities: the messages that named them are the person's data too."""
        c = t.claims.c
        found: list[tuple[int, int, str]] = []
        for start in range(0, len(identities), 200):
            part = identities[start : start + 200]
            found += [
                (r[0], r[1], r[2])
                for r in conn.execute(
                    select(c.id, c.profile_id, c.message_id).where(
                        c.workspace_id == workspace_id,
                        tuple_(c.kind, c.value).in_(part),
                        c.profile_id.not_in(own),
                    )
                )
            ]
        return found

    def export_records(self, person: Person) -> Iterator[tuple[str, dict[str, Any]]]:
        """Everything stored about the person, record by record, read in one snapshot and
        streamed (a person with millions of events is never held in memory)."""
        with self.db.read() as plain:
            # One snapshot for the whole export (SQLite's read transaction already is one).
            conn = (
                plain
                if self.db.is_sqlite
                else plain.execution_options(isolation_level="REPEATABLE READ")
            )
            yield from self._export(conn, person)

    def _export(self, conn: Connection, person: Person) -> Iterator[tuple[str, dict[str, Any]]]:
        with conn.begin():
            ids = self.person_profiles(conn, person)
            identities = self.identities_of(conn, ids)
            p, i, e, m = t.profiles.c, t.identities.c, t.events.c, t.merges.c
            tc, c, q = t.trait_changes.c, t.claims.c, t.quarantine.c
            naming = [
                claim
                for claim, _, _ in self.claims_naming(conn, person.workspace_id, identities, ids)
            ]
            quarantined = self.quarantine_ids(conn, person.workspace_id, identities)
            queries: list[tuple[str, Select[Any]]] = [
                (
                    "profile",
                    select(p.id, p.created_at, p.updated_at, p.traits, p.computed, p.merged_into)
                    .where(p.id.in_(ids))
                    .order_by(p.id),
                ),
                (
                    "identity",
                    select(i.kind, i.value, i.profile_id, i.created_at)
                    .where(i.profile_id.in_(ids))
                    .order_by(i.created_at, i.kind, i.value),
                ),
                (
                    "event",
                    select(e.seq, e.profile_id, e.type, e.event, e.message_id, e.timestamp)
                    .add_columns(e.received_at, e.payload)
                    .where(e.profile_id.in_(ids))
                    .order_by(e.timestamp, e.seq),
                ),
                (
                    "merge",
                    select(m.id, m.survivor_id, m.merged_id, m.status, m.reason, m.identities)
                    .add_columns(m.message_id, m.created_at)
                    .where(or_(m.survivor_id.in_(ids), m.merged_id.in_(ids)))
                    .order_by(m.id),
                ),
                (
                    "trait_change",
                    select(tc.profile_id, tc.trait, tc.old_value, tc.new_value, tc.timestamp)
                    .add_columns(tc.message_id)
                    .where(tc.profile_id.in_(ids))
                    .order_by(tc.timestamp, tc.id),
                ),
                (
                    "claim_made",
                    select(c.profile_id, c.kind, c.value, c.reason, c.message_id, c.created_at)
                    .where(c.profile_id.in_(ids))
                    .order_by(c.id),
                ),
            ]
            for start in range(0, len(naming), 500):
                queries.append(
                    (
                        "claim_naming_them",
                        select(c.profile_id, c.kind, c.value, c.reason, c.message_id)
                        .add_columns(c.created_at)
                        .where(c.id.in_(naming[start : start + 500]))
                        .order_by(c.id),
                    )
                )
            for start in range(0, len(quarantined), 500):
                queries.append(
                    (
                        "quarantined_message",
                        select(q.received_at, q.source, q.position, q.reason, q.payload)
                        .where(q.id.in_(quarantined[start : start + 500]))
                        .order_by(q.received_at, q.id),
                    )
                )
            stream = conn.execution_options(yield_per=1000)
            for kind, query in queries:
                for record in stream.execute(query):
                    yield kind, dict(record._mapping)
