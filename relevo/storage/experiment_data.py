"""An experiment's data aggregated by the database (relevo.experiments.analysis.data): units per
arm and group from the sticky assignments, metric sums from the goal events near each unit's
exposure. One statement per answer; nothing is read row by row.

The unit is the person. A merged profile's assignment row counts for its survivor (profiles'
``merged_into`` always names the final survivor: a merge re-points earlier merges), and a
person with several rows keeps the earliest. Only the rows of merged profiles and of their
survivors need that resolution (``winners``); every other row is its own person, so the big
scan over the experiment's assignments is a plain GROUP BY. Goal events are found through
``ix_events_workspace_event_time`` (migration 0018) and joined to the assignments by their
primary key: an event's profile is always a survivor (events move on merge).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Connection, select, text

from relevo.experiments.analysis.data import (
    DAY_MS,
    CountRow,
    Grouping,
    GroupKey,
    Period,
    StoredExperiment,
    SumRow,
)
from relevo.experiments.analysis.plan import Metric, Part
from relevo.storage import schema as t
from relevo.storage.database import Database

_FAR = 2**62
_TINY, _HUGE = "1e-100", "1e100"  # a property's magnitudes kept (see _value)
# An arm's first or last exposure: one end of the (experiment, variation, exposed_at) index.
# ORDER BY ... LIMIT 1, not MIN/MAX: without statistics PostgreSQL estimated one row and
# aggregated the whole arm (1.0 s at 500,000 rows on a never-vacuumed table) instead of
# reading the index's end.
_END = """SELECT a.exposed_at FROM experiment_assignments a
    WHERE a.workspace_id = :ws AND a.experiment_id = :exp AND a.variation_id = :variation
      AND a.exposed_at >= :start AND a.exposed_at < :end
    ORDER BY a.workspace_id {order}, a.experiment_id {order}, a.variation_id {order},
             a.exposed_at {order}
    LIMIT 1"""
_DIMENSION_COLUMNS = {"device", "source", "visitor_type", "segment", "audience"}


def _dimension(alias: str, by: Grouping, postgresql: bool) -> str:
    """The column a unit keeps for grouping: audiences as text (PostgreSQL's json has no
    equality, so it cannot be grouped on), nothing for days (exposed_at is kept anyway)."""
    if by == "day":
        return "NULL"
    if by == "audience":
        return f"CAST({alias}.audiences AS TEXT)" if postgresql else f"{alias}.audiences"
    assert by in _DIMENSION_COLUMNS
    return f"{alias}.{by}"


def _rows_of(profile: str, postgresql: bool, alias: str = "a") -> str:
    """A join to the experiment's row of ``profile`` (an expression of the outer rows), made an
    index lookup for each outer row whatever the planner's statistics: SQLite keeps a CROSS
    JOIN's order; PostgreSQL runs a LATERAL subquery that OFFSET 0 keeps from being pulled up
    (without statistics it would scan every row of the experiment for each outer row)."""
    if postgresql:
        return (
            f"CROSS JOIN LATERAL (SELECT * FROM experiment_assignments r WHERE r.workspace_id = "
            f":ws AND r.experiment_id = :exp AND r.profile_id = {profile} OFFSET 0) {alias}"
        )
    return (
        f"CROSS JOIN experiment_assignments {alias} ON {alias}.workspace_id = :ws "
        f"AND {alias}.experiment_id = :exp AND {alias}.profile_id = {profile}"
    )


def _merged_into(person: str, postgresql: bool) -> str:
    """A join to the profiles merged into ``person``, by merged_into's index (as _rows_of)."""
    if postgresql:
        return (
            "CROSS JOIN LATERAL (SELECT q.id FROM profiles q "
            f"WHERE q.merged_into = {person} OFFSET 0) p"
        )
    return f"CROSS JOIN profiles p INDEXED BY ix_profiles_merged_into ON p.merged_into = {person}"


def _losers(dim: str, postgresql: bool) -> str:
    """CTE ``losers``: the rows that are not their person's: a merged profile's row, or its
    survivor's own, that an earlier row of the same person beats. Every other row is its own
    person, so units are all rows minus these."""
    # From the (few) merged profiles to their rows: left to itself SQLite would probe
    # profiles once for each of the experiment's rows.
    profiles = "profiles p" if postgresql else "profiles p INDEXED BY ix_profiles_merged_into"
    return f"""
moved AS (
    SELECT p.merged_into AS person, a.profile_id, a.variation_id, a.exposed_at,
           {dim.format(a="a")} AS dim
    FROM {profiles} {_rows_of("p.id", postgresql)}
    WHERE p.merged_into IS NOT NULL AND p.workspace_id = :ws
),
candidates AS (
    SELECT person, profile_id, variation_id, exposed_at, dim FROM moved
    UNION ALL
    SELECT s.person, a.profile_id, a.variation_id, a.exposed_at, {dim.format(a="a")}
    FROM (SELECT DISTINCT person FROM moved) s {_rows_of("s.person", postgresql)}
),
losers AS (
    SELECT variation_id, exposed_at, dim FROM (
        SELECT c.*, ROW_NUMBER() OVER (
            PARTITION BY person ORDER BY exposed_at, profile_id) AS position
        FROM candidates c) ranked
    WHERE position > 1 AND exposed_at >= :start AND exposed_at < :end
)"""


