"""What a request hands to the event store, what comes back, and the store's interface."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from relevo.tracking.messages import RejectedMessage, TrackedMessage


@dataclass(frozen=True)
class IngestJob:
    workspace_id: int
    messages: Sequence[TrackedMessage]
    rejected: Sequence[RejectedMessage]
    source: str = "api"


@dataclass(frozen=True)
class StoredBatch:
    stored: int
    duplicates: int
    quarantined: int
    merges: int
    refused_merges: int
    suppressed: int = 0  # naming an identity erased with suppression: counted, not stored


class EventSink(Protocol):
    """Stores validated messages durably (identity resolution included) in one transaction."""

    def write(
        self,
        workspace_id: int,
        messages: Sequence[TrackedMessage],
        rejected: Sequence[RejectedMessage],
        now_ms: int,
        source: str = "api",
    ) -> StoredBatch: ...

    def write_many(self, jobs: Sequence[IngestJob], now_ms: int) -> list[StoredBatch]: ...

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold the store's write lock across several ``write_many`` calls of this thread."""
        ...
