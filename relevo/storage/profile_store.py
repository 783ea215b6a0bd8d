"""What the profile materializer reads and writes: the event log after a checkpoint, profile
rows, and the lease that makes one process the materializer."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any

import orjson
from sqlalchemy import (
    BigInteger,
    Connection,
    any_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from relevo.catalog.product import Product
from relevo.profiles.records import Head, ProfileRow, ProfileUpdate, StoredEvent
from relevo.profiles.state import EventRecord
from relevo.storage import schema as t
from relevo.storage.bulk import select_in
from relevo.storage.catalog_store import CatalogStore
from relevo.storage.database import MATERIALIZER_LOCK, Database


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


CHECKPOINT = "profiles"
EVENTS_PAGE = 1000  # events per query of events_after


_PROFILE_COLUMNS = (
    t.profiles.c.id,
    t.profiles.c.workspace_id,
    t.profiles.c.merged_into,
    t.profiles.c.rebuild_gen,
    t.profiles.c.built_gen,
    t.profiles.c.traits,
    t.profiles.c.trait_times,
    t.profiles.c.computed,
)


def _event_columns() -> tuple[Any, ...]:
    c = t.events.c
    return (
        c.seq,
        c.workspace_id,
        c.profile_id,
        c.message_id,
        c.type,
        c.event,
        c.timestamp,
        c.payload,
        c.trusted,
    )


def _stored_event(row: Any) -> StoredEvent:
    seq, workspace_id, profile_id, message_id, kind, name, timestamp, payload, trusted = row
    return StoredEvent(
        EventRecord(seq, kind, name, timestamp, payload, bool(trusted)),
        workspace_id,
        profile_id,
        message_id,
    )


class ProfileStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._catalog = CatalogStore(db)
        self._lock_file: IO[bytes] | None = None
        self._lock_conn: Connection | None = None

    # -- lease: one materializer at a time across processes ------------------------------
    def try_acquire_lease(self) -> bool:
        if self.holds_lease():
            return True
        if self.db.is_sqlite:
            path = self.db.url.split("///", 1)[-1] + ".materializer.lock"
            handle = open(path if ":memory:" not in path else os.devnull, "ab")  # noqa: SIM115
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                return False
            self._lock_file = handle
            return True
        conn = self.db.write_engine.connect()
        got = conn.execute(
            text("SELECT pg_try_advisory_lock(:k, :scope)"),
            {"k": MATERIALIZER_LOCK, "scope": self.db.lock_scope},
        ).scalar()
        conn.commit()
        if got:
            self._lock_conn = conn
            return True
        conn.close()
        return False

    def holds_lease(self) -> bool:
        if self._lock_conn is not None and (self._lock_conn.closed or self._lock_conn.invalidated):
            self.release_lease()  # the connection (and with it the advisory lock) is gone
        return self._lock_file is not None or self._lock_conn is not None

    def release_lease(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None
        if self._lock_conn is not None:
            conn, self._lock_conn = self._lock_conn, None
            # End the database session itself, which ends its advisory lock: close() alone
            # would hand the connection back to the pool with the lock still held, and this
            # process could then never take the lease again.
            conn.invalidate()
            conn.close()

    # -- reads ------------------------------------------------------------------------------
    def checkpoint(self) -> int:
        with self.db.read() as conn:
            value = conn.execute(
                select(t.checkpoints.c.position).where(t.checkpoints.c.name == CHECKPOINT)
            ).scalar()
        return int(value or 0)

    def events_after(self, seq: int, limit: int) -> list[StoredEvent]:
        # The materializer's hot read: driver-level, payload text decoded once with orjson.
        # Read in pages of EVENTS_PAGE: asked for 20,000 rows at once, PostgreSQL without
        # statistics on events (a fresh table, autovacuum off) plans a sequential scan and a
        # sort of the whole table, 40-60 ms at 470,000 events for a poll that finds five new
        # ones; a small LIMIT keeps the plan on the primary key's index whatever it estimates.
        mark = "?" if self.db.is_sqlite else "%s"
        payload = "payload" if self.db.is_sqlite else "payload::text"
        sql = (
            "SELECT seq, workspace_id, profile_id, message_id, type, event, timestamp, "
            f"{payload}, trusted FROM events WHERE seq > {mark} ORDER BY seq LIMIT {mark}"
        )
        rows: list[Any] = []
        with self.db.read() as conn:
            while len(rows) < limit:
                asked = min(EVENTS_PAGE, limit - len(rows))
                after = rows[-1][0] if rows else seq
                page = conn.exec_driver_sql(sql, (after, asked)).fetchall()
                rows += page
                if len(page) < asked:
                    break
        loads = orjson.loads
        return [
            StoredEvent(
                EventRecord(seq, kind, name, ts, loads(payload), bool(trusted)), ws, pid, mid
            )
            for seq, ws, pid, mid, kind, name, ts, payload, trusted in rows
        ]

    def latest_seq(self) -> int:
        with self.db.read() as conn:
            return int(
                conn.execute(
                    select(t.events.c.seq).order_by(t.events.c.seq.desc()).limit(1)
                ).scalar()
                or 0
            )

    def load_profiles(self, ids: Iterable[int]) -> dict[int, ProfileRow]:
        found: dict[int, ProfileRow] = {}
        with self.db.read() as conn:
            for condition in self._id_conditions(ids):
                for row in conn.execute(select(*_PROFILE_COLUMNS).where(condition)):
                    found[row[0]] = ProfileRow(*row)
        return found

    def profile_heads(self, ids: Iterable[int]) -> dict[int, Head]:
        """(merged_into, rebuild_gen, built_gen) of profiles: cheap, no JSON.

        Driver-level, the ids as one parameter: SQLAlchemy's expanding IN compiled each step's
        thousands of ids in lists of 400 and cost more than the lookups."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        with self.db.read() as conn:
            rows = select_in(
                conn,
                "id, merged_into, rebuild_gen, built_gen",
                "profiles WHERE id {values}",
                (),
                wanted,
                "bigint",
            )
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def _id_conditions(self, ids: Iterable[int]) -> list[Any]:
        """``profiles.id`` in ``ids``: one array parameter on PostgreSQL (a long IN list of
        bind parameters costs more to plan than to run), bounded IN lists on SQLite."""
        wanted = sorted(set(ids))
        if not wanted:
            return []
        column = t.profiles.c.id
        if not self.db.is_sqlite:
            return [column == any_(bindparam("ids", wanted, type_=ARRAY(BigInteger)))]
        return [column.in_(wanted[i : i + 400]) for i in range(0, len(wanted), 400)]

    def profiles_awaiting_rebuild(self, limit: int = 100) -> list[int]:
        p = t.profiles.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(p.id)
                # coalesce, not IS NULL: SQLite would pick the merged_into index (every live
                # profile) over the small partial index of profiles awaiting a rebuild.
                .where(p.rebuild_gen > p.built_gen, func.coalesce(p.merged_into, 0) == 0)
                .limit(limit)
            )
            return [r[0] for r in rows]

    def events_of_profile(self, profile_id: int, up_to_seq: int) -> list[StoredEvent]:
        c = t.events.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(*_event_columns()).where(c.profile_id == profile_id, c.seq <= up_to_seq)
            )
            return [_stored_event(r) for r in rows]

    # -- writes -----------------------------------------------------------------------------
    def save(
        self,
        updates: Sequence[ProfileUpdate],
        checkpoint: int,
        now_ms: int,
        seen_products: Mapping[int, Sequence[Product]] | None = None,
    ) -> None:
        # Encode before taking the write lock: ingest waits for whatever happens inside it.
        rows = [
            (
                *(
                    u.encoded
                    or (_dumps(u.row.traits), _dumps(u.row.trait_times), _dumps(u.row.computed))
                ),
                u.row.built_gen,
                u.row.id,
            )
            for u in updates
        ]
        with self._writing() as conn:
            if self.db.is_sqlite:
                # SQLite's write lock keeps an erasure out until commit: a profile erased
                # meanwhile is one the UPDATE found no row for, and the profiles still there are
                # looked up only then (not probed one by one in every step).
                if self._update_sqlite(conn, rows, now_ms) < len(rows):
                    alive = self._lock_existing(conn, [u.row.id for u in updates])
                    updates = [u for u in updates if u.row.id in alive]
            else:
                alive = self._lock_existing(conn, [u.row.id for u in updates])
                if len(alive) < len(updates):  # erased meanwhile: nothing of theirs is written
                    updates = [u for u in updates if u.row.id in alive]
                    rows = [r for r in rows if r[-1] in alive]
                self._update_postgresql(conn, rows, now_ms)
            changes = [
                {
                    "workspace_id": u.row.workspace_id,
                    "profile_id": u.row.id,
                    "trait": c.trait[:255],
                    "old_value": c.old_value,
                    "new_value": c.new_value,
                    "timestamp": c.timestamp,
                    "message_id": c.message_id,
                }
                for u in updates
                for c in u.changes
            ]
            rewritten = [u.row.id for u in updates if u.replaces_history]
            if rewritten:
                # A rebuilt history covers the events of the profiles merged into it too:
                # their own rows would show each change twice.
                merged = select(t.profiles.c.id).where(t.profiles.c.merged_into.in_(rewritten))
                conn.execute(
                    delete(t.trait_changes).where(
                        or_(
                            t.trait_changes.c.profile_id.in_(rewritten),
                            t.trait_changes.c.profile_id.in_(merged),
                        )
                    )
                )
            if changes:
                conn.execute(insert(t.trait_changes), changes)
            for workspace_id, products in (seen_products or {}).items():
                self._catalog.add_seen_in_events(conn, workspace_id, products, now_ms)
            self._set_checkpoint(conn, checkpoint)

    @staticmethod
    def _update_sqlite(conn: Connection, rows: list[tuple[Any, ...]], now_ms: int) -> int:
        """Write the rows (traits, trait_times, computed, built_gen, id); the number updated.
        Driver-level executemany: SQLAlchemy's per-row parameter processing costs more than the
        UPDATE itself at thousands of profiles per step."""
        if not rows:
            return 0
        result = conn.exec_driver_sql(
            "UPDATE profiles SET traits = ?, trait_times = ?, computed = ?, "
            f"built_gen = ?, updated_at = {int(now_ms)} WHERE id = ?",
            rows,
        )
        return int(result.rowcount)

    @staticmethod
    def _update_postgresql(conn: Connection, rows: list[tuple[Any, ...]], now_ms: int) -> None:
        """COPY into a session temp table, then one UPDATE ... FROM: ~7x faster than an
        executemany or an UPDATE over unnest()ed arrays for thousands of rows."""
        if not rows:
            return
        conn.exec_driver_sql(
            "CREATE TEMP TABLE IF NOT EXISTS profile_updates (traits text, "
            "trait_times text, computed text, gen int, id bigint) ON COMMIT DELETE ROWS"
        )
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            with cursor.copy("COPY profile_updates FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        finally:
            cursor.close()
        conn.exec_driver_sql(
            "UPDATE profiles AS p SET traits = v.traits::json, "
            "trait_times = v.trait_times::json, computed = v.computed::json, "
            f"built_gen = v.gen, updated_at = {int(now_ms)} "
            "FROM profile_updates AS v WHERE p.id = v.id"
        )

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """The materializer's write transaction. On PostgreSQL it runs on the connection that
        holds the lease: if that connection drops, the server releases the advisory lock (and
        another process may take over), and this transaction fails instead of writing."""
        if self.db.is_sqlite or self._lock_conn is None:
            with self.db.write(derived=True) as conn:
                yield conn
            return
        with self._lock_conn.begin():
            yield self._lock_conn

    def _lock_existing(self, conn: Connection, profile_ids: list[int]) -> set[int]:
        """The profiles still there, locked until commit on PostgreSQL (in id order, as the
        erasure locks them: neither waits on the other in a cycle): an erasure deletes them
        either before (they are absent here) or after this step's commit (and then deletes
        what it wrote). SQLite's write lock already serialises the two."""
        if not profile_ids:
            return set()
        if self.db.is_sqlite:
            rows = select_in(conn, "id", "profiles WHERE id {values}", (), profile_ids, "bigint")
            return {r[0] for r in rows}
        alive: set[int] = set()
        for condition in self._id_conditions(profile_ids):
            query = select(t.profiles.c.id).where(condition).order_by(t.profiles.c.id)
            if not self.db.is_sqlite:
                query = query.with_for_update()
            alive.update(conn.execute(query).scalars())
        return alive

    def _set_checkpoint(self, conn: Connection, position: int) -> None:
        c = t.checkpoints.c
        done = conn.execute(
            update(t.checkpoints).where(c.name == CHECKPOINT).values(position=position)
        ).rowcount
        if not done:
            conn.execute(insert(t.checkpoints).values(name=CHECKPOINT, position=position))
