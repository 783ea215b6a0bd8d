"""Writes a batch of validated messages in one transaction: identity resolution, events, quarantine.

Identity resolution runs under a lock (SQLite: the write lock; PostgreSQL: an advisory lock), so
two workers can never create two profiles for one new identity or merge the same profiles twice.
The commit order of events then equals their ``seq`` order, which the profile materializer's
checkpoint relies on.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from relevo.experiments.exposure import EXPERIMENT_VIEWED, exposure_from
from relevo.identity.identities import (
    ANONYMOUS_ID,
    USER_ID,
    Identity,
    normalise_email,
    raw_identities,
    suppression_hash,
)
from relevo.identity.resolution import (
    Merge,
    MessageIdentities,
    ProfileFacts,
    plan_resolution,
    profiles_needing_facts,
)
from relevo.storage import schema as t
from relevo.storage.bulk import bulk_insert, create_profiles, insert_tuples, select_in
from relevo.storage.database import Database
from relevo.storage.experiment_store import assignment_rows, record_assignments
from relevo.tracking.jobs import IngestJob, StoredBatch
from relevo.tracking.messages import RejectedMessage, TrackedMessage, without_nul
from relevo.tracking.values import quarantine_text

# The identity a verified e-mail-link token stands for while planning: a profile, by id. It is
# always "known" (it maps to the profile), so the planner never stores it as an identity.
PROFILE_LINK = "profile"

_EVENT_COLUMNS = (
    "workspace_id",
    "message_id",
    "profile_id",
    "type",
    "event",
    "anonymous_id",
    "user_id",
    "timestamp",
    "received_at",
    "payload",
    "trusted",
)


def empty_profile_row(workspace_id: int, now_ms: int) -> dict[str, object]:
    return {
        "workspace_id": workspace_id,
        "created_at": now_ms,
        "updated_at": now_ms,
        "traits": {},
        "trait_times": {},
        "computed": {},
    }


class IngestStore:
    def __init__(self, db: Database, max_anonymous_ids: int) -> None:
        self.db = db
        self.max_anonymous_ids = max_anonymous_ids

    def exclusive(self) -> AbstractContextManager[None]:
        return self.db.write_lock()

    def write(
        self,
        workspace_id: int,
        messages: Sequence[TrackedMessage],
        rejected: Sequence[RejectedMessage],
        now_ms: int,
        source: str = "api",
    ) -> StoredBatch:
        return self.write_many([IngestJob(workspace_id, messages, rejected, source)], now_ms)[0]

    def write_many(self, jobs: Sequence[IngestJob], now_ms: int) -> list[StoredBatch]:
        """Store several requests' messages in one transaction (group commit).

        Messages of one workspace are resolved together, so a transaction costs a handful of
        statements whatever the number of requests in it.
        """
        stored = [0] * len(jobs)
        merges = [0] * len(jobs)
        refused = [0] * len(jobs)
        suppressed = [0] * len(jobs)
        by_workspace: dict[int, list[int]] = {}
        for index, job in enumerate(jobs):
            by_workspace.setdefault(job.workspace_id, []).append(index)
        with self.db.write() as conn:
            self.db.lock_ingest(conn)
            for workspace_id, job_indexes in by_workspace.items():
                owners = [i for i in job_indexes for _ in jobs[i].messages]
                messages = [m for i in job_indexes for m in jobs[i].messages]
                refused_positions = self._suppressed(conn, workspace_id, messages)
                for position in refused_positions:
                    suppressed[owners[position]] += 1
                if refused_positions:
                    kept = [p for p in range(len(messages)) if p not in refused_positions]
                    owners = [owners[p] for p in kept]
                    messages = [messages[p] for p in kept]
                fresh = self._drop_duplicates(conn, workspace_id, messages)
                fresh_messages = [messages[i] for i in fresh]
                merged_at, refused_at = self._store_events(
                    conn, workspace_id, fresh_messages, now_ms
                )
                for i in fresh:
                    stored[owners[i]] += 1
                for position in merged_at:
                    merges[owners[fresh[position]]] += 1
                for position in refused_at:
                    refused[owners[fresh[position]]] += 1
            rejected = [(job.workspace_id, job.source, r) for job in jobs for r in job.rejected]
            if rejected:
                self._quarantine(conn, rejected, now_ms)
        return [
            StoredBatch(
                stored[i],
                len(job.messages) - stored[i] - suppressed[i],
                len(job.rejected),
                merges[i],
                refused[i],
                suppressed[i],
            )
            for i, job in enumerate(jobs)
        ]

    def _suppressed(
        self, conn: Connection, workspace_id: int, messages: Sequence[TrackedMessage]
    ) -> set[int]:
        """Positions of messages naming an identity erased with suppression (refused, counted).

        One index probe per transaction while the workspace suppresses nobody (the usual case).
        """
        if not messages or not self._has_suppressions(conn, workspace_id):
            return set()
        key = conn.execute(
            select(t.workspaces.c.suppression_key).where(t.workspaces.c.id == workspace_id)
        ).scalar_one()
        hashes = [
            {
                suppression_hash(key, identity)
                for identity in (*m.identities, *((c.kind, c.value) for c in m.claims))
            }
            for m in messages
        ]
        found = {
            r[0]
            for r in select_in(
                conn,
                "identity_hash",
                "suppressions WHERE workspace_id = {p} AND identity_hash {values}",
                (workspace_id,),
                sorted(set().union(*hashes)),
                "text",
            )
        }
        if not found:
            return set()
        refused = {p for p, named in enumerate(hashes) if named & found}
        counts: dict[str, int] = {}
        for position in refused:
            for value in hashes[position] & found:
                counts[value] = counts.get(value, 0) + 1
        s = t.suppressions.c
        for value, count in counts.items():
            conn.execute(
                update(t.suppressions)
                .where(s.workspace_id == workspace_id, s.identity_hash == value)
                .values(refused=s.refused + count)
            )
        return refused

    @staticmethod
    def _has_suppressions(conn: Connection, workspace_id: int) -> bool:
        s = t.suppressions.c
        return (
            conn.execute(
                select(s.identity_hash).where(s.workspace_id == workspace_id).limit(1)
            ).first()
            is not None
        )

    def _quarantine(
        self,
        conn: Connection,
        rejected: Sequence[tuple[int, str, RejectedMessage]],
        now_ms: int,
    ) -> None:
        rows = [_quarantine_row(w, r, now_ms, source) for w, source, r in rejected]
        ids = conn.execute(
            insert(t.quarantine).returning(t.quarantine.c.id, sort_by_parameter_order=True),
            rows,
        ).scalars()
        named = [
            {"workspace_id": w, "kind": kind, "value": value, "quarantine_id": qid}
            for (w, _, r), qid in zip(rejected, ids, strict=True)
            for kind, value in raw_identities(r.raw)
        ]
        if named:
            bulk_insert(conn, t.quarantine_identities, named)

    def _drop_duplicates(
        self, conn: Connection, workspace_id: int, messages: Sequence[TrackedMessage]
    ) -> list[int]:
        """Positions of the messages not stored before (the first of repeated ids)."""
        ids = list({m.message_id for m in messages})
        seen: set[str] = {
            r[0]
            for r in select_in(
                conn,
                "message_id",
                "events WHERE workspace_id = {p} AND message_id {values}",
                (workspace_id,),
                ids,
                "text",
            )
        }
        fresh = []
        for position, message in enumerate(messages):
            if message.message_id not in seen:
                seen.add(message.message_id)
                fresh.append(position)
        return fresh

    def _known_identities(
        self, conn: Connection, workspace_id: int, identities: list[Identity]
    ) -> dict[Identity, int]:
        # One `value IN (...)` per kind: a row-value IN list plans as one index probe per item.
        by_kind: dict[str, list[str]] = {}
        for kind, value in identities:
            by_kind.setdefault(kind, []).append(value)
        known: dict[Identity, int] = {}
        for kind, values in by_kind.items():
            rows = select_in(
                conn,
                "value, profile_id",
                "identities WHERE workspace_id = {p} AND kind = {p} AND value {values}",
                (workspace_id, kind),
                values,
                "text",
            )
            known.update(((kind, value), profile) for value, profile in rows)
        return known

    def _profile_facts(self, conn: Connection, profile_ids: list[int]) -> dict[int, ProfileFacts]:
        facts = {p: ProfileFacts() for p in profile_ids}
        rows = select_in(
            conn,
            "profile_id, kind, value",
            f"identities WHERE kind IN ('{USER_ID}', '{ANONYMOUS_ID}') AND profile_id {{values}}",
            (),
            profile_ids,
            "bigint",
        )
        for profile, kind, value in rows:
            if kind == USER_ID:
                facts[profile].user_ids.add(value)
            else:
                facts[profile].anonymous_ids += 1
        return facts

    def _alias_previous_ids(
        self, messages: Sequence[TrackedMessage], known: dict[Identity, int]
    ) -> list[list[Identity]]:
        # alias.previousId may be an earlier userId rather than an anonymousId; a public key's
        # alias only ever names the visitor's own anonymous id (relevo.tracking.trust).
        result = []
        for m in messages:
            identities = m.identities
            if m.type == "alias" and m.trusted:
                previous = str(m.payload.get("previousId"))
                if (USER_ID, previous) in known:
                    identities = [
                        (USER_ID, previous) if i == (ANONYMOUS_ID, previous) else i
                        for i in identities
                    ]
            result.append(identities)
        return result

    def _linked_profiles(self, conn: Connection, profile_ids: set[int]) -> dict[int, int]:
        """Surviving profile of each profile an e-mail-link token names (erased: absent)."""
        rows = select_in(
            conn,
            "id, merged_into",
            "profiles WHERE id {values}",
            (),
            sorted(profile_ids),
            "bigint",
        )
        return {profile: merged_into or profile for profile, merged_into in rows}

    def _store_events(
        self, conn: Connection, workspace_id: int, messages: list[TrackedMessage], now_ms: int
    ) -> tuple[list[int], list[int]]:
        """Resolve identities and insert events; returns the positions of merging/refused."""
        if not messages:
            return [], []
        wanted = list({i for m in messages for i in m.identities})
        alias_previous = [
            (USER_ID, str(m.payload.get("previousId"))) for m in messages if m.type == "alias"
        ]
        known = self._known_identities(conn, workspace_id, wanted + alias_previous)
        identity_lists = self._alias_previous_ids(messages, known)
        linked_ids = {m.linked_profile for m in messages if m.linked_profile is not None}
        survivors = self._linked_profiles(conn, linked_ids) if linked_ids else {}
        extra_claims: dict[int, list[tuple[str, str, str]]] = {}
        for position, m in enumerate(messages):
            if m.linked_profile is None:
                continue
            survivor = survivors.get(m.linked_profile)
            if survivor is None:
                extra_claims.setdefault(position, []).append(
                    (PROFILE_LINK, str(m.linked_profile), "unknown_profile")
                )
                continue
            link = (PROFILE_LINK, str(survivor))
            known[link] = survivor
            identity_lists[position] = [*identity_lists[position], link]
        resolving = [
            MessageIdentities(ids, explicit_merge=m.type == "alias" and m.trusted)
            for ids, m in zip(identity_lists, messages, strict=True)
        ]
        facts = self._profile_facts(conn, sorted(profiles_needing_facts(resolving, known)))
        plan = plan_resolution(resolving, known, facts, self.max_anonymous_ids)

        created = create_profiles(
            conn, [empty_profile_row(workspace_id, now_ms) for _ in plan.new_profiles]
        )
        real = dict(zip(plan.new_profiles, created, strict=True))

        def pid(profile: int) -> int:
            return real[profile] if profile < 0 else profile

        if plan.merges:
            _lock_merging_profiles(conn, plan.merges)
        for merge in plan.merges:
            self._apply_merge(conn, workspace_id, merge.survivor, merge.merged)
        history = [
            {
                "workspace_id": workspace_id,
                "survivor_id": m.survivor,
                "merged_id": m.merged,
                "status": "merged",
                "reason": m.reason,
                "identities": [list(i) for i in m.identities],
                "message_id": messages[m.message_index].message_id,
                "created_at": now_ms,
            }
            for m in plan.merges
        ] + [
            {
                "workspace_id": workspace_id,
                "survivor_id": pid(r.kept),
                "merged_id": pid(r.other),
                "status": "refused",
                "reason": r.reason,
                "identities": [list(i) for i in r.identities],
                "message_id": messages[r.message_index].message_id,
                "created_at": now_ms,
            }
            for r in plan.refusals
        ]
        if history:
            conn.execute(insert(t.merges), history)
        if plan.new_identities:
            bulk_insert(
                conn,
                t.identities,
                [
                    {
                        "workspace_id": workspace_id,
                        "kind": kind,
                        "value": value,
                        "profile_id": pid(profile),
                        "created_at": now_ms,
                    }
                    for (kind, value), profile in plan.new_identities.items()
                ],
            )
        insert_tuples(
            conn,
            t.events,
            _EVENT_COLUMNS,
            [
                (
                    workspace_id,
                    m.message_id,
                    pid(profile),
                    m.type,
                    m.event,
                    m.anonymous_id,
                    m.user_id,
                    m.timestamp_ms,
                    m.received_at_ms,
                    m.payload_json,
                    m.trusted,
                )
                for m, profile in zip(messages, plan.message_profiles, strict=True)
            ],
        )
        if any(m.event == EXPERIMENT_VIEWED for m in messages):
            _assign_exposed(conn, workspace_id, messages, [pid(p) for p in plan.message_profiles])
        # Claims come from public keys and unverified link tokens: most transactions have none.
        claiming = bool(extra_claims) or any(m.claims for m in messages)
        claims = (
            {
                (pid(profile), kind, value[:255], reason[:40]): m.message_id
                for position, (m, profile) in enumerate(
                    zip(messages, plan.message_profiles, strict=True)
                )
                for kind, value, reason in (
                    *((c.kind, c.value, c.reason) for c in m.claims),
                    *extra_claims.get(position, ()),
                )
            }
            if claiming
            else {}
        )
        if claims:
            _insert_claims(conn, workspace_id, claims, now_ms)
        return [m.message_index for m in plan.merges], [r.message_index for r in plan.refusals]

    @staticmethod
    def _apply_merge(conn: Connection, workspace_id: int, survivor: int, merged: int) -> None:
        """Move everything of ``merged`` to ``survivor``; the materializer rebuilds the survivor."""
        conn.execute(
            update(t.identities)
            .where(t.identities.c.profile_id == merged)
            .values(profile_id=survivor)
        )
        conn.execute(
            update(t.events).where(t.events.c.profile_id == merged).values(profile_id=survivor)
        )
        conn.execute(
            update(t.trait_changes)
            .where(t.trait_changes.c.profile_id == merged)
            .values(profile_id=survivor)
        )
        # Claims move too; one both profiles made is kept once (they are unique per profile).
        mine, theirs = t.claims.alias("mine"), t.claims.alias("theirs")
        duplicates = select(mine.c.id).where(
            mine.c.profile_id == merged,
            select(theirs.c.id)
            .where(
                theirs.c.profile_id == survivor,
                theirs.c.kind == mine.c.kind,
                theirs.c.value == mine.c.value,
                theirs.c.reason == mine.c.reason,
            )
            .exists(),
        )
        conn.execute(delete(t.claims).where(t.claims.c.id.in_(duplicates)))
        conn.execute(
            update(t.claims).where(t.claims.c.profile_id == merged).values(profile_id=survivor)
        )
        p = t.profiles.c
        conn.execute(
            update(t.profiles)
            .where((p.id == merged) | (p.merged_into == merged))
            .values(merged_into=survivor)
        )
        conn.execute(
            update(t.profiles).where(p.id == survivor).values(rebuild_gen=p.rebuild_gen + 1)
        )


def _assign_exposed(
    conn: Connection, workspace_id: int, messages: Sequence[TrackedMessage], profiles: list[int]
) -> None:
    """Each ``Experiment Viewed`` stored now assigns its profile, unless it already was (the
    sticky assignment: relevo.storage.experiment_store), in this same transaction."""
    exposures = [
        (exposure, profile, m.timestamp_ms)
        for m, profile in zip(messages, profiles, strict=True)
        if m.event == EXPERIMENT_VIEWED
        and m.type == "track"
        and (exposure := exposure_from(m.payload.get("properties"))) is not None
    ]
    if exposures:
        record_assignments(conn, assignment_rows(workspace_id, exposures))


def _lock_merging_profiles(conn: Connection, merges: Sequence[Merge]) -> None:
    """Lock every profile row the merges update, in id order, before updating any: the
    materializer and the erasure lock profiles in id order too, so none waits on another in a
    cycle (a merge updating the higher id first deadlocked with a materializer step on
    PostgreSQL). SQLite's write lock already serialises them."""
    if conn.dialect.name != "postgresql":
        return
    p = t.profiles.c
    touched = {m.survivor for m in merges} | {m.merged for m in merges}
    merged = [m.merged for m in merges]
    conn.execute(
        select(p.id)
        .where(p.id.in_(touched) | p.merged_into.in_(merged))
        .order_by(p.id)
        .with_for_update()
    ).all()


