"""GDPR erasure: a person and everything stored about them, in one transaction, and the
record of it that servers and training use to forget the person in trained models.

What goes: the person's profiles (the surviving one, those merged into it, those split off by
the anonymous-id limit), their identities, events, trait history, merge records and claims;
quarantined messages naming any of their identities; and messages of other visitors that
claimed one of their identities (the claimers' profiles are rebuilt without them). What stays:
an ``erasures`` row per erased profile id (an internal number, nothing personal) and, when
asked, a keyed hash of each identity so that later messages naming them are refused.
The audiences they were in, the webhook deliveries naming them and the experiments' variations
they were assigned go with their profiles.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import Connection, Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from relevo.identity.identities import Identity, suppression_hash
from relevo.profiles.records import Person
from relevo.storage import schema as t
from relevo.storage.database import Database
from relevo.storage.experiment_store import forget_assignments
from relevo.storage.person_store import PersonStore


@dataclass
class Erased:
    profile_ids: list[int] = field(default_factory=list)
    identities: list[Identity] = field(default_factory=list)  # those the profiles had
    deleted: dict[str, int] = field(default_factory=dict)
    suppressed: int = 0
    models_rewritten: int = 0


def _in_chunks(conn: Connection, table: Table, column: str, values: list[int] | list[str]) -> int:
    total = 0
    for start in range(0, len(values), 500):
        part = values[start : start + 500]
        total += conn.execute(delete(table).where(table.c[column].in_(part))).rowcount
    return total


class ErasureStore:
    def __init__(self, db: Database, people: PersonStore) -> None:
        self.db = db
        self.people = people

    def erase(self, workspace_id: int, identity: Identity, suppress: bool = False) -> Erased:
        now_ms = int(time.time() * 1000)
        result = Erased(
            deleted=dict.fromkeys(
                (
                    "profiles",
                    "identities",
                    "events",
                    "trait_changes",
                    "merges",
                    "claims",
                    "audience_memberships",
                    "audience_deliveries",
                    "quarantined_messages",
                    "messages_claiming_them",
                    "profile_scores",
                    "experiment_assignments",
                ),
                0,
            )
        )
        with self.db.write() as conn:
            self.db.lock_ingest(conn)  # no message can attach to the person meanwhile
            person = self.people.find_in(conn, workspace_id, identity)
            ids = [] if person is None else self.people.person_profiles(conn, person)
            identities = self.people.identities_of(conn, ids) if ids else []
            if suppress:
                result.suppressed = self._suppress(
                    conn, workspace_id, list(dict.fromkeys([identity, *identities])), now_ms
                )
            if not ids:
                return result
            self._delete(conn, workspace_id, person, ids, identities, result.deleted)
            conn.execute(
                t.erasures.insert(),
                [{"workspace_id": workspace_id, "profile_id": p, "erased_at": now_ms} for p in ids],
            )
        result.profile_ids = ids
        result.identities = identities
        return result

    def _delete(
        self,
        conn: Connection,
        workspace_id: int,
        person: Person | None,
        ids: list[int],
        identities: list[Identity],
        counts: dict[str, int],
    ) -> None:
        p = t.profiles.c
        # The profile rows go first, locked in id order: a materializer step saving them
        # either committed before (its trait changes are deleted below) or finds them gone.
        conn.execute(select(p.id).where(p.id.in_(ids)).order_by(p.id).with_for_update())
        counts["profiles"] = _in_chunks(conn, t.profiles, "id", ids)
        quarantined = self.people.quarantine_ids(conn, workspace_id, identities)
        counts["quarantined_messages"] = _in_chunks(conn, t.quarantine, "id", quarantined)
        _in_chunks(conn, t.quarantine_identities, "quarantine_id", quarantined)
        naming = self.people.claims_naming(conn, workspace_id, identities, ids)
        if naming:
            claimers = sorted({profile for _, profile, _ in naming})
            message_ids = sorted({message for _, _, message in naming})
            e = t.events.c
            for start in range(0, len(message_ids), 500):
                counts["messages_claiming_them"] += conn.execute(
                    delete(t.events).where(
                        e.workspace_id == workspace_id,
                        e.message_id.in_(message_ids[start : start + 500]),
                    )
                ).rowcount
            _in_chunks(conn, t.claims, "id", [claim for claim, _, _ in naming])
            conn.execute(  # rebuilt from their remaining events, traits included
                update(t.profiles).where(p.id.in_(claimers)).values(rebuild_gen=p.rebuild_gen + 1)
            )
        for name, table, column in (
            ("events", t.events, "profile_id"),
            ("identities", t.identities, "profile_id"),
            ("trait_changes", t.trait_changes, "profile_id"),
            ("claims", t.claims, "profile_id"),
            ("audience_memberships", t.audience_members, "profile_id"),
            ("audience_deliveries", t.audience_deliveries, "profile_id"),
            ("merges", t.merges, "survivor_id"),
            ("profile_scores", t.profile_scores, "profile_id"),
        ):
            counts[name] += _in_chunks(conn, table, column, ids)
        counts["merges"] += _in_chunks(conn, t.merges, "merged_id", ids)
        counts["experiment_assignments"] = forget_assignments(conn, workspace_id, ids)

    @staticmethod
    def _suppress(
        conn: Connection, workspace_id: int, identities: list[Identity], now_ms: int
    ) -> int:
        key = conn.execute(
            select(t.workspaces.c.suppression_key).where(t.workspaces.c.id == workspace_id)
        ).scalar_one()
        rows = [
            {
                "identity_hash": suppression_hash(key, identity),
                "workspace_id": workspace_id,
                "created_at": now_ms,
            }
            for identity in identities
        ]
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(dialect.insert(t.suppressions).on_conflict_do_nothing(), rows)
        return len(rows)

    def erased_after(self, last_id: int, limit: int = 1000) -> list[tuple[int, int, int]]:
        """(id, workspace id, profile id) of erasures recorded after ``last_id``: servers poll
        this to forget erased people in the models they hold."""
        e = t.erasures.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(e.id, e.workspace_id, e.profile_id)
                .where(e.id > last_id)
                .order_by(e.id)
                .limit(limit)
            )
            return [(r[0], r[1], r[2]) for r in rows]

    def erased_since(self, workspace_id: int, since_ms: int) -> set[int]:
        e = t.erasures.c
        with self.db.read() as conn:
            return set(
                conn.execute(
                    select(e.profile_id).where(
                        e.workspace_id == workspace_id, e.erased_at >= since_ms
                    )
                ).scalars()
            )

    def suppression_refusals(self, workspace_id: int) -> int:
        s = t.suppressions.c
        with self.db.read() as conn:
            total = conn.execute(select(s.refused).where(s.workspace_id == workspace_id)).scalars()
            return int(sum(total))
