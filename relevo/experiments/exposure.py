"""The ``Experiment Viewed`` event: the Segment spec's name and fields for an experiment's
exposure, plus the visitor's dimensions at that moment (for results broken down by them).

A decision sends one per experiment and unit, with a message id derived from (experiment,
unit): the writer's de-duplication keeps it to one event however often the visitor is decided
for, and storing it writes the sticky assignment row (relevo.storage.schema
experiment_assignments) in the same transaction. They are system events: no behaviour counter
moves.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

EXPERIMENT_VIEWED = "Experiment Viewed"


@dataclass(frozen=True)
class ExperimentExposure:
    experiment_id: str
    experiment_name: str
    variation_id: str
    variation_name: str
    device: str | None = None
    source: str | None = None  # traffic source (context.campaign / utm / referrer)
    visitor_type: str | None = None  # new | returning
    segment: str | None = None
    audiences: tuple[str, ...] = ()

    def properties(self) -> dict[str, Any]:
        return {
            "experiment_id": self.experiment_id,
            "experiment_name": self.experiment_name,
            "variation_id": self.variation_id,
            "variation_name": self.variation_name,
            "device": self.device,
            "source": self.source,
            "visitor_type": self.visitor_type,
            "segment": self.segment,
            "audiences": list(self.audiences),
        }


def exposure_message_id(experiment_id: str, unit: str) -> str:
    """One event per (experiment, unit): ``unit`` is the profile ('p:<id>') or the identity's
    keyed hash (relevo.decide.exposures.identity_key) the decision was for."""
    digest = hashlib.sha256(f"{experiment_id}\x00{unit}".encode()).hexdigest()[:32]
    return f"xv_{digest}"


def exposure_from(properties: Any) -> ExperimentExposure | None:
    """What an ``Experiment Viewed`` event's properties report (the inverse of
    ``ExperimentExposure.properties``); None unless they name an experiment and a variation.
    Whoever sent it, a decision or a shop's own SDK, the first one stored for a profile is
    its assignment."""
    if not isinstance(properties, dict):
        return None
    experiment_id = properties.get("experiment_id")
    variation_id = properties.get("variation_id")
    if not (isinstance(experiment_id, str) and experiment_id):
        return None
    if not (isinstance(variation_id, str) and variation_id):
        return None
    audiences = properties.get("audiences")
    return ExperimentExposure(
        experiment_id=experiment_id,
        experiment_name=_text(properties.get("experiment_name")) or "",
        variation_id=variation_id,
        variation_name=_text(properties.get("variation_name")) or "",
        device=_text(properties.get("device")),
        source=_text(properties.get("source")),
        visitor_type=_text(properties.get("visitor_type")),
        segment=_text(properties.get("segment")),
        audiences=tuple(a for a in audiences if isinstance(a, str) and a)
        if isinstance(audiences, list)
        else (),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
