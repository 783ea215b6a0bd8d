"""What the audiences domain reads and writes, and the stores it needs (Protocols: storage
implements them for SQLite and PostgreSQL; the domain never imports storage)."""

from __future__ import annotations

from collections.abc import Iterator
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


@dataclass(frozen=True, slots=True)
class ProfileChunkRow:
    profile_id: int
    traits: dict[str, Any]
    computed: dict[str, Any]


class AudienceSource(Protocol):
    def saved(self, workspace_id: int) -> list[StoredAudience]: ...
    def get(self, workspace_id: int, audience_id: str) -> StoredAudience | None: ...
    def create(
        self, workspace_id: int, audience_id: str, name: str, description: str, condition: Any
    ) -> StoredAudience: ...
    def replace(
        self, workspace_id: int, audience_id: str, name: str, description: str, condition: Any
    ) -> StoredAudience | None: ...
    def delete(self, workspace_id: int, audience_id: str) -> bool: ...
    def profile(self, workspace_id: int, profile_id: int) -> ProfileChunkRow | None: ...
    def profile_chunks(
        self, workspace_id: int, after_id: int = 0, chunk: int = 5000
    ) -> Iterator[list[ProfileChunkRow]]: ...
    def identities(self, profile_ids: list[int]) -> dict[int, dict[str, str]]: ...


class Dependents(Protocol):
    """What uses an audience (merchandising rules today; experiences later): deleting an
    audience with dependents is refused with their list."""

    def rules_using_audience(self, workspace_id: int, audience_id: str) -> list[str]: ...
