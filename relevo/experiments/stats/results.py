"""One metric's result for one variation against control, as every engine saw it, and its
JSON-ready view: no NaN or infinity ever reaches JSON; a number that cannot be had is None,
with the reason beside it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from relevo.experiments.stats.bayesian import BayesianEstimate
from relevo.experiments.stats.estimates import Difference, Interval, Unavailable
from relevo.experiments.stats.frequentist import FrequentistEstimate
from relevo.experiments.stats.sequential import SequentialEstimate


@dataclass(frozen=True)
class ArmSummary:
    name: str
    units: int
    mean: float  # before CUPED: what the arm really did
    stddev: float  # of one unit's value


@dataclass(frozen=True)
class ComparisonResult:
    metric: str
    control: ArmSummary
    variation: ArmSummary
    difference_type: Difference
    alpha: float
    frequentist: FrequentistEstimate | Unavailable
    sequential: SequentialEstimate | Unavailable
    bayesian: BayesianEstimate | Unavailable
    dimension: str | None = None  # e.g. "device=mobile" in a breakdown
    cuped_theta: float | None = None
    adjusted_p_value: float | None = None  # Benjamini-Hochberg over a breakdown

    def view(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "dimension": self.dimension,
            "difference_type": self.difference_type,
            "alpha": self.alpha,
            "control": _arm_view(self.control),
            "variation": _arm_view(self.variation),
            "cuped_theta": _number(self.cuped_theta),
            "frequentist": _frequentist_view(self.frequentist, self.adjusted_p_value),
            "sequential": _sequential_view(self.sequential),
            "bayesian": _bayesian_view(self.bayesian),
        }


def _number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _interval(ci: Interval) -> list[float | None]:
    return [_number(ci.low), _number(ci.high)]


def _arm_view(arm: ArmSummary) -> dict[str, Any]:
    return {
        "name": arm.name,
        "units": arm.units,
        "mean": _number(arm.mean),
        "stddev": _number(arm.stddev),
    }


def _refusal(refused: Unavailable, fields: tuple[str, ...]) -> dict[str, Any]:
    return {**dict.fromkeys(fields), "reason": refused.reason, "message": refused.message}


_FREQUENTIST = ("estimate", "stddev", "ci", "p_value", "adjusted_p_value", "dof")
_SEQUENTIAL = ("estimate", "stddev", "ci", "p_value", "tuning_parameter")
_BAYESIAN = ("expected", "stddev", "ci", "chance_to_win", "risk")


def _frequentist_view(
    result: FrequentistEstimate | Unavailable, adjusted: float | None
) -> dict[str, Any]:
    if isinstance(result, Unavailable):
        return _refusal(result, _FREQUENTIST)
    return {
        "estimate": _number(result.estimate),
        "stddev": _number(result.stddev),
        "ci": _interval(result.ci),
        "p_value": _number(result.p_value),
        "adjusted_p_value": _number(adjusted),
        "dof": _number(result.dof),
        "reason": None,
        "message": None,
    }


def _sequential_view(result: SequentialEstimate | Unavailable) -> dict[str, Any]:
    if isinstance(result, Unavailable):
        return _refusal(result, _SEQUENTIAL)
    return {
        "estimate": _number(result.estimate),
        "stddev": _number(result.stddev),
        "ci": _interval(result.ci),
        "p_value": _number(result.p_value),
        "tuning_parameter": result.tuning_parameter,
        "reason": None,
        "message": None,
    }


def _bayesian_view(result: BayesianEstimate | Unavailable) -> dict[str, Any]:
    if isinstance(result, Unavailable):
        return _refusal(result, _BAYESIAN)
    return {
        "expected": _number(result.expected),
        "stddev": _number(result.stddev),
        "ci": _interval(result.ci),
        "chance_to_win": _number(result.chance_to_win),
        "risk": {
            "control": _number(result.risk_of_control),
            "variation": _number(result.risk_of_treatment),
        },
        "reason": None,
        "message": None,
    }