def _group(by: Grouping, alias: str, postgresql: bool) -> tuple[str, str]:
    """(the group's expression, the FROM clause's tail that produces it)."""
    if by == "day":
        return f"{alias}.exposed_at / {DAY_MS}", ""
    if by != "audience":
        return f"{alias}.dim", ""
    if postgresql:
        expand = (
            f"LEFT JOIN LATERAL json_array_elements_text(CASE WHEN json_typeof({alias}.dim::json)"
            f" = 'array' THEN {alias}.dim::json ELSE '[]'::json END) AS j(value) ON true"
        )
    else:
        expand = (
            f"LEFT JOIN json_each(CASE WHEN json_type({alias}.dim) = 'array' "
            f"THEN {alias}.dim ELSE '[]' END) j"
        )
    return "j.value", expand


def _value(part: Part, name: str, postgresql: bool, params: dict[str, Any]) -> str:
    """One event's contribution: 1 (a count) or its numeric property, 0 when it has none.

    Magnitudes are kept within [1e-100, 1e100] (smaller ones count as 0): PostgreSQL raises on
    a float's overflow or underflow where SQLite goes on, and a sum of squares must not."""
    if part.property is None:
        return "1"
    if postgresql:
        params[name] = part.property
        number = f"(e.payload -> 'properties' ->> :{name})::float8"
        test = f"jsonb_typeof(e.payload -> 'properties' -> :{name}) = 'number'"
    else:
        params[name] = '$.properties."' + part.property.replace('"', '""') + '"'
        number = f"json_extract(e.payload, :{name})"
        test = f"json_type(e.payload, :{name}) IN ('integer', 'real')"
    return (
        f"CASE WHEN NOT ({test}) THEN 0 WHEN abs({number}) < {_TINY} THEN 0 "
        f"WHEN {number} > {_HUGE} THEN {_HUGE} WHEN {number} < -{_HUGE} THEN -{_HUGE} "
        f"ELSE {number} END"
    )


def _goal_events(metrics: Sequence[Metric], postgresql: bool, params: dict[str, Any]) -> str:
    """The events any of ``metrics`` reads, once each, with per metric k: m{k} its numerator's
    part, d{k} its denominator's, n{k} 1 if it is the numerator's event, r{k} 1 if it is read."""
    events: list[str] = []
    columns: list[str] = []
    for k, metric in enumerate(metrics):
        num, den = metric.numerator, metric.denominator
        params[f"num{k}"] = num.event
        is_num = f"e.event = :num{k}"
        m = _value(num, f"nump{k}", postgresql, params)
        columns.append(f"CASE WHEN {is_num} THEN {m} ELSE 0 END AS m{k}")
        columns.append(f"CASE WHEN {is_num} THEN 1 ELSE 0 END AS n{k}")
        read = [is_num]
        if den is None:
            columns.append(f"0 AS d{k}")
        else:
            params[f"den{k}"] = den.event
            d = _value(den, f"denp{k}", postgresql, params)
            columns.append(f"CASE WHEN e.event = :den{k} THEN {d} ELSE 0 END AS d{k}")
            read.append(f"e.event = :den{k}")
        columns.append(f"CASE WHEN {' OR '.join(read)} THEN 1 ELSE 0 END AS r{k}")
        events += [num.event] + ([den.event] if den is not None else [])
    names = list(dict.fromkeys(events))
    params.update({f"event{i}": name for i, name in enumerate(names)})
    wanted = ", ".join(f":event{i}" for i in range(len(names)))
    return (
        f"SELECT e.seq, e.profile_id, e.timestamp AS ts, {', '.join(columns)} FROM events e "
        f"WHERE e.workspace_id = :ws AND e.event IN ({wanted}) AND e.type = 'track' "
        "AND e.timestamp >= :lo AND e.timestamp < :hi"
    )


