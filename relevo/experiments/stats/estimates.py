"""What the engines answer: an estimate, or Unavailable with the reason it cannot be had.

Reasons, checked in this order for both arms (gbstats 0.8.0 answers the same cases with its
NO_UNITS_IN_VARIATION, ZERO_NEGATIVE_BASELINE_VARIATION and ZERO_NEGATIVE_VARIANCE):

    no_units         an arm has no units yet
    too_few_units    an arm has one unit: its variance is unknown
    zero_baseline    relative uplift of a control whose mean is 0 is undefined
    zero_variance    an arm's values are all equal (0 conversions, or all of them)
    not_finite       the sums overflowed floating point (values near 1e154 squared)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Difference = Literal["relative", "absolute"]
Reason = Literal["no_units", "too_few_units", "zero_baseline", "zero_variance", "not_finite"]

REASON_MESSAGES: dict[Reason, str] = {
    "no_units": "an arm has no units yet: wait for exposures",
    "too_few_units": "an arm has a single unit, so its variance is unknown: wait for more",
    "zero_baseline": "the control's mean is 0, so a relative uplift is undefined: "
    "ask for the absolute difference",
    "zero_variance": "an arm's values are all the same (no conversions, or only conversions), "
    "so there is no variance to test against: wait for more units",
    "not_finite": "the sums are too large for floating point: rescale the metric "
    "(e.g. revenue in currency units, not micro-units)",
}


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Unavailable:
    reason: Reason

    @property
    def message(self) -> str:
        return REASON_MESSAGES[self.reason]


def unavailable(code: str) -> Unavailable | None:
    """The Unavailable a batch's reason code stands for; None for "" (available)."""
    for reason in REASON_MESSAGES:
        if reason == code:
            return Unavailable(reason)
    return None
