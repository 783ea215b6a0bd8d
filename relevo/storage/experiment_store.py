"""Experiments and their sticky assignments, in the database.

Definitions are stored as validated (relevo.experiments.model), their state (status, start
and stop) in columns of their own; the winner of a shipped one rides in the definition's JSON
under ``_winner`` (migration 0016 gave it no column), never shown as part of the definition;
an adaptive experiment's current traffic weights ride the same way under ``_allocation``.
Servers cache a workspace's running experiments and look for changes with ``revision``
(relevo.storage.revisions: every save or change of state stamps ``updated_at``).

An assignment row is written by the ingest transaction that stores the profile's first
``Experiment Viewed`` event for the experiment (``record_assignments``): first exposure wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, delete, func, select, union_all
from sqlalchemy import update as update_rows

from relevo.errors import ConflictError
from relevo.experiments.exposure import ExperimentExposure
from relevo.storage import schema as t
from relevo.storage.database import Database
from relevo.storage.revisions import next_stamp

MAX_EXPERIMENTS = 1000  # per workspace
MAX_AUDIENCES = 50  # audience ids kept per assignment: for breakdowns, not a membership record
_WINNER = "_winner"
_ALLOCATION = "_allocation"  # relevo.experiments.allocation: the bandit's current weights
# The columns' lengths (relevo.storage.schema experiment_assignments).
_ID_CHARS = 64
_CUTS = {"device": 32, "source": 64, "visitor_type": 16, "segment": 64}


@dataclass(frozen=True)
class StoredExperiment:
    definition: dict[str, Any]
    status: str
    winner: str | None
    created_at: int
    updated_at: int
    started_at: int | None
    stopped_at: int | None
    allocation: dict[str, Any] | None = None  # thompson: weights, reason, probability_best, at


@dataclass(frozen=True)
class Assigned:
    """One of a person's assignments: the variation of the profile exposed first."""

    variation_id: str
    exposed_at: int
    profile_id: int


def _stored(row: Any) -> StoredExperiment:
    definition = dict(row.definition)
    winner = definition.pop(_WINNER, None)
    allocation = definition.pop(_ALLOCATION, None)
    return StoredExperiment(
        definition, row.status, winner, int(row.created_at), int(row.updated_at),
        None if row.started_at is None else int(row.started_at),
        None if row.stopped_at is None else int(row.stopped_at),
        allocation if isinstance(allocation, dict) else None,
    )  # fmt: skip


def _assigned_query() -> Any:
    """SQLite: the profile's own rows and those of every profile merged into it
    (profiles.merged_into names the survivor directly, however many merges led there). The
    merged profiles as an IN subquery: as a join, SQLite without statistics walked the
    workspace's assignments."""
    a = t.experiment_assignments.c
    columns = (a.experiment_id, a.variation_id, a.exposed_at, a.profile_id)
    mine = a.workspace_id == bindparam("w")
    merged = select(t.profiles.c.id).where(t.profiles.c.merged_into == bindparam("p"))
    return union_all(
        select(*columns).where(mine, a.profile_id == bindparam("p")),
        select(*columns).where(mine, a.profile_id.in_(merged)),
    )


# Built once: it runs on every decision of an identified or returning visitor.
_ASSIGNED = _assigned_query()
# PostgreSQL: the person's profile ids as one array computed first, then one index scan. As a
# join or an IN subquery, a planner without statistics (a fresh table) hashed every assignment
# of the workspace (p99 20 ms at 66,000 rows).
_ASSIGNED_SQL = """
SELECT experiment_id, variation_id, exposed_at, profile_id FROM experiment_assignments
WHERE workspace_id = %(w)s AND profile_id = ANY(ARRAY(
    SELECT %(p)s::bigint UNION ALL SELECT id FROM profiles WHERE merged_into = %(p)s
))
"""


