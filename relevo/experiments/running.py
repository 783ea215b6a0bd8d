"""The experiments a decision reads: running (or shipped) ones by the experience or placement
they test, and the workspace's global holdout, each able to say which variation a unit's hash
puts it in. Pure: no I/O; the sticky assignment (what a person was shown first) is read by
the caller and wins over the hash."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from relevo.experiments.assignment import bucket_ranges, choose_variation, hash_unit
from relevo.experiments.model import HOLDOUT_VARIATION, Experiment, Variation


@dataclass(frozen=True)
class RunningExperiment:
    experiment: Experiment
    status: str  # running | shipped
    winner: str | None  # shipped: the variation everyone gets
    started_at: int | None
    # An adaptive allocation's current weights (relevo.experiments.allocation), for new units.
    weights: tuple[float, ...] | None = None

    @property
    def shipped(self) -> bool:
        return self.status == "shipped"

    def control(self) -> Variation:
        found = self.experiment.variation(self.experiment.control or "")
        return found if found is not None else self.experiment.variations[0]

    def bucket(self, unit: str, weights: Sequence[float] | None = None) -> Variation | None:
        """The variation of ``unit`` (a profile or identity key): the winner once shipped,
        else where the experiment's seed hashes it, by ``weights`` (the saved ones unless an
        adaptive allocation gives its own); None when it falls outside the coverage."""
        experiment = self.experiment
        if self.shipped:
            return experiment.variation(self.winner or "")
        weights = self.weights if weights is None else weights
        given = [v.weight for v in experiment.variations] if weights is None else list(weights)
        total = sum(given)
        if len(given) != len(experiment.variations) or total <= 0:
            return None
        position = hash_unit(experiment.seed or experiment.id, unit, experiment.hash_version)
        if position is None:
            return None
        ranges = bucket_ranges(len(given), experiment.coverage, [w / total for w in given])
        index = choose_variation(position, ranges)
        return experiment.variations[index] if index >= 0 else None


@dataclass(frozen=True)
class RunningSet:
    by_experience: dict[str, RunningExperiment] = field(default_factory=dict)
    by_placement: dict[str, RunningExperiment] = field(default_factory=dict)
    holdout: RunningExperiment | None = None  # running with a share above 0

    def in_holdout(self, unit: str, assigned: str | None = None) -> bool:
        """Is the unit in the global holdout? ``assigned``: its sticky variation, if any."""
        if self.holdout is None:
            return False
        if assigned is not None:
            return assigned == HOLDOUT_VARIATION
        chosen = self.holdout.bucket(unit)
        return chosen is not None and chosen.id == HOLDOUT_VARIATION
