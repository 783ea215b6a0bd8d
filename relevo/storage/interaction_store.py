"""Reads recommender signals from the event log: all of a workspace's for training, and one
visitor's latest for serving (committed events, so what was acknowledged a moment ago counts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import polars as pl
from sqlalchemy import select

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


def _properties(payload: Any) -> Any:
    if isinstance(payload, str | bytes):
        payload = orjson.loads(payload)
    return payload.get("properties") if isinstance(payload, dict) else None


class InteractionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def training_frame(
        self, workspace_id: int, progress: Callable[[int], None] | None = None
    ) -> pl.DataFrame:
        """One row per product signal of the workspace, user = the surviving profile."""
        e = t.events.c
        p = t.profiles.c
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
            survivor = dict(
                conn.execute(
                    select(p.id, p.merged_into).where(
                        p.workspace_id == workspace_id, p.merged_into.is_not(None)
                    )
                ).all()
            )
            result = conn.execution_options(yield_per=5000).execute(query)
            for done, (profile_id, timestamp, event, seq, data) in enumerate(result, 1):
                while profile_id in survivor:  # events normally move with a merge already
                    profile_id = survivor[profile_id]
                properties = _properties(data) if self.db.is_sqlite else data
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

    def profile_of(self, workspace_id: int, identity: Identity) -> int | None:
        c = t.identities.c
        with self.db.read() as conn:
            found = conn.execute(
                select(c.profile_id).where(
                    c.value == identity[1], c.kind == identity[0], c.workspace_id == workspace_id
                )
            ).scalar()
        return None if found is None else int(found)

    def recent_signals(self, profile_id: int, limit: int) -> list[tuple[int, str, Any]]:
        """(timestamp, event, properties) of the profile's latest product events, newest first."""
        e = t.events.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(e.timestamp, e.event, e.payload)
                .where(e.profile_id == profile_id, e.type == "track", e.event.in_(SIGNAL_EVENTS))
                .order_by(e.timestamp.desc(), e.seq.desc())
                .limit(limit)
            ).all()
        return [(r[0], r[1], _properties(r[2])) for r in rows]
