"""Which audiences a visitor is in, as rules ask it: `Rule.audience` names an audience id, and a
rule for an audience applies only to its members. Serving asks an `AudienceMembership` once per
request; until audiences are wired in (relevo.audiences), `NoAudiences` answers none, so a rule
for an audience is skipped with "audience not matched" in the trace.
"""

from __future__ import annotations

from typing import Protocol


class AudienceMembership(Protocol):
    def audiences_of(self, workspace_id: int, profile_id: int | None) -> frozenset[str]:
        """Ids of the audiences the person (None: an unknown visitor) is in now. Never raises:
        an audience that cannot be evaluated is one the visitor is not in."""
        ...


class NoAudiences:
    def audiences_of(self, workspace_id: int, profile_id: int | None) -> frozenset[str]:
        return frozenset()