def _unit_columns(metrics: Sequence[Metric]) -> tuple[str, str]:
    """Per metric k, a unit's x{k} (its value in the window), pre{k} (in the CUPED window
    before exposure), d{k} (a ratio's denominator) and v{k} (1 if it has any of the metric's
    events in either window); and the sums over units of each."""
    unit: list[str] = []
    sums: list[str] = []
    for k, metric in enumerate(metrics):
        post = f"ts >= exposed_at AND ts < exposed_at + :window{k}"
        if metric.kind == "conversion":  # 1 however many goal events the window holds
            unit.append(f"MAX(CASE WHEN n{k} = 1 AND {post} THEN 1 ELSE 0 END) AS x{k}")
            unit.append(f"MAX(CASE WHEN n{k} = 1 AND ts < exposed_at THEN 1 ELSE 0 END) AS pre{k}")
        else:
            unit.append(f"SUM(CASE WHEN {post} THEN m{k} ELSE 0 END) AS x{k}")
            unit.append(f"SUM(CASE WHEN ts < exposed_at THEN m{k} ELSE 0 END) AS pre{k}")
        unit.append(f"SUM(CASE WHEN {post} THEN d{k} ELSE 0 END) AS d{k}")
        unit.append(
            f"MAX(CASE WHEN r{k} = 1 AND ts < exposed_at + :window{k} THEN 1 ELSE 0 END) AS v{k}"
        )
        x, pre, d = f"v.x{k}", f"v.pre{k}", f"v.d{k}"
        sums += [f"SUM(v.v{k})", f"SUM({x})", f"SUM({x} * {x})", f"SUM({pre})",
                 f"SUM({pre} * {pre})", f"SUM({x} * {pre})", f"SUM({d})", f"SUM({d} * {d})",
                 f"SUM({x} * {d})"]  # fmt: skip
    return ", ".join(unit), ", ".join(sums)


