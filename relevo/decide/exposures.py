"""Where a visitor's exposure counters are kept (relevo.storage.exposure_store implements it).

A visitor is counted under their profile once Relevo knows one, and under a hash of the
identity the decision was for before that (a first visit: the exposure event itself makes the
profile); both keys are read and added up, so the count never restarts when the profile
appears. The identity's key is keyed with the workspace's token key (relevo.decide.tokens):
without it, no one can tell whose counters a row holds. Erasing a person deletes their
profile's rows (``forget``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from relevo.decide.frequency import ExposureCounts
from relevo.identity.identities import Identity


@dataclass(frozen=True)
class Exposure:
    """Experiences shown once more to one visitor key, now, in that day and session."""

    workspace_id: int
    visitor: str
    experience_ids: tuple[str, ...]
    now_ms: int
    day: int
    session_key: int


class ExposureSource(Protocol):
    def counts(
        self, workspace_id: int, visitors: Sequence[str]
    ) -> dict[str, list[ExposureCounts]]: ...

    async def counts_awaited(
        self, workspace_id: int, visitors: Sequence[str]
    ) -> dict[str, list[ExposureCounts]]: ...

    def record_many(self, exposures: Sequence[Exposure]) -> None:
        """In one transaction, each adding to the counters (never losing a concurrent one)."""
        ...

    def refused(
        self, workspace_id: int, refusals: Sequence[tuple[str, str]], now_ms: int
    ) -> None: ...

    def refusals(self, workspace_id: int) -> list[tuple[str, str, int, int]]: ...


def identity_key(key: bytes, identity: Identity) -> str:
    message = f"exposures:{identity[0]}:{identity[1]}".encode()
    return f"i:{hmac.new(key, message, hashlib.sha256).hexdigest()[:40]}"


def visitor_keys(key: bytes, identity: Identity, profile_id: int | None) -> list[str]:
    """The keys to read, the one to write first."""
    keys = [identity_key(key, identity)]
    if profile_id is not None:
        keys.insert(0, f"p:{profile_id}")
    return keys