def _insert_claims(
    conn: Connection,
    workspace_id: int,
    claims: dict[tuple[int, str, str, str], str],
    now_ms: int,
) -> None:
    """One row per (profile, identity, reason): a visitor repeating a claim adds nothing."""
    rows = [
        {
            "workspace_id": workspace_id,
            "profile_id": profile,
            "kind": kind,
            "value": value,
            "reason": reason,
            "message_id": message_id,
            "created_at": now_ms,
        }
        for (profile, kind, value, reason), message_id in claims.items()
    ]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(t.claims).on_conflict_do_nothing(), rows)


def _fits(value: str | None) -> str | None:
    """An id for the quarantine's varchar(255) columns; a longer one stays in the payload."""
    return value if value is None or len(value) <= 255 else None


def _quarantine_row(
    workspace_id: int, rejected: RejectedMessage, now_ms: int, source: str
) -> dict[str, object]:
    raw = rejected.raw
    email = None
    if isinstance(raw, dict):
        traits = raw.get("traits")
        if isinstance(traits, dict):
            email = normalise_email(traits.get("email"))  # None unless its column can hold it
    row: dict[str, object] = without_nul(
        {
            "workspace_id": workspace_id,
            "received_at": now_ms,
            "source": source,
            "position": rejected.index,
            "reason": rejected.reason,
            "message_id": _fits(rejected.message_id),
            "anonymous_id": _fits(rejected.anonymous_id),
            "user_id": _fits(rejected.user_id),
            "email": email,
            "payload": quarantine_text(raw),  # whatever the message held: never raises
        }
    )
    return row
