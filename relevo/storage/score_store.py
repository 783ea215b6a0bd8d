"""Profile scores (relevo.scores) in the database, and the orders they are computed from.

Writing a training's scores replaces the workspace's rows in one transaction, under the ingest
lock that an erasure takes too: an erasure either commits first (and the rows of people who
are no longer there are deleted before this commits) or after (and deletes their rows itself),
so a training never brings an erased person's scores back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import polars as pl
from sqlalchemy import delete, insert, select

from relevo.profiles.state import order_revenue
from relevo.scores.features import ORDER_SCHEMA
from relevo.scores.records import NO_SCORES, ProfileScore
from relevo.storage import schema as t
from relevo.storage.database import Database
from relevo.storage.interaction_store import event_properties, merged_into

ORDER_EVENT = "Order Completed"


class ScoreStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def orders_frame(
        self, workspace_id: int, progress: Callable[[int], None] | None = None
    ) -> pl.DataFrame:
        """(customer_id = the surviving profile id, timestamp, value): one row per order."""
        e = t.events.c
        payload = e.payload if self.db.is_sqlite else e.payload["properties"]
        query = (
            select(e.profile_id, e.timestamp, payload)
            .where(e.workspace_id == workspace_id, e.type == "track", e.event == ORDER_EVENT)
            .order_by(e.seq)
        )
        ids: list[str] = []
        times: list[int] = []
        values: list[float] = []
        with self.db.read() as conn:
            survivor = merged_into(conn, workspace_id)
            result = conn.execution_options(yield_per=5000).execute(query)
            for done, (profile_id, timestamp, data) in enumerate(result, 1):
                while profile_id in survivor:
                    profile_id = survivor[profile_id]
                properties = event_properties(data) if self.db.is_sqlite else data
                ids.append(str(profile_id))
                times.append(int(timestamp))
                values.append(order_revenue(properties) if isinstance(properties, dict) else 0.0)
                if progress is not None and done % 10_000 == 0:
                    progress(10_000)
        return pl.DataFrame(
            {"customer_id": ids, "timestamp": times, "value": values}, schema=ORDER_SCHEMA
        )

    def replace(self, workspace_id: int, scores: Sequence[ProfileScore]) -> int:
        """The workspace's scores become these (of the profiles that still exist); returns how
        many rows were written."""
        s, p = t.profile_scores.c, t.profiles.c
        with self.db.write() as conn:
            self.db.lock_ingest(conn)
            conn.execute(delete(t.profile_scores).where(s.workspace_id == workspace_id))
            rows = [score.row(workspace_id) for score in scores]
            for start in range(0, len(rows), 1000):
                conn.execute(insert(t.profile_scores), rows[start : start + 1000])
            living = select(p.id).where(p.workspace_id == workspace_id, p.merged_into.is_(None))
            gone = conn.execute(
                delete(t.profile_scores).where(
                    s.workspace_id == workspace_id, s.profile_id.not_in(living)
                )
            ).rowcount
        return len(rows) - gone

    def of_profile(self, workspace_id: int, profile_id: int) -> ProfileScore | None:
        s = t.profile_scores.c
        with self.db.read() as conn:
            row = conn.execute(
                select(t.profile_scores).where(
                    s.workspace_id == workspace_id, s.profile_id == profile_id
                )
            ).first()
        return None if row is None else ProfileScore.from_row(dict(row._mapping))

    def document(self, workspace_id: int, profile_id: int) -> dict[str, Any]:
        """The profile's scores as conditions see them (all None before a training)."""
        score = self.of_profile(workspace_id, profile_id)
        return dict(NO_SCORES) if score is None else score.document()

    def documents(self, workspace_id: int, profile_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The scores of those of ``profile_ids`` that have some, as conditions see them."""
        s = t.profile_scores.c
        found: dict[int, dict[str, Any]] = {}
        with self.db.read() as conn:
            for start in range(0, len(profile_ids), 500):
                rows = conn.execute(
                    select(t.profile_scores).where(
                        s.workspace_id == workspace_id,
                        s.profile_id.in_(profile_ids[start : start + 500]),
                    )
                )
                for row in rows:
                    score = ProfileScore.from_row(dict(row._mapping))
                    found[int(row.profile_id)] = score.document()
        return found

    def segment_sizes(self, workspace_id: int) -> dict[str, int]:
        """Profiles per segment id now (a prospect's None left out)."""
        from sqlalchemy import func

        s = t.profile_scores.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(s.segment_id, func.count())
                .where(s.workspace_id == workspace_id, s.segment_id.is_not(None))
                .group_by(s.segment_id)
            ).all()
        return {str(r[0]): int(r[1]) for r in rows}
