"""What the audiences domain reads and writes, and the stores it needs (Protocols: storage
implements them for SQLite and PostgreSQL; the domain never imports storage)."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class StoredAudience:
    audience_id: str
    name: str
    description: str
    condition: Any
    created_at: int
    updated_at: int
    webhook_url: str | None = None
    webhook_secret: str | None = None


@dataclass(frozen=True, slots=True)
class ProfileChunkRow:
    profile_id: int
    traits: dict[str, Any]
    computed: dict[str, Any]


class ScoreSource(Protocol):
    """Each customer's segment, propensity and value (relevo.scores), by profile id."""

    def documents(
        self, workspace_id: int, profile_ids: Sequence[int]
    ) -> dict[int, dict[str, Any]]: ...


class NoScores:
    def documents(self, workspace_id: int, profile_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        return {}


class AudienceSource(Protocol):
    def saved(self, workspace_id: int) -> list[StoredAudience]: ...
    def get(self, workspace_id: int, audience_id: str) -> StoredAudience | None: ...
    def create(self, workspace_id: int, audience: StoredAudience) -> StoredAudience: ...
    def replace(self, workspace_id: int, audience: StoredAudience) -> StoredAudience | None: ...
    def delete(self, workspace_id: int, audience_id: str) -> bool: ...
    def profile(self, workspace_id: int, profile_id: int) -> ProfileChunkRow | None: ...
    def person(
        self, workspace_id: int, kind: str, value: str
    ) -> tuple[ProfileChunkRow, dict[str, Any] | None] | None:
        """The identity's person and their scores (None before a training) in one read."""
        ...

    async def person_awaited(
        self, workspace_id: int, kind: str, value: str
    ) -> tuple[ProfileChunkRow, dict[str, Any] | None] | None:
        """``person`` for the event loop: waits for a database over the network without
        blocking it."""
        ...

    def person_of_profile(
        self, workspace_id: int, profile_id: int
    ) -> tuple[ProfileChunkRow, dict[str, Any] | None] | None:
        """``person`` by profile id (its survivor, if it was merged)."""
        ...

    def profile_chunks(
        self,
        workspace_id: int,
        after_id: int = 0,
        chunk: int = 5000,
        changed_since: int | None = None,
        only_state: Sequence[tuple[str, ...]] | None = None,
        with_traits: bool = True,
        read_ahead: bool = True,
    ) -> Generator[list[ProfileChunkRow], None, None]:
        """``only_state``: read only these paths of the computed state, and the traits only
        ``with_traits`` (what a condition reads); a store that cannot address a path reads
        everything. ``read_ahead``: the next chunks may be read while this one is judged (a
        preview someone waits for), or only when asked for (a background sweep)."""
        ...

    def identities(self, profile_ids: list[int]) -> dict[int, dict[str, str]]: ...
    def stored_members(self, workspace_id: int, audience_id: str) -> list[int]: ...


class MembershipSource(Protocol):
    """What the audience job reads and writes: who was in each audience (built-in and saved),
    the changes as system events and webhook deliveries, its checkpoint."""

    def workspaces_with_profiles(self) -> list[int]: ...
    def adopt_merged_members(self, workspace_id: int, survivor_ids: list[int]) -> None:
        """The memberships of profiles merged into these survivors become theirs."""
        ...

    def members_of(self, workspace_id: int, profile_ids: list[int]) -> dict[int, set[str]]: ...
    def record_changes(
        self,
        workspace_id: int,
        now_ms: int,
        entered: list[tuple[str, int]],
        exited: list[tuple[str, int]],
        events: list[tuple[int, dict[str, Any]]],
        deliveries: list[dict[str, Any]],
    ) -> None: ...
    def try_job_lease(self, owner: str, now_ms: int, seconds: float) -> bool: ...
    def release_job_lease(self, owner: str) -> None: ...
    def job_checkpoint(self) -> int: ...
    def set_job_checkpoint(self, position: int) -> None: ...
    def due_deliveries(self, now_ms: int, limit: int) -> list[dict[str, Any]]: ...
    def delivery_attempted(
        self, delivery_id: int, now_ms: int, error: str | None, next_attempt_at: int | None
    ) -> None: ...
    def deliveries(
        self, workspace_id: int, audience_id: str, limit: int, before_id: int | None
    ) -> list[dict[str, Any]]: ...


class Dependents(Protocol):
    """What uses an audience (merchandising rules, experiences): deleting an audience with
    dependents is refused with their list."""

    def using_audience(self, workspace_id: int, audience_id: str) -> dict[str, list[str]]:
        """Per kind ("rules", "experiences"), the ids of what uses it (kinds with none left
        out)."""
        ...