def _earliest(rows: Sequence[Sequence[Any]]) -> dict[str, Assigned]:
    found: dict[str, Assigned] = {}
    for experiment_id, variation_id, exposed_at, profile_id in rows:
        candidate = Assigned(variation_id, int(exposed_at), int(profile_id))
        held = found.get(experiment_id)
        if held is None or (candidate.exposed_at, candidate.profile_id) < (
            held.exposed_at, held.profile_id
        ):  # fmt: skip
            found[experiment_id] = candidate
    return found


def _cut(value: str | None, most: int) -> str | None:
    return None if value is None else value[:most]


def assignment_rows(
    workspace_id: int, exposures: Sequence[tuple[ExperimentExposure, int, int]]
) -> list[dict[str, Any]]:
    """One row per (experiment, profile) of (exposure, profile id, event time): the earliest,
    within the column lengths. An experiment or variation id too long for its column cannot
    name an experiment (their ids are at most 64 characters): no row."""
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for exposure, profile_id, exposed_at in exposures:
        if len(exposure.experiment_id) > _ID_CHARS or len(exposure.variation_id) > _ID_CHARS:
            continue
        key = (exposure.experiment_id, profile_id)
        held = rows.get(key)
        if held is not None and held["exposed_at"] <= exposed_at:
            continue
        rows[key] = {
            "workspace_id": workspace_id,
            "experiment_id": exposure.experiment_id,
            "profile_id": profile_id,
            "variation_id": exposure.variation_id,
            "exposed_at": exposed_at,
            **{name: _cut(getattr(exposure, name), most) for name, most in _CUTS.items()},
            "audiences": [a[:_ID_CHARS] for a in exposure.audiences[:MAX_AUDIENCES]],
        }
    return list(rows.values())


_COLUMNS = ("workspace_id", "experiment_id", "profile_id", "variation_id", "exposed_at",
            "device", "source", "visitor_type", "segment", "audiences")  # fmt: skip
_PG_TYPES = ("int", "text", "bigint", "text", "bigint", "text", "text", "text", "text", "json")
_NAMES = ", ".join(_COLUMNS)
# Driver-level, on the ingest's hot path: SQLAlchemy's per-row parameter processing cost more
# than the insert (100 rows: PostgreSQL 6.1 -> 4.1 ms as one unnest, SQLite 1.1 -> 0.6 ms).
_INSERT_PG = (
    f"INSERT INTO experiment_assignments ({_NAMES}) SELECT * FROM unnest("
    + ", ".join(f"%s::{kind}[]" for kind in _PG_TYPES)
    + ") ON CONFLICT DO NOTHING"
)
_INSERT_SQLITE = (
    f"INSERT INTO experiment_assignments ({_NAMES}) VALUES ({', '.join('?' for _ in _COLUMNS)}) "
    "ON CONFLICT DO NOTHING"
)


def record_assignments(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """In the ingest transaction: a profile already assigned keeps its variation (``rows``:
    one per experiment and profile, as ``assignment_rows`` makes them)."""
    if not rows:
        return
    tuples = [
        tuple(orjson.dumps(row[c]).decode() if c == "audiences" else row[c] for c in _COLUMNS)
        for row in rows
    ]
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            _INSERT_PG, tuple(list(column) for column in zip(*tuples, strict=True))
        )
    else:
        conn.exec_driver_sql(_INSERT_SQLITE, tuples)


def forget_assignments(conn: Connection, workspace_id: int, profile_ids: Sequence[int]) -> int:
    """Erasure: the assignments of these profiles (the erasure's transaction)."""
    a = t.experiment_assignments.c
    gone = 0
    for start in range(0, len(profile_ids), 500):
        part = list(profile_ids[start : start + 500])
        gone += conn.execute(
            delete(t.experiment_assignments).where(
                a.workspace_id == workspace_id, a.profile_id.in_(part)
            )
        ).rowcount
    return gone


class ExperimentStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- definitions and state -----------------------------------------------------------------
    def experiments(self, workspace_id: int) -> list[StoredExperiment]:
        c = t.experiments.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.experiments)
                .where(c.workspace_id == workspace_id)
                .order_by(c.experiment_id)
            ).all()
        return [_stored(r) for r in rows]

    def experiment(self, workspace_id: int, experiment_id: str) -> StoredExperiment | None:
        c = t.experiments.c
        with self.db.read() as conn:
            row = conn.execute(
                select(t.experiments).where(
                    c.workspace_id == workspace_id, c.experiment_id == experiment_id
                )
            ).first()
        return None if row is None else _stored(row)

    def save(
        self, workspace_id: int, experiment_id: str, kind: str, subject_id: str | None,
        definition: dict[str, Any], now_ms: int, *, create: bool, replace: bool,
        status: str = "draft",
    ) -> bool | None:  # fmt: skip
        """Insert (``create``, as ``status``) and/or replace the definition (``replace``),
        keeping the state; True: created, False: replaced, None: neither allowed."""
        table = t.experiments
        c = table.c
        mine = (c.workspace_id == workspace_id, c.experiment_id == experiment_id)
        with self.db.write() as conn:
            stamp = next_stamp(conn, table, workspace_id, now_ms)
            held = conn.execute(select(c.definition).where(*mine)).scalar_one_or_none()
            if held is not None:
                if not replace:
                    return None
                state = {k: v for k, v in dict(held).items() if k in (_WINNER, _ALLOCATION)}
                kept = {**definition, **state}
                conn.execute(
                    update_rows(table)
                    .where(*mine)
                    .values(definition=kept, kind=kind, subject_id=subject_id, updated_at=stamp)
                )
                return False
            if not create:
                return None
            count = conn.execute(
                select(func.count()).where(c.workspace_id == workspace_id)
            ).scalar_one()
            if count >= MAX_EXPERIMENTS:
                raise ConflictError(
                    f"a workspace has at most {MAX_EXPERIMENTS} experiments; delete some first"
                )
            conn.execute(
                table.insert().values(
                    workspace_id=workspace_id, experiment_id=experiment_id, kind=kind,
                    subject_id=subject_id, status=status, definition=definition,
                    created_at=stamp, updated_at=stamp,
                    started_at=stamp if status == "running" else None,
                )
            )  # fmt: skip
            return True

    def start(self, workspace_id: int, experiment_id: str, now_ms: int) -> str | None:
        """Running from now, unless another experiment already runs on the same subject:
        then its id (nothing changed). Checked and set in one transaction, the subject's rows
        locked, so two starts racing on PostgreSQL cannot both win."""
        table = t.experiments
        c = table.c
        with self.db.write() as conn:
            kind, subject = conn.execute(
                select(c.kind, c.subject_id).where(
                    c.workspace_id == workspace_id, c.experiment_id == experiment_id
                )
            ).one()
            same_subject = conn.execute(
                select(c.experiment_id, c.status)
                .where(c.workspace_id == workspace_id, c.kind == kind, c.subject_id == subject)
                .order_by(c.experiment_id)
                .with_for_update()
            ).all()
            for other, status in same_subject:
                if other != experiment_id and status == "running":
                    return str(other)
            stamp = next_stamp(conn, table, workspace_id, now_ms)
            conn.execute(
                update_rows(table)
                .where(c.workspace_id == workspace_id, c.experiment_id == experiment_id)
                .values(
                    status="running",
                    started_at=func.coalesce(c.started_at, stamp),
                    stopped_at=None,
                    updated_at=stamp,
                )
            )
        return None

    def set_state(
        self, workspace_id: int, experiment_id: str, status: str, now_ms: int,
        *, winner: str | None = None,
    ) -> None:  # fmt: skip
        """Stopped or shipped (with its winner) from now; the first stop's time is kept."""
        table = t.experiments
        c = table.c
        mine = (c.workspace_id == workspace_id, c.experiment_id == experiment_id)
        with self.db.write() as conn:
            stamp = next_stamp(conn, table, workspace_id, now_ms)
            values: dict[str, Any] = {
                "status": status,
                "stopped_at": func.coalesce(c.stopped_at, stamp),
                "updated_at": stamp,
            }
            if winner is not None:
                definition = dict(conn.execute(select(c.definition).where(*mine)).scalar_one())
                values["definition"] = {**definition, _WINNER: winner}
            conn.execute(update_rows(table).where(*mine).values(**values))

    def set_allocation(
        self, workspace_id: int, experiment_id: str, allocation: dict[str, Any], now_ms: int
    ) -> None:
        """An adaptive experiment's next traffic weights (stamped: servers' caches see it)."""
        table = t.experiments
        c = table.c
        mine = (c.workspace_id == workspace_id, c.experiment_id == experiment_id)
        with self.db.write() as conn:
            held = conn.execute(select(c.definition).where(*mine)).scalar_one_or_none()
            if held is None:
                return
            stamp = next_stamp(conn, table, workspace_id, now_ms)
            definition = {**dict(held), _ALLOCATION: allocation}
            conn.execute(
                update_rows(table).where(*mine).values(definition=definition, updated_at=stamp)
            )

    def running_everywhere(self) -> list[tuple[int, StoredExperiment]]:
        """Every workspace's running experiments (the allocation job's round)."""
        c = t.experiments.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.experiments)
                .where(c.status == "running", c.kind != "holdout")
                .order_by(c.workspace_id, c.experiment_id)
            ).all()
        return [(int(r.workspace_id), _stored(r)) for r in rows]

    def delete(self, workspace_id: int, experiment_id: str) -> int | None:
        """The experiment and its assignments: how many of those went, or None if absent."""
        c = t.experiments.c
        a = t.experiment_assignments.c
        with self.db.write() as conn:
            gone = conn.execute(
                delete(t.experiments).where(
                    c.workspace_id == workspace_id, c.experiment_id == experiment_id
                )
            ).rowcount
            if not gone:
                return None
            return int(
                conn.execute(
                    delete(t.experiment_assignments).where(
                        a.workspace_id == workspace_id, a.experiment_id == experiment_id
                    )
                ).rowcount
            )

    def revision(self, workspace_id: int) -> tuple[int, int]:
        """(experiments, their latest update): changes with any save, start, stop or ship."""
        c = t.experiments.c
        with self.db.read() as conn:
            count, latest = conn.execute(
                select(func.count(), func.max(c.updated_at)).where(c.workspace_id == workspace_id)
            ).one()
        return int(count), int(latest or 0)

    # -- assignments ---------------------------------------------------------------------------
    def assigned(self, workspace_id: int, profile_id: int) -> dict[str, str]:
        """The person's variation per experiment: over the profile and every profile merged
        into it, the earliest exposure's."""
        return {e: a.variation_id for e, a in self.assignments_of(workspace_id, profile_id).items()}

    def assignments_of(self, workspace_id: int, profile_id: int) -> dict[str, Assigned]:
        params = {"w": workspace_id, "p": profile_id}
        with self.db.read() as conn:
            if self.db.is_sqlite:
                rows = conn.execute(_ASSIGNED, params).all()
            else:
                rows = conn.exec_driver_sql(_ASSIGNED_SQL, params).all()
        return _earliest(rows)

    async def assigned_awaited(self, workspace_id: int, profile_id: int) -> dict[str, str]:
        """``assigned`` for the event loop: awaited through PostgreSQL's async pool while the
        app has it open, else read at once (SQLite: short and local)."""
        reads = self.db.async_reads
        if reads is None:
            return self.assigned(workspace_id, profile_id)
        rows = await reads.all(_ASSIGNED_SQL, {"w": workspace_id, "p": profile_id})
        return {e: a.variation_id for e, a in _earliest(rows).items()}

    def assignment_counts(self, workspace_id: int, experiment_id: str) -> dict[str, int]:
        """Profiles assigned to each variation (every exposed profile, merged ones included)."""
        a = t.experiment_assignments.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(a.variation_id, func.count())
                .where(a.workspace_id == workspace_id, a.experiment_id == experiment_id)
                .group_by(a.variation_id)
            ).all()
        return {str(v): int(n) for v, n in rows}
