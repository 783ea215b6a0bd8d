"""Which variant of an experience a visitor sees: deterministic, by hashing (experience id,
visitor) onto the variants' weights (relevo.experiments.assignment, GrowthBook's hashing), so a
visitor keeps seeing the same one. Pure.

This is the seam experiments replace (issue 12): one function, given the experience and the
visitor's key, answering one of its variants.
"""

from __future__ import annotations

from collections.abc import Sequence

from relevo.experiences.model import Variant
from relevo.experiments.assignment import assign


def choose_variant(experience_id: str, visitor_key: str, variants: Sequence[Variant]) -> Variant:
    arm = assign(experience_id, visitor_key, [v.weight for v in variants])
    return variants[arm] if 0 <= arm < len(variants) else variants[0]
