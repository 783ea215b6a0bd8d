"""The profile data the domain works with, and the store it needs (a Protocol: storage
implements it for SQLite and PostgreSQL; the domain never imports storage)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from relevo.catalog.product import Product
from relevo.profiles.state import EventRecord
from relevo.profiles.traits import TraitChange


@dataclass(slots=True)
class StoredEvent:
    record: EventRecord
    workspace_id: int
    profile_id: int
    message_id: str


@dataclass
class ProfileRow:
    id: int
    workspace_id: int
    merged_into: int | None
    rebuild_gen: int
    built_gen: int
    traits: dict[str, Any]
    trait_times: dict[str, int]
    computed: dict[str, Any]


@dataclass
class ProfileUpdate:
    row: ProfileRow
    changes: list[TraitChange]
    # A rebuilt profile's whole trait history, which replaces the stored one (after a merge it
    # holds both profiles' changes, moved side by side, not one person's timeline).
    replaces_history: bool = False
    # traits, trait_times and computed as JSON text, encoded by the materializer right after
    # the fold (while the profile is still in the CPU's caches); None: the store encodes them.
    encoded: tuple[str, str, str] | None = None


@dataclass
class Person:
    """A surviving profile with the profiles merged into it."""

    profile_id: int
    workspace_id: int
    created_at: int
    updated_at: int
    traits: dict[str, Any]
    computed: dict[str, Any]
    merged_ids: list[int]
    identities: list[dict[str, Any]]
    # Identities this person's messages asserted through a public key without proof (the
    # latest ones): shown to the shop, never used to link or read.
    claims: list[dict[str, Any]] = field(default_factory=list)

    @property
    def all_ids(self) -> list[int]:
        return [self.profile_id, *self.merged_ids]


Head = tuple[int | None, int, int]  # merged_into, rebuild_gen, built_gen


class ProfileSource(Protocol):
    """What the profile materializer reads and writes."""

    def try_acquire_lease(self) -> bool: ...
    def holds_lease(self) -> bool: ...
    def release_lease(self) -> None: ...
    def checkpoint(self) -> int: ...
    def latest_seq(self) -> int: ...
    def events_after(self, seq: int, limit: int) -> list[StoredEvent]: ...
    def events_of_profile(self, profile_id: int, up_to_seq: int) -> list[StoredEvent]: ...
    def profile_heads(self, ids: Iterable[int]) -> dict[int, Head]: ...
    def load_profiles(self, ids: Iterable[int]) -> dict[int, ProfileRow]: ...
    def profiles_awaiting_rebuild(self, limit: int = 100) -> list[int]: ...
    def save(
        self,
        updates: Sequence[ProfileUpdate],
        checkpoint: int,
        now_ms: int,
        seen_products: Mapping[int, Sequence[Product]] | None = None,
    ) -> None: ...