class ExperimentDataStore:
    """relevo.experiments.analysis.data.ExperimentData over SQLite or PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def _postgresql(self) -> bool:
        return not self.db.is_sqlite

    def experiment(self, workspace_id: int, experiment_id: str) -> StoredExperiment | None:
        x = t.experiments.c
        with self.db.read() as conn:
            row = conn.execute(
                select(x.experiment_id, x.kind, x.status, x.definition, x.started_at).where(
                    x.workspace_id == workspace_id, x.experiment_id == experiment_id
                )
            ).first()
        if row is None:
            return None
        definition = row.definition if isinstance(row.definition, dict) else {}
        return StoredExperiment(row.experiment_id, row.kind, row.status, definition, row.started_at)

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A read transaction for the aggregates. PostgreSQL: no JIT (these plans' estimated
        cost sets it off, and compiling took 0.9 s of a 1.6 s query) and sorts in memory."""
        with self.db.read() as conn:
            if self._postgresql:
                conn.exec_driver_sql("SET LOCAL jit = off")
                conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
            yield conn

    @staticmethod
    def _params(workspace_id: int, experiment_id: str, period: Period) -> dict[str, Any]:
        return {
            "ws": workspace_id,
            "exp": experiment_id,
            "start": -_FAR if period.start is None else period.start,
            "end": _FAR if period.end is None else period.end,
        }

    def unit_counts(
        self,
        workspace_id: int,
        experiment_id: str,
        period: Period,
        by: Grouping,
        variations: Sequence[str],
    ) -> list[CountRow]:
        pg = self._postgresql
        params = self._params(workspace_id, experiment_id, period)
        dim = _dimension("{a}", by, pg)
        group, expand = _group(by, "u", pg)
        with self._reading() as conn:
            if by == "day":
                counted = self._day_counts(conn, params, variations)
            else:
                counted = self._run(conn, f"""
SELECT u.variation_id, {group} AS g, COUNT(*) FROM (
    SELECT a.variation_id, a.exposed_at, {dim.format(a="a")} AS dim
    FROM experiment_assignments a
    WHERE a.workspace_id = :ws AND a.experiment_id = :exp
      AND a.exposed_at >= :start AND a.exposed_at < :end) u {expand}
GROUP BY 1, 2""", params)  # fmt: skip
            lost = self._run(conn, f"""
WITH {_losers(dim, pg)}
SELECT u.variation_id, {group} AS g, COUNT(*) FROM losers u {expand}
GROUP BY 1, 2""", params)  # fmt: skip
        totals: dict[tuple[str, GroupKey], int] = {}
        for variation, g, n in counted:
            totals[(str(variation), g)] = totals.get((str(variation), g), 0) + int(n)
        for variation, g, n in lost:
            totals[(str(variation), g)] = totals.get((str(variation), g), 0) - int(n)
        return [CountRow(v, g, n) for (v, g), n in totals.items() if n > 0]

    def _day_counts(
        self, conn: Connection, params: dict[str, Any], variations: Sequence[str]
    ) -> list[Any]:
        """Units per (variation, exposure day), each cell counted by a range of the
        (experiment, variation, exposed_at) index: a GROUP BY would sort every row first."""
        cells: list[tuple[str, int, int, int]] = []
        for variation in variations:
            low, high = self._run(conn, f"""
SELECT ({_END.format(order="ASC")}), ({_END.format(order="DESC")})""",
                {**params, "variation": variation},
            )[0]  # fmt: skip
            if low is None:
                continue
            for day in range(low // DAY_MS, high // DAY_MS + 1):
                start = max(day * DAY_MS, params["start"])
                end = min((day + 1) * DAY_MS, params["end"])
                cells.append((variation, day, start, end))
        if not cells:
            return []
        count = """(SELECT COUNT(*) FROM experiment_assignments a
    WHERE a.workspace_id = :ws AND a.experiment_id = :exp AND a.variation_id = c.variation
      AND a.exposed_at >= c.low AND a.exposed_at < c.high)"""
        if self._postgresql:
            query = f"""SELECT c.variation, c.day, {count} FROM unnest(
    CAST(:variations AS text[]), CAST(:days AS bigint[]), CAST(:lows AS bigint[]),
    CAST(:highs AS bigint[])) AS c(variation, day, low, high)"""
            columns = list(zip(*cells, strict=True))
            values: dict[str, Any] = dict(
                zip(("variations", "days", "lows", "highs"), map(list, columns), strict=True)
            )
        else:
            query = f"""SELECT c.variation, c.day, {count} FROM (
    SELECT json_extract(value, '$[0]') AS variation, json_extract(value, '$[1]') AS day,
           json_extract(value, '$[2]') AS low, json_extract(value, '$[3]') AS high
    FROM json_each(:cells)) c"""
            values = {"cells": orjson.dumps(cells).decode()}
        return self._run(conn, query, {**params, **values})

    def metric_sums(
        self,
        workspace_id: int,
        experiment_id: str,
        metrics: Sequence[Metric],
        period: Period,
        pre_ms: int,
        by: Grouping,
    ) -> dict[str, list[SumRow]]:
        """Every metric's sums, from one pass over the events any of them reads."""
        if not metrics:
            return {}
        pg = self._postgresql
        params = self._params(workspace_id, experiment_id, period)
        widest = max(m.window_ms for m in metrics)
        params.update({f"window{k}": m.window_ms for k, m in enumerate(metrics)})
        params.update(pre=max(0, pre_ms), widest=widest)
        params["lo"] = params["start"] - params["pre"]
        params["hi"] = params["end"] + widest
        dim = _dimension("{a}", by, pg)
        group, expand = _group(by, "v", pg)
        per_unit, per_group = _unit_columns(metrics)
        carried = ", ".join(f"g.{c}{k}" for k in range(len(metrics)) for c in ("m", "n", "d", "r"))
        # Each goal event with the rows of its person: the survivor's own (by the primary key)
        # and those of profiles merged into it (by merged_into's index); the earliest is the
        # person's. Events are always on a survivor: a merge moves them.
        query = f"""
WITH goal AS ({_goal_events(metrics, pg, params)}),
candidates AS (
    SELECT g.seq, g.profile_id AS person, a.profile_id, a.variation_id, a.exposed_at,
           {dim.format(a="a")} AS dim, g.ts, {carried}
    FROM goal g {_rows_of("g.profile_id", pg)}
    UNION ALL
    SELECT g.seq, g.profile_id, a.profile_id, a.variation_id, a.exposed_at,
           {dim.format(a="a")}, g.ts, {carried}
    FROM goal g {_merged_into("g.profile_id", pg)} {_rows_of("p.id", pg)}
),
pairs AS (
    SELECT * FROM (
        SELECT c.*, ROW_NUMBER() OVER (
            PARTITION BY c.seq ORDER BY c.exposed_at, c.profile_id) AS position
        FROM candidates c) ranked
    WHERE position = 1 AND exposed_at >= :start AND exposed_at < :end
      AND ts >= exposed_at - :pre AND ts < exposed_at + :widest
),
unit_values AS (
    SELECT person, MIN(variation_id) AS variation_id, MIN(exposed_at) AS exposed_at,
           MIN(dim) AS dim, {per_unit}
    FROM pairs GROUP BY person
)
SELECT v.variation_id, {group} AS g, {per_group} FROM unit_values v {expand} GROUP BY 1, 2"""
        with self._reading() as conn:
            rows = self._run(conn, query, params)
        found: dict[str, list[SumRow]] = {m.id: [] for m in metrics}
        for r in rows:
            for k, metric in enumerate(metrics):
                values = r[2 + 9 * k : 11 + 9 * k]
                if values[0]:
                    found[metric.id].append(
                        SumRow(
                            str(r[0]), r[1], int(values[0]), *(float(v or 0) for v in values[1:])
                        )
                    )
        return found

    @staticmethod
    def _run(conn: Connection, query: str, params: Any) -> list[Any]:
        return list(conn.execute(text(query), params))
