"""Properties of the pure profile fold (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from relevo.profiles.state import apply_group

calls = st.lists(
    st.tuples(
        st.integers(0, 10_000),
        st.dictionaries(st.sampled_from(["name", "plan", "size"]), st.integers(0, 5), max_size=3),
    ),
    min_size=1,
    max_size=12,
    unique_by=lambda call: call[0],  # distinct times: "the latest call" is well defined
)


@given(calls, st.randoms())
def test_group_traits_are_the_latest_values_whatever_the_arrival_order(
    group_calls: list[tuple[int, dict[str, int]]], random: Any
) -> None:
    arrival = list(group_calls)
    random.shuffle(arrival)
    state: dict[str, Any] = {}
    for ts, traits in arrival:
        apply_group(state, {"groupId": "g", "traits": traits}, ts)
    expected: dict[str, int] = {}
    for _ts, traits in sorted(group_calls):
        expected.update(traits)
    group = state["groups"]["g"]
    assert group["traits"] == expected
    assert group["first_seen"] == min(ts for ts, _ in group_calls)
    assert group["last_seen"] == max(ts for ts, _ in group_calls)
