"""Behaviour counters kept by the profile fold answer `$event` as a scan of the events would."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from relevo.audiences.behaviour import check_event, measure
from relevo.profiles.state import DAY_MS, SYSTEM_EVENTS, EventRecord, ProfileRules, apply_event

NOW = 1_760_000_000_000
RULES = ProfileRules()
NAMES = ["Paywall Viewed", "Order Completed", "Audience Entered"]

events = st.lists(
    st.tuples(
        st.sampled_from(NAMES),
        st.integers(0, 30 * DAY_MS),  # how long ago
        st.sampled_from(["news", "sport", None]),
        st.integers(0, 500),
    ),
    max_size=40,
)


def _fold(history: list[tuple[str, int, str | None, int]]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for seq, (name, ago, section, revenue) in enumerate(history):
        properties: dict[str, Any] = {"revenue": revenue}
        if section is not None:
            properties["section"] = section
        payload = {"type": "track", "event": name, "properties": properties}
        apply_event(state, EventRecord(seq, "track", name, NOW - ago, payload), RULES)
    return state


@settings(max_examples=200, deadline=None)
@given(events, st.integers(1, 20), st.sampled_from([None, "news"]))
def test_counts_and_sums_over_days_equal_a_scan_whatever_the_order(
    history: list[tuple[str, int, str | None, int]], days: int, section: str | None
) -> None:
    state = _fold(history)
    first_day = NOW // DAY_MS - days + 1
    for name in NAMES:
        counted = [
            (s, r)
            for n, ago, s, r in history
            if n == name and (NOW - ago) // DAY_MS >= first_day and n not in SYSTEM_EVENTS
        ]
        operand: dict[str, Any] = {"name": name, "within": f"{days}d"}
        if section is not None:
            operand["where"] = {"section": section}
        query = check_event(operand, "$", RULES)
        expected = sum(1 for s, _ in counted if section is None or s == section)
        assert measure(query, state, NOW, 30 * 60_000) == expected
        total = check_event(
            {"name": name, "within": f"{days}d", "sum": "revenue", "total": 0}, "$", RULES
        )
        assert measure(total, state, NOW, 30 * 60_000) == sum(r for _, r in counted)

    # Arrival order does not change what is kept over days (a rebuild folds in time order);
    # the session's count depends on the order sessions were seen in, as sessions do.
    def days_only(folded: dict[str, Any]) -> dict[str, Any]:
        return {
            name: {k: v for k, v in counter.items() if k != "s"}
            for name, counter in folded.get("behaviour", {}).items()
        }

    assert days_only(_fold(sorted(history, key=lambda e: -e[1]))) == days_only(state)


def test_days_since_and_this_session() -> None:
    state = _fold([("Paywall Viewed", 3 * DAY_MS, None, 0), ("Paywall Viewed", 60_000, None, 0)])
    since = check_event({"name": "Paywall Viewed", "days_since": {"$lt": 1}}, "$", RULES)
    assert measure(since, state, NOW, 30 * 60_000) == 0.0
    never = check_event({"name": "Order Completed", "days_since": {"$lt": 1}}, "$", RULES)
    assert measure(never, state, NOW, 30 * 60_000) is None
    session = check_event({"name": "Paywall Viewed", "within": "session"}, "$", RULES)
    assert measure(session, state, NOW, 30 * 60_000) == 1  # the one three days ago was another
    assert measure(session, state, NOW + 3_600_000, 30 * 60_000) == 0  # that session timed out


def test_system_events_leave_the_state_as_it_was() -> None:
    state = _fold([("Paywall Viewed", DAY_MS, None, 0)])
    before = repr(state)
    for seq, name in enumerate(sorted(SYSTEM_EVENTS)):
        payload = {"type": "track", "event": name, "properties": {"revenue": 5}}
        apply_event(state, EventRecord(100 + seq, "track", name, NOW, payload), RULES)
    assert repr(state) == before


def test_old_buckets_go_values_and_sums_too() -> None:
    """A person active on many days keeps at most the behaviour window's buckets."""
    history = [
        ("Paywall Viewed", days * DAY_MS, ["news", "sport"][days % 2], 10)
        for days in range(600, -1, -4)
    ]
    state = _fold(history)
    counter = state["behaviour"]["Paywall Viewed"]
    oldest = NOW // DAY_MS - 400
    buckets = [counter["d"], counter["sum"]["revenue"], *counter["v"]["section"].values()]
    assert all(int(day) >= oldest for bucket in buckets for day in bucket)
    within = check_event({"name": "Paywall Viewed", "within": "400d"}, "$", RULES)
    expected = sum(1 for _, ago, _, _ in history if (NOW - ago) // DAY_MS >= NOW // DAY_MS - 399)
    assert measure(within, state, NOW, 30 * 60_000) == expected
