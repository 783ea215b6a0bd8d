"""Properties of the pure profile fold (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from relevo.profiles.state import _add_interest, apply_group, top_interests

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


HALF_LIFE = 30 * 86_400_000.0
interest_events = st.lists(
    st.tuples(
        st.integers(0, 400 * 86_400_000),  # when, within 400 days
        st.sampled_from(["Shoes", "Hats", "Lamps", "Toys"]),
        st.sampled_from([0.5, 1.0, 3.0, 5.0]),
    ),
    min_size=1,
    max_size=40,
)


@given(interest_events, st.randoms(), st.integers(0, 100 * 86_400_000))
def test_interest_scores_are_each_weight_decayed_from_its_event_in_any_arrival_order(
    events: list[tuple[int, str, float]], random: Any, later: int
) -> None:
    start = 1_700_000_000_000
    arrival = list(events)
    random.shuffle(arrival)
    bucket: dict[str, Any] = {}
    for at, name, weight in arrival:
        _add_interest(bucket, name, weight, start + at, HALF_LIFE)
    now = start + max(at for at, _, _ in events) + later
    expected: dict[str, float] = {}
    for at, name, weight in events:
        expected[name] = expected.get(name, 0.0) + weight * 0.5 ** ((now - start - at) / HALF_LIFE)
    top = top_interests(bucket, now, HALF_LIFE, limit=10)
    assert {t["name"] for t in top} == set(expected)
    for t in top:
        assert abs(t["score"] - expected[t["name"]]) <= 1e-4 + 1e-9 * expected[t["name"]]


def test_interests_stored_as_score_and_time_pairs_are_read_and_folded_on() -> None:
    day, now = 86_400_000, 1_700_000_000_000
    # The former format: per key, the score as of the key's latest event and that time.
    bucket: dict[str, Any] = {"Home": [4.0, now - 30 * day], "Toys": [4.0, now - 60 * day]}
    assert top_interests(bucket, now, HALF_LIFE) == [
        {"name": "Home", "score": 2.0},
        {"name": "Toys", "score": 1.0},
    ]
    _add_interest(bucket, "Toys", 3.0, now, HALF_LIFE)
    assert top_interests(bucket, now, HALF_LIFE) == [
        {"name": "Toys", "score": 4.0},
        {"name": "Home", "score": 2.0},
    ]
    assert all(not isinstance(v, list) for k, v in bucket.items() if k)


def test_interest_scores_survive_a_tiny_half_life_without_overflow() -> None:
    bucket: dict[str, Any] = {}
    for at in range(0, 5_000, 7):
        _add_interest(bucket, "Shoes", 1.0, 1_700_000_000_000 + at, 1.0)
    _add_interest(bucket, "Hats", 1.0, 1_700_000_000_000, 1.0)
    assert top_interests(bucket, 1_700_000_004_998, 1.0) == [
        {"name": "Shoes", "score": 1.0079},  # 1 + 2 ** -7 + 2 ** -14 + ...
        {"name": "Hats", "score": 0.0},
    ]
