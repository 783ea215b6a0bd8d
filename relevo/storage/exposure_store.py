"""Exposure counters (how often each experience was shown to a visitor, for frequency caps) and
the counts of refused decision tokens. Each exposure is an upsert that adds to the counters in
the database (``count = count + 1``), so concurrent decisions never lose one; the decisions'
recorder (relevo.decide.recorder) writes many in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from relevo.decide.exposures import Exposure
from relevo.decide.frequency import ExposureCounts
from relevo.storage import schema as t
from relevo.storage.database import Database

_COUNTS_SQL = """
SELECT experience_id, lifetime, first_at, last_at, day, day_count, session_key, session_count
FROM experience_exposures WHERE workspace_id = %(w)s AND visitor = ANY(%(v)s)
"""


def _counts_query() -> Any:
    c = t.experience_exposures.c
    columns = (c.experience_id, c.lifetime, c.first_at, c.last_at, c.day, c.day_count,
               c.session_key, c.session_count)  # fmt: skip
    visitors: Any = bindparam("v", expanding=True)
    return select(*columns).where(c.workspace_id == bindparam("w"), c.visitor.in_(visitors))


# Built once: on the decision's path, building the statement cost more than running it.
_COUNTS = _counts_query()


class ExposureStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._upsert_statement: Any = None

    def _insert(self, table: Any) -> Any:
        return (sqlite.insert if self.db.is_sqlite else postgresql.insert)(table)

    def counts(self, workspace_id: int, visitors: Sequence[str]) -> dict[str, list[ExposureCounts]]:
        """Every counter row of these visitor keys, by experience id."""
        if not visitors:
            return {}
        with self.db.read() as conn:
            rows = conn.execute(_COUNTS, {"w": workspace_id, "v": list(visitors)}).all()
        found: dict[str, list[ExposureCounts]] = {}
        for row in rows:
            found.setdefault(row[0], []).append(ExposureCounts(*row[1:]))
        return found

    def _upsert(self) -> Any:
        """One statement for every exposure (built once: building it cost more than running
        it): each row adds one to its counters, in the row's day and session."""
        if self._upsert_statement is None:
            table = t.experience_exposures
            c = table.c
            insert = self._insert(table)
            new = insert.excluded
            self._upsert_statement = insert.on_conflict_do_update(
                index_elements=["workspace_id", "visitor", "experience_id"],
                set_={
                    "lifetime": c.lifetime + 1,
                    "last_at": new.last_at,
                    "day_count": case((c.day == new.day, c.day_count + 1), else_=1),
                    "day": new.day,
                    "session_count": case(
                        (c.session_key == new.session_key, c.session_count + 1), else_=1
                    ),
                    "session_key": new.session_key,
                },
            )
        return self._upsert_statement

    async def counts_awaited(
        self, workspace_id: int, visitors: Sequence[str]
    ) -> dict[str, list[ExposureCounts]]:
        """``counts`` for the event loop: awaited through PostgreSQL's async pool while the
        app has it open, else read at once (SQLite: short and local)."""
        reads = self.db.async_reads
        if reads is None or not visitors:
            return self.counts(workspace_id, visitors)
        rows = await reads.all(_COUNTS_SQL, {"w": workspace_id, "v": list(visitors)})
        found: dict[str, list[ExposureCounts]] = {}
        for row in rows:
            found.setdefault(row[0], []).append(ExposureCounts(*row[1:]))
        return found

    def record_many(self, exposures: Sequence[Exposure]) -> None:
        """Each exposure adds one to its experiences' counters of its visitor key, in its day
        and session; all of them in one transaction, one statement."""
        rows = [
            {"workspace_id": exposure.workspace_id, "visitor": exposure.visitor,
             "experience_id": experience_id, "lifetime": 1, "first_at": exposure.now_ms,
             "last_at": exposure.now_ms, "day": exposure.day, "day_count": 1,
             "session_key": exposure.session_key, "session_count": 1}
            for exposure in exposures
            for experience_id in sorted(set(exposure.experience_ids))
        ]  # fmt: skip
        if not rows:
            return
        # The same counter twice in one statement would conflict with itself (PostgreSQL
        # refuses that): one statement per round of repeats.
        rounds: list[list[dict[str, Any]]] = []
        seen: dict[tuple[Any, ...], int] = {}
        for row in rows:
            key = (row["workspace_id"], row["visitor"], row["experience_id"])
            index = seen.get(key, 0)
            seen[key] = index + 1
            if index == len(rounds):
                rounds.append([])
            rounds[index].append(row)
        with self.db.write() as conn:
            for batch in rounds:
                conn.execute(self._upsert(), batch)

    def forget(
        self, workspace_id: int, profile_ids: Sequence[int], identity_keys: Sequence[str] = ()
    ) -> int:
        """Erasure: the counters kept under these profiles, and under these identities' keys
        (relevo.decide.exposures.identity_key: before the profile existed)."""
        keys = [f"p:{p}" for p in profile_ids] + list(identity_keys)
        if not keys:
            return 0
        c = t.experience_exposures.c
        with self.db.write() as conn:
            return int(
                conn.execute(
                    delete(t.experience_exposures).where(
                        c.workspace_id == workspace_id, c.visitor.in_(keys)
                    )
                ).rowcount
            )

    def refused(self, workspace_id: int, refusals: Sequence[tuple[str, str]], now_ms: int) -> None:
        """Count refused tokens: (experience id or '' when none could be read, reason)."""
        if not refusals:
            return
        by_key: dict[tuple[str, str], int] = {}
        for experience_id, reason in refusals:
            key = (experience_id[:64], reason[:32])
            by_key[key] = by_key.get(key, 0) + 1
        table = t.decision_refusals
        c = table.c
        with self.db.write() as conn:
            for (experience_id, reason), count in sorted(by_key.items()):
                insert = self._insert(table)
                conn.execute(
                    insert.values(
                        workspace_id=workspace_id,
                        experience_id=experience_id,
                        reason=reason,
                        count=count,
                        last_at=now_ms,
                    ).on_conflict_do_update(
                        index_elements=["workspace_id", "experience_id", "reason"],
                        set_={"count": c.count + count, "last_at": now_ms},
                    )
                )

    def refusals(self, workspace_id: int) -> list[tuple[str, str, int, int]]:
        """(experience id or '', reason, count, last time) of the workspace's refused tokens."""
        c = t.decision_refusals.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(c.experience_id, c.reason, c.count, c.last_at)
                .where(c.workspace_id == workspace_id)
                .order_by(c.experience_id, c.reason)
            ).all()
        return [(r[0], r[1], int(r[2]), int(r[3])) for r in rows]
