"""The decision's pure parts, where HTTP cannot move the clock: caps across days and sessions,
counter rows of one visitor under two keys, token expiry to the second, the variant chooser's
stability and weights, and what a template may see of a person."""

from __future__ import annotations

import dataclasses
from collections import Counter

from itsdangerous import URLSafeSerializer

from relevo.decide.frequency import (
    DAY_MS,
    Caps,
    ExposureCounts,
    capped,
    current_session,
    seen,
    today,
)
from relevo.decide.render import safe_profile
from relevo.decide.tokens import (
    EXPIRED,
    FORGED,
    OTHER_VISITOR,
    TOKEN_SECONDS,
    DecisionClaims,
    Refused,
    sign,
    token_key,
    verify,
    visitor_hash,
)
from relevo.decide.variants import choose_variant
from relevo.experiences.model import Variant

NOW = 1_800_000_000_000
TIMEOUT = 30 * 60_000


def row(**values: int) -> ExposureCounts:
    one = ExposureCounts(1, NOW - 1000, NOW - 1000, today(NOW), 1, 7, 1)
    return dataclasses.replace(one, **values)


def test_a_day_cap_restarts_on_the_next_utc_day() -> None:
    caps = Caps(per_day=1)
    yesterday = row(day=today(NOW) - 1, day_count=5)
    assert capped(caps, seen([yesterday], 7, NOW), None) is None
    assert capped(caps, seen([row()], 7, NOW), None) is not None
    assert capped(caps, seen([row()], 7, NOW + DAY_MS), None) is None


def test_the_session_is_the_profiles_while_active_else_the_exposures_own() -> None:
    active = {"last_seen": NOW - 60_000, "session_started_at": NOW - 600_000}
    assert current_session(active, [], NOW, TIMEOUT) == NOW - 600_000
    lapsed = {"last_seen": NOW - 2 * TIMEOUT, "session_started_at": NOW - 3 * TIMEOUT}
    recent = row(last_at=NOW - 60_000, session_key=42)
    assert current_session(lapsed, [recent], NOW, TIMEOUT) == 42
    old = row(last_at=NOW - 2 * TIMEOUT, session_key=42)
    assert current_session(lapsed, [old], NOW, TIMEOUT) == NOW
    assert current_session({}, [], NOW, TIMEOUT) == NOW


def test_a_visitor_counted_under_two_keys_is_counted_once_in_all() -> None:
    before_profile = row(lifetime=2, first_at=NOW - 5000, session_key=7, session_count=2)
    after_profile = row(lifetime=1, first_at=NOW - 100, session_key=7, session_count=1)
    both = seen([before_profile, after_profile], 7, NOW)
    assert (both.lifetime, both.session, both.today, both.first_at) == (3, 3, 2, NOW - 5000)
    assert capped(Caps(lifetime=3), both, None) is not None
    assert capped(Caps(per_session=4), both, None) is None


def test_stop_after_conversion_counts_only_orders_after_the_first_exposure() -> None:
    exposures = seen([row(first_at=NOW - 1000)], 7, NOW)
    caps = Caps(stop_after_conversion=True)
    assert capped(caps, exposures, NOW - 5000) is None  # ordered before seeing it
    assert capped(caps, exposures, NOW - 500) is not None
    assert capped(caps, seen([], 7, NOW), NOW) is None  # never seen


def test_a_token_lives_24_hours_for_its_workspace_and_visitor() -> None:
    key = token_key("link-secret")
    visitor = visitor_hash(key, ("email", "ann@example.com"))
    issued = NOW // 1000
    claims = DecisionClaims(3, "dec_1", "hero", "offer", "a", visitor, issued)
    token = sign(key, claims)
    assert verify(key, 3, token, visitor, issued + TOKEN_SECONDS) == claims
    assert verify(key, 3, token, visitor, issued + TOKEN_SECONDS + 1) == Refused(EXPIRED, claims)
    assert verify(key, 4, token, visitor, issued) == Refused(FORGED)  # another workspace id
    assert verify(token_key("other"), 3, token, visitor, issued) == Refused(FORGED)
    other = visitor_hash(key, ("email", "bob@example.com"))
    assert verify(key, 3, token, other, issued) == Refused(OTHER_VISITOR, claims)
    assert verify(key, 3, token, visitor, issued - 3600) == Refused(FORGED)  # from the future
    _, payload = URLSafeSerializer("any").loads_unsafe(token)
    assert "ann@example.com" not in str(payload)  # the visitor is a keyed hash, not in clear


def test_the_variant_is_stable_per_visitor_and_follows_the_weights() -> None:
    variants = [Variant(id="a", weight=3, content={"x": 1}), Variant(id="b", content={"x": 2})]
    picks = Counter(choose_variant("offer", f"anonymous_id:v{n}", variants).id for n in range(4000))
    assert 0.7 < picks["a"] / 4000 < 0.8
    assert {choose_variant("offer", "anonymous_id:v1", variants).id for _ in range(5)} == {
        choose_variant("offer", "anonymous_id:v1", variants).id
    }


def test_a_template_sees_no_contact_details_of_the_person() -> None:
    document = {
        "traits": {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com",
                   "phone": "+44 20", "address": {"city": "London"}},
        "preferences": {"persona": "professional"},
        "computed": {"lifecycle_stage": "repeat", "top_categories": ["Shoes"], "orders": 2},
    }  # fmt: skip
    profile = safe_profile(document)
    assert profile == {
        "first_name": "Ann",
        "lifecycle_stage": "repeat",
        "top_categories": ["Shoes"],
        "preferences": {"persona": "professional"},
        "is_customer": True,
    }
