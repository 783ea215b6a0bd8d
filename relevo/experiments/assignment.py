"""Deterministic assignment: GrowthBook's hashing, bucket ranges and variation choice
(passing the `hash`, `getBucketRange`, `chooseVariation`, `getEqualWeights` and `inNamespace`
cases of ../shared/conformance/growthbook/cases.json).

    hash(seed, value, 1)  FNV-1a 32 of value + seed, mod 1000, / 1000
    hash(seed, value, 2)  FNV-1a 32 of the decimal text of FNV-1a 32 of seed + value,
                          mod 10000, / 10000 (version 2: no bias between similar seeds)

A unit (a visitor) lands in [0, 1); the variations' ranges split [0, coverage) of each
variation's slot by its weight, so lowering coverage leaves people in the same arm or out of
the experiment, never in another arm.
"""

from __future__ import annotations

from collections.abc import Sequence

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193

BucketRange = tuple[float, float]


def fnv1a32(text: str) -> int:
    value = _FNV_OFFSET
    for char in text:
        # GrowthBook's JavaScript hashes UTF-16 code units' low bytes (charCodeAt); so do we.
        for unit in _utf16_units(char):
            value ^= unit & 0xFF
            value = (value * _FNV_PRIME) & 0xFFFFFFFF
    return value


def _utf16_units(char: str) -> tuple[int, ...]:
    point = ord(char)
    if point < 0x10000:
        return (point,)
    point -= 0x10000
    return (0xD800 + (point >> 10), 0xDC00 + (point & 0x3FF))


def hash_unit(seed: str, value: str, version: int) -> float | None:
    """Where ``value`` lands in [0, 1) for ``seed``; None for an unknown hash version."""
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    return None


def equal_weights(count: int) -> list[float]:
    return [1 / count] * count if count > 0 else []


def bucket_ranges(
    count: int, coverage: float, weights: Sequence[float] | None = None
) -> list[BucketRange]:
    """Each variation's [start, end): coverage clamped to [0, 1]; weights that do not match
    the count or do not sum to 1 (within 0.01) fall back to equal weights."""
    coverage = min(1.0, max(0.0, coverage))
    if weights is None or len(weights) != count or not 0.99 <= sum(weights) <= 1.01:
        weights = equal_weights(count)
    ranges: list[BucketRange] = []
    cumulative = 0.0
    for weight in weights:
        start = cumulative
        cumulative += weight
        ranges.append((start, start + coverage * weight))
    return ranges


def choose_variation(position: float, ranges: Sequence[BucketRange]) -> int:
    """The index of the range holding ``position``; -1 when none does (out of coverage)."""
    for index, (start, end) in enumerate(ranges):
        if start <= position < end:
            return index
    return -1


def in_namespace(unit: str, namespace: tuple[str, float, float]) -> bool:
    """GrowthBook namespaces: mutually exclusive experiments share a namespace's [0, 1)."""
    name, start, end = namespace
    position = hash_unit("__" + name, unit, 1)
    return position is not None and start <= position < end


def assign(seed: str, unit: str, weights: Sequence[float], coverage: float = 1.0) -> int:
    """The arm of ``unit`` among ``len(weights)`` (weights in any positive scale), or -1."""
    total = sum(weights)
    if not weights or total <= 0:
        return -1
    position = hash_unit(seed, unit, 2)
    assert position is not None
    normalised = [w / total for w in weights]
    return choose_variation(position, bucket_ranges(len(weights), coverage, normalised))
