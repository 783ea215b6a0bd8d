"""Which experiment arm one visitor is in, for the experiments a decision touches: pure, over
the running set (relevo.experiments.running) and the person's sticky assignments.

Order of precedence:

    holdout     a visitor in the global holdout gets placement defaults only, and no
                experiment ever assigns them (they are the programme's control)
    sticky      the variation the person was first exposed to (stored with their first
                ``Experiment Viewed``), while the experiment still has it
    hash        else the experiment's seed hashes the unit onto its weights; outside the
                coverage the visitor sees the control and is not counted (no exposure)

A shipped experiment answers its winner to everyone and records no exposure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from relevo.experiments.exposure import ExperimentExposure
from relevo.experiments.model import HOLDOUT_VARIATION, Variation
from relevo.experiments.running import RunningExperiment, RunningSet

MAX_AUDIENCES_RECORDED = 50


@dataclass(frozen=True)
class Arm:
    running: RunningExperiment
    variation: Variation
    exposed: bool  # counts in the experiment: its Experiment Viewed is recorded when reached
    sticky: bool = False  # from the person's stored assignment (already recorded)

    @property
    def records(self) -> bool:
        """An ``Experiment Viewed`` is sent for this arm (the first exposure of the unit)."""
        return self.exposed and not self.sticky


@dataclass(frozen=True)
class Arms:
    holdout: Arm | None = None
    by_experience: Mapping[str, Arm] = field(default_factory=dict)
    by_placement: Mapping[str, Arm] = field(default_factory=dict)

    @property
    def held_out(self) -> bool:
        return self.holdout is not None and self.holdout.variation.id == HOLDOUT_VARIATION


NO_ARMS = Arms()


def _arm(running: RunningExperiment, unit: str, stored: Mapping[str, str]) -> Arm:
    experiment = running.experiment
    if running.shipped:
        winner = running.bucket(unit)
        return Arm(running, winner or running.control(), exposed=False)
    kept = experiment.variation(stored[experiment.id]) if experiment.id in stored else None
    if kept is not None:
        return Arm(running, kept, exposed=True, sticky=True)
    chosen = running.bucket(unit)
    if chosen is None:  # outside the coverage: the control, not counted
        return Arm(running, running.control(), exposed=False)
    return Arm(running, chosen, exposed=True)


def arms_for(
    running: RunningSet,
    unit: str,
    stored: Mapping[str, str],
    experience_ids: Iterable[str],
    placement_ids: Iterable[str],
) -> Arms:
    """The visitor's arms in the experiments over these experiences and placements (and the
    holdout). ``unit`` is what the hash reads (the decision's identity); ``stored`` the
    person's sticky assignments, experiment id -> variation id."""
    holdout = None if running.holdout is None else _arm(running.holdout, unit, stored)
    if holdout is not None and holdout.variation.id == HOLDOUT_VARIATION:
        return Arms(holdout)
    by_experience = {
        e: _arm(running.by_experience[e], unit, stored)
        for e in experience_ids
        if e in running.by_experience
    }
    by_placement = {
        p: _arm(running.by_placement[p], unit, stored)
        for p in placement_ids
        if p in running.by_placement
    }
    return Arms(holdout, by_experience, by_placement)


def touches(
    running: RunningSet, experience_ids: Iterable[str], placement_ids: Iterable[str]
) -> bool:
    """Does a decision over these need the person's assignments?"""
    return (
        running.holdout is not None
        or any(e in running.by_experience for e in experience_ids)
        or any(p in running.by_placement for p in placement_ids)
    )


def exposure(
    arm: Arm, document: Mapping[str, Any], audience_ids: Iterable[str]
) -> ExperimentExposure:
    """The ``Experiment Viewed`` of an arm, with the visitor's dimensions now."""
    context = document.get("context") or {}
    device = context.get("device") or {}
    utm = context.get("utm") or {}
    segment = document.get("segment") or {}
    audiences = sorted(audience_ids)
    experiment = arm.running.experiment
    return ExperimentExposure(
        experiment_id=experiment.id,
        experiment_name=experiment.name,
        variation_id=arm.variation.id,
        variation_name=arm.variation.name or arm.variation.id,
        device=device.get("type") if isinstance(device, dict) else None,
        source=_source(utm, context),
        visitor_type="returning" if "returning-visitor" in audiences else "new",
        segment=segment.get("id") if isinstance(segment, dict) else None,
        audiences=tuple(audiences[:MAX_AUDIENCES_RECORDED]),
    )


def _source(utm: Mapping[str, Any], context: Mapping[str, Any]) -> str:
    """The traffic source: the campaign's medium or source, else whether a referrer came."""
    medium, source = utm.get("medium"), utm.get("source")
    if isinstance(medium, str) and medium:
        return medium.lower()[:64]
    if isinstance(source, str) and source:
        return source.lower()[:64]
    page = context.get("page") or {}
    return "referral" if isinstance(page, dict) and page.get("referrer") else "direct"
