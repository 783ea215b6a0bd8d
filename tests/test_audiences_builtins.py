"""The built-in audiences judged by both interpreters give the same members: per person (the
request-time answer, `GET .../audiences`) and over a table of profiles (the audience job,
which records their Entered/Exited), on generated profiles judged without a request."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relevo.audiences.builtins import BUILTIN_IDS
from relevo.audiences.model import memberships
from relevo.audiences.records import ProfileChunkRow, StoredAudience
from relevo.audiences.service import Audiences
from relevo.audiences.vectorised import Vectorised
from relevo.profiles.lifecycle import LifecycleThresholds
from relevo.profiles.state import ProfileRules

NOW = 1_760_000_000_000
HOUR, DAY = 3_600_000, 86_400_000
RULES = ProfileRules()


class NoSaved:
    """No saved audience, no database: only the built-ins are judged."""

    def saved(self, workspace_id: int) -> list[StoredAudience]:
        return []


AUDIENCES = Audiences(NoSaved(), RULES, LifecycleThresholds())  # type: ignore[arg-type]
ago = st.integers(0, 500 * DAY).map(lambda ms: NOW - ms)
# Around each built-in's threshold: an hour since last seen, lapsed_after_days, 500 of revenue.
near_hours = st.sampled_from([0, HOUR - 1, HOUR, HOUR + 1, 30 * HOUR]).map(lambda ms: NOW - ms)
lapsed_days = LifecycleThresholds().lapsed_after_days
near_lapsed = st.sampled_from([lapsed_days - 1, lapsed_days, lapsed_days + 1]).map(
    lambda days: NOW - days * DAY - 1
)
channels = st.sampled_from(["email", "paid", "search", "social", "direct", "referral", None])


@st.composite
def computed_states(draw: Any) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for key, values in [
        ("sessions", st.integers(0, 3)),
        ("orders", st.integers(0, 3)),
        ("revenue", st.sampled_from([0.0, 499.99, 500.0, 800.0])),
        ("last_seen", st.one_of(near_hours, ago)),
        ("last_order_at", st.one_of(near_lapsed, ago)),
        ("cart_open_since", ago),
    ]:
        if draw(st.booleans()):
            state[key] = draw(values)
    if (channel := draw(channels)) is not None:
        state["session_touch"] = {"channel": channel}
    device = draw(st.sampled_from(["mobile", "desktop", "tablet", None]))
    if device is not None:
        state["device"] = {"type": device}
    if draw(st.booleans()):
        state["groups"] = {"acme": {"traits": {"plan": "gold"}, "last_seen": NOW}}
    return state


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(computed_states(), min_size=1, max_size=30))
def test_both_interpreters_put_the_same_people_in_each_built_in(
    states: list[dict[str, Any]],
) -> None:
    rows = [(n, {"n": n}, state) for n, state in enumerate(states)]
    one_by_one: dict[str, list[bool]] = {a: [] for a in BUILTIN_IDS}
    for _, traits, state in rows:
        document = AUDIENCES.document(traits, state, NOW)
        for judged in memberships(
            AUDIENCES.builtins, document, state, NOW, RULES.session_timeout_ms
        ):
            one_by_one[judged.audience.id].append(judged.matched)
    table = AUDIENCES._table(1, [ProfileChunkRow(*row) for row in rows], NOW, interests=False)
    for audience in AUDIENCES.builtins:
        vectorised = Vectorised(audience.condition, AUDIENCES.compiler.extensions)
        assert vectorised.mask(table).tolist() == one_by_one[audience.id], audience.id
