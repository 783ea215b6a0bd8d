"""Saved audiences, who is in each audience (built-in or saved) as the audience job last
judged, and the whole-workspace read of profiles that previews, members and exports
judge (one pass, in chunks of profile ids, so memory stays bounded at any size)."""

from __future__ import annotations

from collections import deque
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import orjson
from sqlalchemy import (
    ARRAY,
    Connection,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql

from relevo.audiences.records import ProfileChunkRow, StoredAudience
from relevo.errors import ConflictError
from relevo.identity.identities import ANONYMOUS_ID, EMAIL, USER_ID
from relevo.runtime import collections_paused
from relevo.scores.records import ProfileScore
from relevo.storage import schema as t
from relevo.storage.database import Database

# Chunks read at once on PostgreSQL beside the one being judged (a core's worth of lexing
# each: the server parallelises what one connection cannot).
READ_AHEAD = 2


def _unaddressable(path: tuple[str, ...]) -> bool:
    """Not expressible in SQLite's JSON path syntax (a quote or backslash in a key)."""
    return any('"' in part or "\\" in part for part in path)


def _partial_row(row: Any, paths: list[tuple[str, ...]]) -> ProfileChunkRow:
    """The traits (or {}) and a computed state holding just the values read at ``paths``
    (each read as JSON text)."""
    computed: dict[str, Any] = {}
    for path, raw in zip(paths, row[2:], strict=True):
        if raw is None:
            continue
        node = computed
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = orjson.loads(raw)
    return ProfileChunkRow(row[0], orjson.loads(row[1]), computed)


def _sqlite_extract(path: tuple[str, ...]) -> Any:
    """The value at ``path`` of the computed state as JSON text (SQLite's ->)."""
    json_path = "$" + "".join(f'."{part}"' for part in path)
    return t.profiles.c.computed.op("->", return_type=Text())(json_path)


def _pg_extract(traits: Any, where: Any, paths: list[tuple[str, ...]]) -> Any:
    """PostgreSQL: the values at ``paths`` of the computed state as JSON text. Each operator
    on json runs its lexer over the whole state, so the state is lexed once per subtree the
    paths go through (an event's counter: ("behaviour", name)), in a subquery that OFFSET 0
    keeps from being inlined, and each path is then looked up in its small subtree. A cast to
    jsonb parsed every state whole into a tree first: 2-3 times the cost."""
    p = t.profiles.c
    inner: list[Any] = [p.id.label("id"), traits.label("traits")]
    subtrees: dict[tuple[str, ...], str] = {}
    for path in paths:
        if path[:2] not in subtrees:
            subtrees[path[:2]] = label = f"s{len(subtrees)}"
            inner.append(p.computed.op("#>")(literal(list(path[:2]), ARRAY(Text))).label(label))
    parsed = select(*inner).where(where).offset(0).subquery()
    outer = []
    for path in paths:
        subtree = parsed.c[subtrees[path[:2]]]
        rest = list(path[2:])
        outer.append(cast(subtree.op("#>")(literal(rest, ARRAY(Text))) if rest else subtree, Text))
    return select(parsed.c.id, parsed.c.traits, *outer).order_by(parsed.c.id)


def _person_query() -> Any:
    c, p, s = t.identities.c, t.profiles.c, t.profile_scores.c
    return (
        select(p.id, cast(p.traits, Text), cast(p.computed, Text), t.profile_scores)
        .join(t.profiles, c.profile_id == p.id)
        .outerjoin(t.profile_scores, (s.profile_id == p.id) & (s.workspace_id == c.workspace_id))
        .where(
            c.workspace_id == bindparam("w"), c.kind == bindparam("k"), c.value == bindparam("v")
        )
    )


# Built once: building the statement cost more than running it (0.76 -> 0.33 ms of CPU per
# call on PostgreSQL, measured). The async read runs its PostgreSQL text through psycopg.
_PERSON = _person_query()
_PERSON_SQL = str(_PERSON.compile(dialect=postgresql.psycopg.dialect()))  # type: ignore[no-untyped-call]
_SCORE_COLUMNS = [column.name for column in t.profile_scores.c]


def _person_from_row(row: Sequence[Any]) -> tuple[ProfileChunkRow, dict[str, Any] | None]:
    """A row of _PERSON: the profile's id, traits and state, then the profile_scores columns
    (all None when the person has no scores yet)."""
    person = ProfileChunkRow(row[0], orjson.loads(row[1]), orjson.loads(row[2]))
    fields = dict(zip(_SCORE_COLUMNS, row[3:], strict=True))
    if fields["profile_id"] is None:
        return person, None
    return person, ProfileScore.from_row(fields).document()


def _merged_members(
    conn: Connection, workspace_id: int, survivor_ids: list[int]
) -> list[tuple[str, int, int, int]]:
    """(audience, merged profile, its survivor, entered at) of the rows of profiles merged
    into these survivors."""
    m, p = t.audience_members.c, t.profiles.c
    # The merged profiles first (by the merged_into index), then their rows by profile id:
    # as one join, PostgreSQL without statistics walked every membership row of the
    # workspace for each chunk (160 ms at 125,000 rows), most often to find no merge at all.
    survivor_of: dict[int, int] = {}
    for start in range(0, len(survivor_ids), 500):
        # By merged_into alone: profiles merge within their workspace, and with the workspace
        # too the planner also walked the workspace's index (6 ms at 190,000 profiles).
        merged = conn.execute(
            select(p.id, p.merged_into).where(p.merged_into.in_(survivor_ids[start : start + 500]))
        )
        survivor_of.update((int(pid), int(survivor)) for pid, survivor in merged)
    found: list[tuple[str, int, int, int]] = []
    merged_ids = sorted(survivor_of)
    for start in range(0, len(merged_ids), 500):
        rows = conn.execute(
            select(m.audience_id, m.profile_id, m.entered_at)
            .where(
                m.workspace_id == workspace_id,
                m.profile_id.in_(merged_ids[start : start + 500]),
            )
            .order_by(m.profile_id, m.audience_id)
        )
        found += [(a, pid, survivor_of[pid], at) for a, pid, at in rows]
    return found


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
            row.webhook_url,
            row.webhook_secret,
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

    def create(self, workspace_id: int, audience: StoredAudience) -> StoredAudience:
        with self.db.write() as conn:
            a = t.audiences.c
            taken = conn.execute(
                select(a.audience_id).where(
                    a.workspace_id == workspace_id, a.audience_id == audience.audience_id
                )
            ).first()
            if taken is not None:
                raise ConflictError(
                    f"an audience with id {audience.audience_id!r} exists; PUT changes it"
                )
            conn.execute(
                insert(t.audiences).values(
                    workspace_id=workspace_id,
                    audience_id=audience.audience_id,
                    name=audience.name,
                    description=audience.description,
                    condition=audience.condition,
                    webhook_url=audience.webhook_url,
                    webhook_secret=audience.webhook_secret,
                    created_at=audience.created_at,
                    updated_at=audience.updated_at,
                )
            )
        return audience

    def replace(self, workspace_id: int, audience: StoredAudience) -> StoredAudience | None:
        a = t.audiences.c
        with self.db.write() as conn:
            changed = conn.execute(
                update(t.audiences)
                .where(a.workspace_id == workspace_id, a.audience_id == audience.audience_id)
                .values(
                    name=audience.name,
                    description=audience.description,
                    condition=audience.condition,
                    webhook_url=audience.webhook_url,
                    updated_at=audience.updated_at,
                    # A webhook keeps its secret across changes; a new one gets one.
                    webhook_secret=func.coalesce(a.webhook_secret, audience.webhook_secret),
                )
            ).rowcount
        return self.get(workspace_id, audience.audience_id) if changed else None

    def delete(self, workspace_id: int, audience_id: str) -> bool:
        a = t.audiences.c
        with self.db.write() as conn:
            deleted = conn.execute(
                delete(t.audiences).where(
                    a.workspace_id == workspace_id, a.audience_id == audience_id
                )
            ).rowcount
            m = t.audience_members.c
            conn.execute(
                delete(t.audience_members).where(
                    m.workspace_id == workspace_id, m.audience_id == audience_id
                )
            )
            return bool(deleted)

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

    def person(
        self, workspace_id: int, kind: str, value: str
    ) -> tuple[ProfileChunkRow, dict[str, Any] | None] | None:
        """The identity's person (traits and state) and their scores in one query: judging
        their audiences is one connection and one round trip (two reads cost PostgreSQL
        twice the pool's checkout, ping and reset)."""
        with self.db.read() as conn:
            row = conn.execute(_PERSON, {"w": workspace_id, "k": kind, "v": value}).first()
        return None if row is None else _person_from_row(row)

    def person_of_profile(
        self, workspace_id: int, profile_id: int
    ) -> tuple[ProfileChunkRow, dict[str, Any] | None] | None:
        """``person`` found by profile id (an e-mail link's token names one): the profile it
        was merged into, if it was."""
        p, s = t.profiles.c, t.profile_scores.c
        with self.db.read() as conn:
            merged = conn.execute(
                select(p.merged_into).where(p.id == profile_id, p.workspace_id == workspace_id)
            ).first()
            if merged is None:
                return None
            row = conn.execute(
                select(p.id, cast(p.traits, Text), cast(p.computed, Text), t.profile_scores)
                .outerjoin(
                    t.profile_scores, (s.profile_id == p.id) & (s.workspace_id == p.workspace_id)
                )
                .where(p.id == (merged[0] or profile_id), p.workspace_id == workspace_id)
            ).first()
        return None if row is None else _person_from_row(row)

    async def person_awaited(
        self, workspace_id: int, kind: str, value: str
    ) -> tuple[ProfileChunkRow, dict[str, Any] | None] | None:
        """``person`` for an async route: awaited through PostgreSQL's async pool while the
        app has it open, else the synchronous read (SQLite: short and local)."""
        reads = self.db.async_reads
        if reads is None:
            return self.person(workspace_id, kind, value)
        row = await reads.one(_PERSON_SQL, {"w": workspace_id, "k": kind, "v": value})
        return None if row is None else _person_from_row(row)

    # -- the whole workspace, for the vectorised interpreter -------------------------------
    def profile_chunks(
        self,
        workspace_id: int,
        after_id: int = 0,
        chunk: int = 5000,
        changed_since: int | None = None,
        only_state: Sequence[tuple[str, ...]] | None = None,
        with_traits: bool = True,
        read_ahead: bool = True,
    ) -> Generator[list[ProfileChunkRow], None, None]:
        """Surviving profiles in id order, ``chunk`` at a time, from ``after_id`` on (only
        those updated after ``changed_since`` when given). The JSON is read as text and
        parsed here with orjson (the driver's own decoding is slower). With ``only_state``,
        only those paths of the computed state are read, extracted by the database: a few
        values to move and parse instead of the whole state."""
        p = t.profiles.c
        paths = list(only_state) if only_state is not None else None
        if paths is not None and self.db.is_sqlite and any(_unaddressable(x) for x in paths):
            paths = None
        traits = cast(p.traits, Text) if paths is None or with_traits else literal("{}")

        def read(bounds: tuple[int, int | None]) -> list[ProfileChunkRow]:
            # A range of the survivors' index: the state is extracted from these rows only (a
            # plan that sorted extracted from every profile for each chunk: 36 s for 100,000).
            ranged = self._survivors(p.id > bounds[0], workspace_id, changed_since)
            if bounds[1] is not None:
                ranged = and_(ranged, p.id <= bounds[1])
            if paths is None:
                query = select(p.id, traits, cast(p.computed, Text)).where(ranged).order_by(p.id)
            elif self.db.is_sqlite:
                extracted = [_sqlite_extract(path) for path in paths]
                query = select(p.id, traits, *extracted).where(ranged).order_by(p.id)
            else:
                query = _pg_extract(traits, ranged, paths)
            # Thousands of rows and parsed states that live until the chunk is judged:
            # collections meanwhile find no garbage, only these to traverse (6 of 8 s for
            # 100,000 states with the interpreter's default thresholds).
            with collections_paused(), self.db.read() as conn:
                rows = conn.execute(query).all()
                if paths is None:
                    return [
                        ProfileChunkRow(r[0], orjson.loads(r[1]), orjson.loads(r[2])) for r in rows
                    ]
                return [_partial_row(r, paths) for r in rows]

        if self.db.is_sqlite or not read_ahead:
            for bounds in self._chunk_ranges(workspace_id, after_id, chunk, changed_since):
                if rows := read(bounds):
                    yield rows
            return
        # PostgreSQL: the next chunks are read in threads while the caller judges this one;
        # the extraction runs in the server's processes, READ_AHEAD of them at once.
        with ThreadPoolExecutor(READ_AHEAD, thread_name_prefix="relevo-profile-chunks") as pool:
            pending: deque[Future[list[ProfileChunkRow]]] = deque()
            for bounds in self._chunk_ranges(workspace_id, after_id, chunk, changed_since):
                pending.append(pool.submit(read, bounds))
                if len(pending) > READ_AHEAD and (found := pending.popleft().result()):
                    yield found
            while pending:
                if found := pending.popleft().result():
                    yield found

    @staticmethod
    def _survivors(where: Any, workspace_id: int, changed_since: int | None) -> Any:
        p = t.profiles.c
        where = and_(where, p.workspace_id == workspace_id, p.merged_into.is_(None))
        return where if changed_since is None else and_(where, p.updated_at > changed_since)

    def _chunk_ranges(
        self, workspace_id: int, after_id: int, chunk: int, changed_since: int | None
    ) -> Iterator[tuple[int, int | None]]:
        """(after, up to) id ranges of ``chunk`` profiles each, the last one open: each bound
        one probe of ix_profiles_workspace_survivors, whatever the table's statistics (without
        them PostgreSQL sorted the whole workspace for every chunk)."""
        p = t.profiles.c
        while True:
            where = self._survivors(p.id > after_id, workspace_id, changed_since)
            query = select(p.id).where(where).order_by(p.id).offset(chunk - 1).limit(1)
            with self.db.read() as conn:
                last = conn.execute(query).scalar()
            yield after_id, last
            if last is None:
                return
            after_id = last

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

    # -- the audience job: members, Entered/Exited, webhook deliveries -----------------------
    def workspaces_with_profiles(self) -> list[int]:
        """The workspaces the job judges: the built-in audiences follow anyone with a profile
        (one probe of ix_profiles_workspace per workspace, not a scan of the profiles)."""
        w, p = t.workspaces.c, t.profiles.c
        has_profiles = select(p.id).where(p.workspace_id == w.id).exists()
        with self.db.read() as conn:
            return list(conn.execute(select(w.id).where(has_profiles).order_by(w.id)).scalars())

    def stored_members(self, workspace_id: int, audience_id: str) -> list[int]:
        """The members the audience job last recorded, built-in or saved (its primary key's
        prefix)."""
        m = t.audience_members.c
        with self.db.read() as conn:
            return list(
                conn.execute(
                    select(m.profile_id).where(
                        m.workspace_id == workspace_id, m.audience_id == audience_id
                    )
                ).scalars()
            )

    def adopt_merged_members(self, workspace_id: int, survivor_ids: list[int]) -> None:
        """The memberships of profiles merged into these survivors become the survivors' (a
        merge leaves them where they were): the job then judges each person against what any
        of their profiles was in, so a merged visitor's new-visitor is exited, not forgotten,
        and not entered twice. Read first: a write only when there is something to move."""
        with self.db.read() as conn:
            if not _merged_members(conn, workspace_id, survivor_ids):
                return
        m = t.audience_members.c
        with self.db.write() as conn:  # read again: an erasure may have come between
            for audience_id, merged, survivor, entered_at in _merged_members(
                conn, workspace_id, survivor_ids
            ):
                held = conn.execute(
                    select(m.profile_id).where(
                        m.workspace_id == workspace_id,
                        m.audience_id == audience_id,
                        m.profile_id == survivor,
                    )
                ).first()
                if held is None:
                    conn.execute(
                        insert(t.audience_members).values(
                            workspace_id=workspace_id,
                            audience_id=audience_id,
                            profile_id=survivor,
                            entered_at=entered_at,
                        )
                    )
                conn.execute(
                    delete(t.audience_members).where(
                        m.workspace_id == workspace_id,
                        m.audience_id == audience_id,
                        m.profile_id == merged,
                    )
                )

    def members_of(self, workspace_id: int, profile_ids: list[int]) -> dict[int, set[str]]:
        m = t.audience_members.c
        found: dict[int, set[str]] = {}
        with self.db.read() as conn:
            for start in range(0, len(profile_ids), 500):
                rows = conn.execute(
                    select(m.profile_id, m.audience_id).where(
                        m.workspace_id == workspace_id,
                        m.profile_id.in_(profile_ids[start : start + 500]),
                    )
                )
                for profile_id, audience_id in rows:
                    found.setdefault(profile_id, set()).add(audience_id)
        return found

    def record_changes(
        self,
        workspace_id: int,
        now_ms: int,
        entered: list[tuple[str, int]],
        exited: list[tuple[str, int]],
        events: list[tuple[int, dict[str, Any]]],
        deliveries: list[dict[str, Any]],
    ) -> None:
        """One transaction: the members, their system events (appended to the event log
        under the ingest lock, so event order stays commit order) and webhook deliveries."""
        m = t.audience_members.c
        with self.db.write() as conn:
            if entered:
                conn.execute(
                    insert(t.audience_members),
                    [
                        {
                            "workspace_id": workspace_id,
                            "audience_id": audience_id,
                            "profile_id": profile_id,
                            "entered_at": now_ms,
                        }
                        for audience_id, profile_id in entered
                    ],
                )
            for audience_id, profile_id in exited:
                conn.execute(
                    delete(t.audience_members).where(
                        m.workspace_id == workspace_id,
                        m.audience_id == audience_id,
                        m.profile_id == profile_id,
                    )
                )
            if deliveries:
                conn.execute(insert(t.audience_deliveries), deliveries)
            if events:
                self.db.lock_ingest(conn)
                conn.execute(
                    insert(t.events),
                    [
                        {
                            "workspace_id": workspace_id,
                            "message_id": payload["messageId"],
                            "profile_id": profile_id,
                            "type": "track",
                            "event": payload["event"],
                            "timestamp": now_ms,
                            "received_at": now_ms,
                            "payload": payload,
                            "trusted": True,
                        }
                        for profile_id, payload in events
                    ],
                )

    def try_job_lease(self, owner: str, now_ms: int, seconds: float) -> bool:
        """Take or renew the audience job's lease: one conditional update of one row, so of
        the workers asking at once exactly one gets it, on both databases."""
        lease = t.audience_job_lease.c
        with self.db.write() as conn:
            taken = conn.execute(
                update(t.audience_job_lease)
                .where(lease.id == 1, (lease.owner == owner) | (lease.until < now_ms))
                .values(owner=owner, until=now_ms + int(seconds * 1000))
            ).rowcount
        return bool(taken)

    def release_job_lease(self, owner: str) -> None:
        lease = t.audience_job_lease.c
        with self.db.write() as conn:
            conn.execute(
                update(t.audience_job_lease)
                .where(lease.id == 1, lease.owner == owner)
                .values(until=0)
            )

    def job_checkpoint(self) -> int:
        lease = t.audience_job_lease.c
        with self.db.read() as conn:
            found = conn.execute(select(lease.judged_until).where(lease.id == 1)).scalar()
        return int(found or 0)

    def set_job_checkpoint(self, position: int) -> None:
        lease = t.audience_job_lease.c
        with self.db.write() as conn:
            conn.execute(
                update(t.audience_job_lease).where(lease.id == 1).values(judged_until=position)
            )

    def due_deliveries(self, now_ms: int, limit: int) -> list[dict[str, Any]]:
        d, a = t.audience_deliveries.c, t.audiences.c
        query = (
            select(
                d.id,
                d.message_id,
                d.payload,
                d.attempts,
                d.created_at,
                a.webhook_url,
                a.webhook_secret,
            )
            .join(
                t.audiences,
                (a.workspace_id == d.workspace_id) & (a.audience_id == d.audience_id),
            )
            .where(d.status == "pending", d.next_attempt_at <= now_ms)
            .order_by(d.next_attempt_at, d.id)
            .limit(limit)
        )
        with self.db.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def delivery_attempted(
        self, delivery_id: int, now_ms: int, error: str | None, next_attempt_at: int | None
    ) -> None:
        d = t.audience_deliveries.c
        if error is None:
            values: dict[str, Any] = {"status": "delivered", "delivered_at": now_ms}
        elif next_attempt_at is None:
            values = {"status": "failed"}
        else:
            values = {"next_attempt_at": next_attempt_at}
        with self.db.write() as conn:
            conn.execute(
                update(t.audience_deliveries)
                .where(d.id == delivery_id)
                .values(attempts=d.attempts + 1, last_error=error, **values)
            )

    def deliveries(
        self, workspace_id: int, audience_id: str, limit: int, before_id: int | None
    ) -> list[dict[str, Any]]:
        d = t.audience_deliveries.c
        query = select(
            d.id,
            d.message_id,
            d.profile_id,
            d.payload,
            d.status,
            d.attempts,
            d.next_attempt_at,
            d.last_error,
            d.created_at,
            d.delivered_at,
        ).where(d.workspace_id == workspace_id, d.audience_id == audience_id)
        if before_id is not None:
            query = query.where(d.id < before_id)
        with self.db.read() as conn:
            return [
                dict(r._mapping) for r in conn.execute(query.order_by(d.id.desc()).limit(limit))
            ]
