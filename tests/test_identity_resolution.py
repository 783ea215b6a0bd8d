"""Properties of the pure resolution planner over random message streams (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from relevo.identity.identities import ANONYMOUS_ID, EMAIL, USER_ID, Identity
from relevo.identity.resolution import (
    MessageIdentities,
    ProfileFacts,
    plan_resolution,
    profiles_needing_facts,
)

identity = st.one_of(
    st.tuples(st.just(USER_ID), st.sampled_from(["u1", "u2", "u3"])),
    st.tuples(st.just(ANONYMOUS_ID), st.sampled_from([f"a{i}" for i in range(6)])),
    st.tuples(st.just(EMAIL), st.sampled_from(["x@e.com", "y@e.com"])),
)
message = st.builds(
    MessageIdentities,
    # A message has one userId field; at most one user id per message.
    identities=st.lists(
        identity, min_size=1, max_size=3, unique_by=lambda i: i[0] if i[0] == USER_ID else i
    ),
    # An alias from a trusted source (server key): the caller says these are one person, which
    # overrides the user-id guard (a browser key's alias never does: relevo.tracking.trust).
    explicit_merge=st.booleans(),
)


def _facts_of(owner: dict[Identity, int]) -> dict[int, ProfileFacts]:
    facts: dict[int, ProfileFacts] = {}
    for (kind, value), profile in owner.items():
        f = facts.setdefault(profile, ProfileFacts())
        if kind == USER_ID:
            f.user_ids.add(value)
        elif kind == ANONYMOUS_ID:
            f.anonymous_ids += 1
    return facts


def _apply(
    stream: list[MessageIdentities], batches: int, limit: int = 100
) -> tuple[dict[Identity, int], set[int]]:
    """Run the stream in ``batches`` parts, persisting like storage does; returns owners."""
    owner: dict[Identity, int] = {}
    merged: set[int] = set()
    next_id = 1
    size = max(1, len(stream) // batches)
    for start in range(0, len(stream), size):
        part = stream[start : start + size]
        plan = plan_resolution(part, dict(owner), _facts_of(owner), limit)
        real = {}
        for placeholder in plan.new_profiles:
            real[placeholder] = next_id
            next_id += 1
        for m in plan.merges:
            merged.add(m.merged)
            for key, profile in owner.items():
                if profile == m.merged:
                    owner[key] = m.survivor
        for key, profile in plan.new_identities.items():
            owner[key] = real.get(profile, profile)
        for profile in plan.message_profiles:
            assert real.get(profile, profile) > 0
            assert real.get(profile, profile) not in merged
    return owner, merged


def _components(stream: list[MessageIdentities]) -> dict[Identity, Identity]:
    """Identities linked by appearing in one message (union-find): the most a correct planner
    can ever put in one profile."""
    parent: dict[Identity, Identity] = {}

    def find(i: Identity) -> Identity:
        while parent.setdefault(i, i) != i:
            i = parent[i]
        return i

    for m in stream:
        first = find(m.identities[0])
        for other in m.identities[1:]:
            parent[find(other)] = first
            first = find(first)
    return {i: find(i) for i in parent}


@settings(max_examples=300, deadline=None)
@given(st.lists(message, min_size=1, max_size=25), st.integers(1, 4))
def test_no_profile_ever_holds_two_user_ids_unless_an_alias_said_so(
    stream: list[MessageIdentities], batches: int
) -> None:
    """Narrowed for aliases: an explicit alias may put two user ids in one profile (that is its
    purpose), so the guard is stated for the profiles no alias message touched."""
    owner, merged = _apply(stream, batches)
    component = _components(stream)
    aliased = {component[i] for m in stream if m.explicit_merge for i in m.identities}
    users_by_profile: dict[int, set[str]] = {}
    components_by_profile: dict[int, set[Identity]] = {}
    for (kind, value), profile in owner.items():
        assert profile not in merged, "an identity points at a merged profile"
        components_by_profile.setdefault(profile, set()).add(component[(kind, value)])
        if kind == USER_ID:
            users_by_profile.setdefault(profile, set()).add(value)
    for profile, components in components_by_profile.items():
        assert len(components) == 1, "a profile holds identities no message ever linked"
        if not components & aliased:
            assert len(users_by_profile.get(profile, ())) <= 1


@settings(max_examples=300, deadline=None)
@given(st.lists(message, min_size=1, max_size=25))
def test_batching_does_not_change_who_is_who(stream: list[MessageIdentities]) -> None:
    """One batch or one message at a time: the same identities end up together."""
    together_one, _ = _apply(stream, 1)
    together_many, _ = _apply(stream, len(stream))

    def groups(owner: dict[Identity, int]) -> set[frozenset[Identity]]:
        by: dict[int, set[Identity]] = {}
        for key, profile in owner.items():
            by.setdefault(profile, set()).add(key)
        return {frozenset(v) for v in by.values()}

    assert groups(together_one) == groups(together_many)


@settings(max_examples=200, deadline=None)
@given(st.lists(message, min_size=1, max_size=25), st.integers(1, 3))
def test_anonymous_limit_is_never_exceeded(stream: list[MessageIdentities], limit: int) -> None:
    owner, _ = _apply(stream, 2, limit=limit)
    counts: dict[int, int] = {}
    for (kind, _value), profile in owner.items():
        if kind == ANONYMOUS_ID:
            counts[profile] = counts.get(profile, 0) + 1
    assert all(count <= limit for count in counts.values())


def test_replaying_a_stream_is_idempotent() -> None:
    stream = [
        MessageIdentities([(ANONYMOUS_ID, "a")]),
        MessageIdentities([(USER_ID, "u"), (ANONYMOUS_ID, "a")]),
        MessageIdentities([(ANONYMOUS_ID, "b")]),
        MessageIdentities([(USER_ID, "u"), (ANONYMOUS_ID, "b")]),
    ]
    owner, merged = _apply(stream + stream, 8)  # one message per batch
    assert set(owner.values()) == {1}
    assert merged == {2}  # b's profile merged once; the replay merges nothing more


@settings(max_examples=300, deadline=None)
@given(
    st.lists(message, min_size=0, max_size=20),
    st.lists(message, min_size=1, max_size=20),
    st.integers(1, 3),
)
def test_facts_of_the_needed_profiles_are_enough(
    history: list[MessageIdentities], batch: list[MessageIdentities], limit: int
) -> None:
    """Storage loads facts only for profiles_needing_facts: the plan must not change."""
    owner, _ = _apply(history, 2, limit=limit)
    facts = _facts_of(owner)
    needed = profiles_needing_facts(batch, owner)
    assert needed <= set(owner.values())
    some = {p: f for p, f in facts.items() if p in needed}
    assert plan_resolution(batch, owner, some, limit) == plan_resolution(batch, owner, facts, limit)
