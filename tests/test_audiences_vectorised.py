"""The two interpreters of one condition agree: per person (`Condition.matches`, request time)
and over a table of profiles (relevo.audiences.vectorised: preview, members, CSV)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relevo.audiences.behaviour import behaviour_answer, event_extension
from relevo.audiences.vectorised import Leaf, Table, Vectorised
from relevo.conditions import validate
from relevo.profiles.state import DAY_MS, ProfileRules

NOW = 1_760_000_000_000
TIMEOUT = 30 * 60_000
RULES = ProfileRules()
EXTENSIONS = [event_extension(RULES)]
PATHS = ["a", "b", "n.x", "n.y", "tags"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-3, 3, allow_nan=False),
    st.sampled_from(["x", "y", "X", "10", "2", ""]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3))


# Each table draws a kind per column, so that clean columns (all numbers, all strings, all
# booleans, with nulls), which numpy judges, are as common as mixed ones, judged row by row.
COLUMN_KINDS = {
    "numbers": st.one_of(st.none(), st.integers(-3, 3), st.floats(-3, 3, allow_nan=False)),
    "strings": st.one_of(st.none(), st.sampled_from(["x", "y", "X", "10", "2", ""])),
    "booleans": st.booleans(),
    "mixed": values,
}


def documents(kinds: dict[str, str]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def one(draw: Any) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for path in PATHS:
            if kinds[path] == "booleans" or draw(st.booleans()):
                head, _, tail = path.partition(".")
                value = draw(COLUMN_KINDS[kinds[path]])
                if tail:
                    doc.setdefault(head, {})[tail] = value
                else:
                    doc[head] = value
        return doc

    return one()


@st.composite
def computed_states(draw: Any) -> dict[str, Any]:
    days = draw(st.lists(st.integers(0, 20), max_size=6))
    if not days:
        return {}
    buckets: dict[str, int] = {}
    for day in days:
        key = str(NOW // DAY_MS - day)
        buckets[key] = buckets.get(key, 0) + 1
    return {
        "behaviour": {"E": {"d": buckets, "s": [0, 0], "last": NOW - min(days) * DAY_MS}},
        "last_seen": NOW,
    }


operators = st.sampled_from(["$eq", "$ne", "$lt", "$lte", "$gt", "$gte"])


def leaves() -> st.SearchStrategy[dict[str, Any]]:
    path = st.sampled_from(PATHS)
    comparable = st.one_of(
        st.integers(-3, 3), st.floats(-3, 3, allow_nan=False), st.sampled_from(["x", "2", "y"])
    )
    in_list = st.lists(st.one_of(st.sampled_from(["x", "y", "10"]), st.integers(-2, 2)), max_size=3)
    specs = st.one_of(
        scalars,
        st.builds(lambda op, v: {op: v}, operators, comparable),
        st.builds(lambda op, v: {op: v}, st.sampled_from(["$in", "$nin"]), in_list),
        st.builds(lambda v: {"$exists": v}, st.booleans()),
        st.builds(lambda v: {"$regex": v}, st.sampled_from(["^x", "0$", "y"])),
        st.builds(lambda v: {"$size": v}, st.integers(0, 2)),
        st.builds(lambda a, b: {"$gte": a, "$lt": b}, st.integers(-2, 1), st.integers(0, 3)),
    )
    plain = st.builds(lambda p, s: {p: s}, path, specs)
    behaviour = st.builds(
        lambda days, n: {"$event": {"name": "E", "within": f"{days}d", "count": {"$gte": n}}},
        st.integers(1, 14),
        st.integers(0, 3),
    )
    return st.one_of(plain, plain, plain, behaviour)


conditions = st.recursive(
    leaves(),
    lambda inner: st.one_of(
        st.builds(lambda cs: {"$and": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda cs: {"$or": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda cs: {"$nor": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda c: {"$not": c}, inner),
        st.builds(lambda a, b: {**a, **b}, inner, inner),
    ),
    max_leaves=6,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conditions, st.data())
def test_both_interpreters_give_the_same_members(source: dict[str, Any], data: Any) -> None:
    kinds = {path: data.draw(st.sampled_from(sorted(COLUMN_KINDS))) for path in PATHS}
    people = data.draw(
        st.lists(st.tuples(documents(kinds), computed_states()), min_size=1, max_size=25)
    )
    condition = validate(source, EXTENSIONS)
    docs = [doc for doc, _ in people]
    states = [state for _, state in people]
    one_by_one = [
        condition.matches(doc, extensions={"$event": behaviour_answer(state, NOW, TIMEOUT)})
        for doc, state in people
    ]
    table = Table(docs, states, NOW, TIMEOUT)
    assert Vectorised(condition, EXTENSIONS).mask(table).tolist() == one_by_one


def test_clean_columns_are_judged_by_numpy_not_row_by_row() -> None:
    docs = [{"a": n, "b": s} for n, s in zip([1, 2.5, None, 4], ["x", None, "y", "x"], strict=True)]
    table = Table(docs, [{}] * 4, NOW, TIMEOUT)
    for source, expected in [
        ({"a": {"$gte": 2}}, [False, True, False, True]),
        ({"a": {"$lt": 1}}, [False, False, True, False]),  # null reads as 0
        ({"b": "x"}, [True, False, False, True]),
        ({"b": {"$in": ["y"]}}, [False, False, True, False]),
        ({"b": {"$exists": False}}, [False, True, False, False]),
    ]:
        vectorised = Vectorised(validate(source))
        leaf = vectorised._root.__self__  # type: ignore[attr-defined]
        assert isinstance(leaf, Leaf)
        assert leaf._vectorised(table.column(leaf.path)) is not None
        assert vectorised.mask(table).tolist() == expected
    assert Vectorised(validate({})).mask(Table([], [], NOW, TIMEOUT)).dtype == np.bool_
