"""A customer's scores as stored and as conditions see them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ProfileScore:
    profile_id: int
    model_version: str
    segment_id: str | None  # None: a prospect, no order yet
    segment_label: str | None
    purchase_30d: float | None  # P(an order in the next 30 days)
    churn_90d: float | None  # P(no order in the next 90 days)
    clv_next_12m: float | None  # expected revenue in the next 12 months
    computed_at: int  # epoch ms

    def document(self) -> dict[str, Any]:
        """What a condition sees (segment.id, propensity.purchase_30d, clv.next_12m, ...) and
        what the profile shows under "scores"."""
        return {
            "segment": {"id": self.segment_id, "label": self.segment_label},
            "propensity": {"purchase_30d": self.purchase_30d, "churn_90d": self.churn_90d},
            "clv": {"next_12m": self.clv_next_12m},
            "model_version": self.model_version,
            "computed_at": self.computed_at,
        }

    def row(self, workspace_id: int) -> dict[str, Any]:
        return {
            "profile_id": self.profile_id,
            "workspace_id": workspace_id,
            "model_version": self.model_version,
            "segment_id": self.segment_id,
            "segment_label": self.segment_label,
            "purchase_30d": self.purchase_30d,
            "churn_90d": self.churn_90d,
            "clv_next_12m": self.clv_next_12m,
            "computed_at": self.computed_at,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ProfileScore:
        return cls(
            profile_id=int(row["profile_id"]),
            model_version=str(row["model_version"]),
            segment_id=row["segment_id"],
            segment_label=row["segment_label"],
            purchase_30d=row["purchase_30d"],
            churn_90d=row["churn_90d"],
            clv_next_12m=row["clv_next_12m"],
            computed_at=int(row["computed_at"]),
        )


NO_SCORES: dict[str, Any] = {
    "segment": {"id": None, "label": None},
    "propensity": {"purchase_30d": None, "churn_90d": None},
    "clv": {"next_12m": None},
    "model_version": None,
    "computed_at": None,
}
