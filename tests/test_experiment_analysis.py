"""The aggregation of experiment data, on both backends: the sums the database computes
(relevo.storage.experiment_data) are the ones computed directly from the raw rows, whatever the
merges (a merged profile's row counts for its survivor; a person keeps the earliest row), the
windows (conversions after the window or before exposure do not count; the CUPED pre-period
does), the period and the grouping (days, a dimension, audiences)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relevo.experiments.analysis.data import DAY_MS, Grouping, GroupKey, Period
from relevo.experiments.analysis.plan import Metric, metric_from, plan_from_definition
from relevo.experiments.analysis.results import totals
from relevo.experiments.analysis.sums import Sums, cells
from relevo.services import Services
from relevo.storage import schema as t
from relevo.storage.bulk import create_profiles, insert_tuples
from relevo.storage.experiment_data import ExperimentDataStore

BASE = 1_780_000_000_000
HOUR = 3_600_000
VARIATIONS = ["control", "b"]
ORDER = "Order Completed"
DEVICES = ["mobile", "desktop", None]
METRICS = [
    metric_from({"id": "orders", "event": ORDER, "metric": "conversion", "window_hours": 24}),
    metric_from({"id": "revenue", "event": ORDER, "metric": "revenue", "window_hours": 48}),
    metric_from({"id": "aov", "event": "Order Completed", "metric": "aov", "window_hours": 48}),
    metric_from({"id": "clicks", "event": "Clicked", "metric": "ratio", "property": "value",
                 "denominator": {"event": "Viewed", "property": None}, "window_hours": 12}),
]  # fmt: skip
PRE_MS = 2 * DAY_MS


@dataclass(frozen=True)
class Row:
    profile: int  # an index into the dataset's profiles
    variation: str
    exposed_at: int
    device: str | None
    audiences: tuple[str, ...]


@dataclass(frozen=True)
class Event:
    person: int  # a surviving profile's index
    name: str
    at: int
    properties: dict[str, Any]


@dataclass(frozen=True)
class Dataset:
    profiles: int
    merged_into: dict[int, int]  # profile index -> survivor index
    rows: list[Row]
    events: list[Event]


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    count = draw(st.integers(2, 12))
    survivors = list(range(count))
    merged: dict[int, int] = {}
    for profile in range(count):
        if profile > 0 and draw(st.booleans()) and draw(st.booleans()):
            target = draw(
                st.sampled_from([p for p in survivors if p != profile and p not in merged])
            )
            merged[profile] = target
    # A survivor's own merges point to the final survivor (as a merge re-points them).
    merged = {p: merged.get(s, s) for p, s in merged.items() if merged.get(s, s) != p}
    rows = []
    for profile in draw(st.lists(st.integers(0, count - 1), unique=True, max_size=count)):
        rows.append(
            Row(
                profile,
                draw(st.sampled_from(VARIATIONS)),
                BASE + draw(st.integers(0, 4 * DAY_MS)),
                draw(st.sampled_from(DEVICES)),
                tuple(draw(st.lists(st.sampled_from(["a1", "a2"]), unique=True, max_size=2))),
            )
        )
    living = [p for p in range(count) if p not in merged]
    events = []
    for _ in range(draw(st.integers(0, 25))):
        name = draw(st.sampled_from(["Order Completed", "Clicked", "Viewed", "Other"]))
        value = draw(
            st.one_of(
                st.integers(-5, 100),
                st.floats(0, 100),
                st.floats(1e99, 1e101),
                st.none(),
                st.just("x"),
            )
        )
        events.append(
            Event(
                draw(st.sampled_from(living)),
                name,
                BASE + draw(st.integers(-3 * DAY_MS, 6 * DAY_MS)),
                {"revenue": value, "value": value} if value is not None else {},
            )
        )
    return Dataset(count, merged, rows, events)


def load(services: Services, data: Dataset) -> tuple[int, list[int]]:
    workspace = services.workspaces.create(f"x-{uuid.uuid4().hex[:10]}").workspace.id
    with services.db.write() as conn:
        profile = {"workspace_id": workspace, "created_at": BASE, "updated_at": BASE,
                   "traits": {}, "trait_times": {}, "computed": {}}  # fmt: skip
        ids = create_profiles(conn, [profile] * data.profiles)
        for merged, survivor in data.merged_into.items():
            conn.execute(
                t.profiles.update()
                .where(t.profiles.c.id == ids[merged])
                .values(merged_into=ids[survivor])
            )
        insert_tuples(
            conn,
            t.experiment_assignments,
            ["workspace_id", "experiment_id", "profile_id", "variation_id", "exposed_at",
             "device", "audiences"],
            [(workspace, "exp", ids[r.profile], r.variation, r.exposed_at, r.device,
              orjson.dumps(list(r.audiences)).decode()) for r in data.rows],
        )  # fmt: skip
        insert_tuples(
            conn,
            t.events,
            ["workspace_id", "message_id", "profile_id", "type", "event", "timestamp",
             "received_at", "payload"],
            [(workspace, f"m{n}", ids[e.person], "track", e.name, e.at, e.at,
              orjson.dumps({"properties": e.properties}).decode())
             for n, e in enumerate(data.events)],
        )  # fmt: skip
    return workspace, ids


def _value(properties: dict[str, Any], name: str | None) -> float:
    if name is None:
        return 1.0
    value = properties.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool) or abs(value) < 1e-100:
        return 0.0
    return max(-1e100, min(1e100, float(value)))  # the store's bounds


def expected(
    data: Dataset, metric: Metric, period: Period, by: Grouping
) -> dict[tuple[str, GroupKey], Sums]:
    """The sums, straight from the rows: the oracle."""
    person_rows: dict[int, list[Row]] = defaultdict(list)
    for r in data.rows:
        person_rows[data.merged_into.get(r.profile, r.profile)].append(r)
    found: dict[tuple[str, GroupKey], Sums] = defaultdict(Sums)
    for person, rows in person_rows.items():
        row = min(rows, key=lambda r: (r.exposed_at, r.profile))
        if period.start is not None and row.exposed_at < period.start:
            continue
        if period.end is not None and row.exposed_at >= period.end:
            continue
        x = pre = d = 0.0
        posted = before = False
        for e in data.events:
            if e.person != person:
                continue
            inside = row.exposed_at <= e.at < row.exposed_at + metric.window_ms
            earlier = row.exposed_at - PRE_MS <= e.at < row.exposed_at
            if e.name == metric.numerator.event:
                value = _value(e.properties, metric.numerator.property)
                x += value if inside else 0
                pre += value if earlier else 0
                posted, before = posted or inside, before or earlier
            den = metric.denominator
            if den is not None and e.name == den.event and inside:
                d += _value(e.properties, den.property)
        if metric.kind == "conversion":
            x, pre = float(posted), float(before)
        valued = (
            posted
            or before
            or (d != 0)
            or any(
                e.person == person
                and e.name in {metric.numerator.event, getattr(metric.denominator, "event", None)}
                and row.exposed_at - PRE_MS <= e.at < row.exposed_at + metric.window_ms
                for e in data.events
            )
        )
        keys: list[GroupKey]
        if by == "day":
            keys = [row.exposed_at // DAY_MS]
        elif by == "audience":
            keys = list(row.audiences) or [None]
        else:
            keys = [row.device]
        for key in keys:
            found[(row.variation, key)] += Sums(
                1, int(valued), x, x * x, pre, pre * pre, x * pre, d, d * d, x * d
            )
    return dict(found)


def measured(
    store: ExperimentDataStore, workspace: int, metric: Metric, period: Period, by: Grouping
) -> dict[tuple[str, GroupKey], Sums]:
    counts = store.unit_counts(workspace, "exp", period, by, VARIATIONS)
    sums = store.metric_sums(workspace, "exp", [metric], period, PRE_MS, by)
    return cells(counts, sums[metric.id])


def close(a: dict[tuple[str, GroupKey], Sums], b: dict[tuple[str, GroupKey], Sums]) -> None:
    keys = {k for k, s in a.items() if s.n} | {k for k, s in b.items() if s.n}
    for key in keys:
        left, right = a.get(key, Sums()), b.get(key, Sums())
        assert left.n == right.n, (key, left, right)
        for name in ("x", "xx", "pre", "pp", "xp", "d", "dd", "xd"):
            assert getattr(left, name) == pytest.approx(getattr(right, name), abs=1e-6), (
                key, name, left, right
            )  # fmt: skip


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=datasets(),
    by=st.sampled_from(["day", "device", "audience"]),
    bounded=st.booleans(),
)
def test_the_sums_are_those_of_the_raw_rows(
    services: Services, data: Dataset, by: Grouping, bounded: bool
) -> None:
    workspace, _ = load(services, data)
    store = ExperimentDataStore(services.db)
    period = Period(BASE + DAY_MS, BASE + 3 * DAY_MS) if bounded else Period()
    counts = store.unit_counts(workspace, "exp", period, by, VARIATIONS)
    together = store.metric_sums(workspace, "exp", METRICS, period, PRE_MS, by)
    for metric in METRICS:
        want = expected(data, metric, period, by)
        close(measured(store, workspace, metric, period, by), want)
        close(cells(counts, together[metric.id]), want)  # all metrics in one pass


def test_a_merged_person_counts_once_in_the_arm_of_the_earliest_exposure(
    services: Services,
) -> None:
    data = Dataset(
        profiles=2,
        merged_into={1: 0},
        rows=[Row(0, "control", BASE + 5 * HOUR, "mobile", ()), Row(1, "b", BASE, "desktop", ())],
        events=[Event(0, "Order Completed", BASE + 6 * HOUR, {"revenue": 10})],
    )
    workspace, _ = load(services, data)
    store = ExperimentDataStore(services.db)
    by_arm = totals(measured(store, workspace, METRICS[1], Period(), "day"), VARIATIONS)
    assert by_arm["control"].n == 0 and by_arm["b"].n == 1
    assert by_arm["b"].x == 10


def test_the_plan_reads_a_saved_definition() -> None:
    plan = plan_from_definition(
        "e", "experience",
        {"variations": [{"id": "a", "weight": 1}, {"id": "ctl", "weight": 3}], "control": "ctl",
         "goals": [{"id": "g", "event": "Signed Up"}], "analysis": {"cuped_days": 0}},
    )  # fmt: skip
    assert plan.variations == ("ctl", "a") and plan.weights == (0.75, 0.25)
    assert plan.cuped_ms == 0 and plan.metrics[0].numerator.event == "Signed Up"
