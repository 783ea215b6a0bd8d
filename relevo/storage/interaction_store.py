"""Reads recommender signals from the event log: all of a workspace's for training, and one
visitor's latest for serving (committed events, so what was acknowledged a moment ago counts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import polars as pl
from sqlalchemy import Connection, Select, and_, bindparam, select

from relevo.identity.identities import Identity
from relevo.recs.data import Kind
from relevo.recs.signals import SIGNAL_EVENTS, signals_of
from relevo.storage import schema as t
from relevo.storage.database import Database

FRAME_SCHEMA = {
    "user_id": pl.Utf8,
    "item_id": pl.Utf8,
    "timestamp": pl.Int64,
    "kind": pl.Int8,
    "basket_id": pl.Utf8,
    "quantity": pl.Float32,
}


def event_properties(payload: Any) -> Any:
    """The properties of a stored event's payload (JSON text on SQLite)."""
    if isinstance(payload, str | bytes):
        payload = orjson.loads(payload)
    return payload.get("properties") if isinstance(payload, dict) else None


def merged_into(conn: Connection, workspace_id: int) -> dict[int, int]:
    """Each merged profile of the workspace and the profile it was merged into."""
    p = t.profiles.c
    rows = conn.execute(
        select(p.id, p.merged_into).where(
            p.workspace_id == workspace_id, p.merged_into.is_not(None)
        )
    )
    return {int(r[0]): int(r[1]) for r in rows}


def _visitor_query() -> Select[Any]:
    i, e = t.identities.c, t.events.c
    signals = and_(e.profile_id == i.profile_id, e.type == "track", e.event.in_(SIGNAL_EVENTS))
    return (
        select(i.profile_id, e.timestamp, e.event, e.payload)
        .select_from(t.identities.outerjoin(t.events, signals))
        .where(
            i.workspace_id == bindparam("w"), i.kind == bindparam("k"), i.value == bindparam("v")
        )
        .order_by(e.timestamp.desc(), e.seq.desc())
        .limit(bindparam("n"))
    )


# visitor_signals for PostgreSQL's async pool: the same rows, only the events' properties
# read (as text: orjson parses it faster than the driver's json).
_VISITOR_SQL = """
SELECT i.profile_id, e.timestamp, e.event, (e.payload -> 'properties')::text
FROM identities AS i
LEFT OUTER JOIN events AS e
  ON e.profile_id = i.profile_id AND e.type = 'track' AND e.event = ANY(%(events)s)
WHERE i.workspace_id = %(w)s AND i.kind = %(k)s AND i.value = %(v)s
ORDER BY e.timestamp DESC, e.seq DESC
LIMIT %(n)s
"""


class InteractionStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._visitor_query = _visitor_query()

    def training_frame(
        self, workspace_id: int, progress: Callable[[int], None] | None = None
    ) -> pl.DataFrame:
        """One row per product signal of the workspace, user = the surviving profile."""
        e = t.events.c
        columns: dict[str, list[Any]] = {name: [] for name in FRAME_SCHEMA}
        payload = e.payload if self.db.is_sqlite else e.payload["properties"]
        query = (
            select(e.profile_id, e.timestamp, e.event, e.seq, payload)
            .where(
                e.workspace_id == workspace_id,
                e.type == "track",
                e.event.in_(SIGNAL_EVENTS),
            )
            .order_by(e.seq)
        )
        with self.db.read() as conn:
            survivor = merged_into(conn, workspace_id)
            result = conn.execution_options(yield_per=5000).execute(query)
            for done, (profile_id, timestamp, event, seq, data) in enumerate(result, 1):
                while profile_id in survivor:  # events normally move with a merge already
                    profile_id = survivor[profile_id]
                properties = event_properties(data) if self.db.is_sqlite else data
                for signal in signals_of(event, properties):
                    columns["user_id"].append(str(profile_id))
                    columns["item_id"].append(signal.item_id)
                    columns["timestamp"].append(timestamp)
                    columns["kind"].append(int(signal.kind))
                    # An order without an id is still one basket: the event is.
                    columns["basket_id"].append(
                        signal.order_id or (f"seq:{seq}" if signal.kind is Kind.PURCHASE else None)
                    )
                    columns["quantity"].append(signal.quantity)
                if progress is not None and done % 10_000 == 0:
                    progress(10_000)
        return pl.DataFrame(columns, schema=FRAME_SCHEMA)

    def visitor_signals(
        self, workspace_id: int, identity: Identity, limit: int
    ) -> tuple[int | None, list[tuple[int, str, Any]]]:
        """The visitor's profile id (None if unknown) and (timestamp, event, properties) of
        their latest product events, newest first: one query, built once, on the serving path."""
        params = {"w": workspace_id, "k": identity[0], "v": identity[1], "n": limit}
        with self.db.read() as conn:
            rows = conn.execute(self._visitor_query, params).all()
        if not rows:
            return None, []
        events = [(r[1], r[2], event_properties(r[3])) for r in rows if r[1] is not None]
        return int(rows[0][0]), events

    async def visitor_signals_awaited(
        self, workspace_id: int, identity: Identity, limit: int
    ) -> tuple[int | None, list[tuple[int, str, Any]]]:
        """``visitor_signals`` for an async route: awaited through PostgreSQL's async pool
        while the app has it open (the event loop serves others meanwhile), else the
        synchronous read (SQLite: short and local)."""
        reads = self.db.async_reads
        if reads is None:
            return self.visitor_signals(workspace_id, identity, limit)
        params = {"w": workspace_id, "k": identity[0], "v": identity[1], "n": limit,
                  "events": list(SIGNAL_EVENTS)}  # fmt: skip
        rows = await reads.all(_VISITOR_SQL, params)
        if not rows:
            return None, []
        events = [
            (r[1], r[2], orjson.loads(r[3]) if r[3] is not None else None)
            for r in rows
            if r[1] is not None
        ]
        return int(rows[0][0]), events
