"""Plan identity resolution for a batch of messages: a pure function, no I/O.

Rules:
- A message whose identities are all unknown starts a new profile.
- Identities of one message that belong to different profiles merge those profiles, unless two
  of them carry different user ids (a shared computer or a reused e-mail must not fuse two
  customers) or the survivor would hold more than ``max_anonymous_ids`` anonymous ids. A refused
  merge is recorded. An explicit ``alias`` overrides the user-id guard, not the limit.
- The older profile survives a merge (existing before new, first created before later), so
  batching never changes who is who. A message that names no user id but touches several
  profiles attaches its new identities to the one with a user id, else the oldest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from relevo.identity.identities import ANONYMOUS_ID, USER_ID, Identity


@dataclass(frozen=True)
class MessageIdentities:
    identities: Sequence[Identity]
    explicit_merge: bool = False  # an alias call: the caller says these are one person


@dataclass
class ProfileFacts:
    """What the guards need to know of an existing profile."""

    user_ids: set[str] = field(default_factory=set)
    anonymous_ids: int = 0


@dataclass(frozen=True)
class Merge:
    survivor: int
    merged: int
    reason: str
    identities: tuple[Identity, ...]
    message_index: int


@dataclass(frozen=True)
class Refusal:
    kept: int
    other: int
    reason: str
    identities: tuple[Identity, ...]
    message_index: int


@dataclass
class ResolutionPlan:
    """Profiles are real ids (> 0) or placeholders (< 0) for profiles still to be created."""

    new_profiles: list[int]
    new_identities: dict[Identity, int]
    merges: list[Merge]
    refusals: list[Refusal]
    message_profiles: list[int]


class _Resolver:
    def __init__(
        self,
        known: Mapping[Identity, int],
        facts: Mapping[int, ProfileFacts],
        max_anonymous_ids: int,
    ) -> None:
        self.owner: dict[Identity, int] = dict(known)
        self._given_facts = facts
        self.facts: dict[int, ProfileFacts] = {}  # copied from the given ones on first use
        self.parent: dict[int, int] = {}
        self.max_anonymous_ids = max_anonymous_ids
        self.next_placeholder = -1
        self.placeholders: list[int] = []
        self.new_identities: dict[Identity, int] = {}
        self.merges: list[Merge] = []
        self.refusals: list[Refusal] = []

    def find(self, profile: int) -> int:
        while profile in self.parent:
            profile = self.parent[profile]
        return profile

    def new_profile(self) -> int:
        placeholder = self.next_placeholder
        self.next_placeholder -= 1
        self.placeholders.append(placeholder)
        self.facts[placeholder] = ProfileFacts()
        return placeholder

    def fact(self, profile: int) -> ProfileFacts:
        facts = self.facts.get(profile)
        if facts is None:
            given = self._given_facts.get(profile)
            facts = (
                ProfileFacts(set(given.user_ids), given.anonymous_ids) if given else ProfileFacts()
            )
            self.facts[profile] = facts
        return facts

    def attach(self, identity: Identity, profile: int) -> None:
        self.owner[identity] = profile
        self.new_identities[identity] = profile
        facts = self.fact(profile)
        if identity[0] == USER_ID:
            facts.user_ids.add(identity[1])
        elif identity[0] == ANONYMOUS_ID:
            facts.anonymous_ids += 1

    @staticmethod
    def _rank(profile: int, facts: ProfileFacts) -> tuple[int, int, int]:
        # Lower ranks first: carries a user id, exists already, oldest.
        return (0 if facts.user_ids else 1, 0 if profile > 0 else 1, abs(profile))

    @staticmethod
    def _age(profile: int) -> tuple[int, int]:
        return (0, profile) if profile > 0 else (1, -profile)

    def choose_survivor(self, a: int, b: int) -> tuple[int, int]:
        """The older profile survives (existing before new, first created before later), so
        profile ids stay stable and batching never changes the outcome."""
        return (a, b) if self._age(a) <= self._age(b) else (b, a)

    def refusal_reason(self, a: int, b: int, explicit: bool) -> str | None:
        fa, fb = self.fact(a), self.fact(b)
        if fa.user_ids and fb.user_ids and fa.user_ids != fb.user_ids and not explicit:
            return "different_user_ids"
        if fa.anonymous_ids + fb.anonymous_ids > self.max_anonymous_ids:
            return "anonymous_id_limit"
        return None

    def merge(self, a: int, b: int, message: MessageIdentities, index: int) -> int:
        survivor, merged = self.choose_survivor(a, b)
        self.parent[merged] = survivor
        fs, fm = self.fact(survivor), self.fact(merged)
        fs.user_ids |= fm.user_ids
        fs.anonymous_ids += fm.anonymous_ids
        if merged > 0:
            reason = "alias" if message.explicit_merge else "shared_identity"
            self.merges.append(Merge(survivor, merged, reason, tuple(message.identities), index))
        return survivor

    def _settled(self, message: MessageIdentities) -> int | None:
        """The profile of a message whose identities all belong to it already (most traffic:
        a known visitor browsing): nothing to attach, merge or check."""
        owner, profile = self.owner, None
        for identity in message.identities:
            current = owner.get(identity)
            if current is None:
                return None
            current = self.find(current)
            if profile is not None and current != profile:
                return None
            profile = current
        return profile

    def resolve(self, message: MessageIdentities, index: int) -> int:
        settled = self._settled(message)
        if settled is not None:
            return settled
        identities = list(dict.fromkeys(message.identities))
        owned = list(dict.fromkeys(self.find(self.owner[i]) for i in identities if i in self.owner))
        user_identity = next((i for i in identities if i[0] == USER_ID), None)

        if user_identity is not None and user_identity in self.owner:
            target = self.find(self.owner[user_identity])
        elif owned:
            target = min(owned, key=lambda p: self._rank(p, self.fact(p)))
            if user_identity is not None:
                facts = self.fact(target)
                if facts.user_ids and user_identity[1] not in facts.user_ids:
                    # This message names a new customer: don't hand them someone else's profile.
                    other = target
                    target = self.new_profile()
                    self.attach(user_identity, target)  # so the guard below sees the user id
                    self.refusals.append(
                        Refusal(target, other, "different_user_ids", tuple(identities), index)
                    )
        else:
            target = self.new_profile()

        for other in owned:
            other = self.find(other)
            target = self.find(target)
            if other == target:
                continue
            reason = self.refusal_reason(target, other, message.explicit_merge)
            if reason is None:
                target = self.merge(target, other, message, index)
            else:
                self.refusals.append(Refusal(target, other, reason, tuple(identities), index))

        target = self.find(target)
        for identity in identities:
            if identity in self.owner:
                continue
            if (
                identity[0] == ANONYMOUS_ID
                and self.fact(target).anonymous_ids >= self.max_anonymous_ids
            ):
                separate = self.new_profile()
                self.attach(identity, separate)
                self.refusals.append(
                    Refusal(target, separate, "anonymous_id_limit", (identity,), index)
                )
                continue
            self.attach(identity, target)
        return target

    def plan(self, messages: Sequence[MessageIdentities]) -> ResolutionPlan:
        message_profiles = [self.resolve(m, i) for i, m in enumerate(messages)]
        find = self.find
        return ResolutionPlan(
            new_profiles=[p for p in self.placeholders if find(p) == p],
            new_identities={i: find(p) for i, p in self.new_identities.items()},
            merges=self.merges,
            refusals=list(
                dict.fromkeys(
                    Refusal(find(r.kept), find(r.other), r.reason, r.identities, r.message_index)
                    for r in self.refusals
                    if find(r.kept) != find(r.other)
                )
            ),
            message_profiles=[find(p) for p in message_profiles],
        )


def profiles_needing_facts(
    messages: Sequence[MessageIdentities], known: Mapping[Identity, int]
) -> set[int]:
    """The stored profiles whose facts ``plan_resolution`` can consult for ``messages``.

    A message whose identities are all known and on one profile never consults facts; every
    other message consults at most the profiles its known identities are on (and profiles it
    creates, whose facts the planner makes itself).
    """
    needed: set[int] = set()
    for message in messages:
        owners = {known.get(identity) for identity in message.identities}
        if len(owners) != 1 or None in owners:
            needed.update(p for p in owners if p is not None)
    return needed


def plan_resolution(
    messages: Sequence[MessageIdentities],
    known: Mapping[Identity, int],
    facts: Mapping[int, ProfileFacts],
    max_anonymous_ids: int,
) -> ResolutionPlan:
    """Plan profiles for ``messages``.

    ``known`` maps identities already stored to their (surviving) profile; ``facts`` describes
    those profiles. Merges are listed in the order storage must apply them.
    """
    return _Resolver(known, facts, max_anonymous_ids).plan(messages)
