"""Assignment passes GrowthBook's conformance cases for hashing, bucket ranges, variation
choice, equal weights and namespaces (../shared/conformance/growthbook/cases.json), one test
per case, so a visitor lands in the arm GrowthBook's SDKs would put them in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relevo.experiments.assignment import (
    assign,
    bucket_ranges,
    choose_variation,
    equal_weights,
    hash_unit,
    in_namespace,
)

CASES: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "shared/conformance/growthbook/cases.json").read_text()
)


@pytest.mark.parametrize(("seed", "value", "version", "expected"), CASES["hash"])
def test_hash(seed: str, value: str, version: int, expected: float | None) -> None:
    assert hash_unit(seed, value, version) == expected


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    CASES["getBucketRange"],
    ids=[c[0] for c in CASES["getBucketRange"]],
)
def test_bucket_ranges(name: str, args: list[Any], expected: list[list[float]]) -> None:
    found = bucket_ranges(*args)
    flat = [bound for r in found for bound in r]
    assert flat == pytest.approx([bound for r in expected for bound in r], abs=1e-9)
    assert len(found) == len(expected)


@pytest.mark.parametrize(
    ("name", "position", "ranges", "expected"),
    CASES["chooseVariation"],
    ids=[c[0] for c in CASES["chooseVariation"]],
)
def test_choose_variation(
    name: str, position: float, ranges: list[list[float]], expected: int
) -> None:
    assert choose_variation(position, [tuple(r) for r in ranges]) == expected  # type: ignore[misc]


@pytest.mark.parametrize(("count", "expected"), CASES["getEqualWeights"])
def test_equal_weights(count: int, expected: list[float]) -> None:
    assert equal_weights(count) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("name", "unit", "namespace", "expected"),
    CASES["inNamespace"],
    ids=[c[0] for c in CASES["inNamespace"]],
)
def test_in_namespace(name: str, unit: str, namespace: list[Any], expected: bool) -> None:
    assert in_namespace(unit, (namespace[0], namespace[1], namespace[2])) is expected


@given(
    seed=st.text(max_size=50),
    unit=st.text(max_size=200),
    weights=st.lists(st.floats(min_value=0.01, max_value=100), min_size=1, max_size=20),
)
def test_every_unit_gets_an_arm_at_full_coverage(
    seed: str, unit: str, weights: list[float]
) -> None:
    arm = assign(seed, unit, weights)
    assert 0 <= arm < len(weights)
    assert assign(seed, unit, weights) == arm  # deterministic


def test_arms_are_shared_by_weight() -> None:
    arms = [assign("exp-1", f"visitor-{n}", [1, 3]) for n in range(20_000)]
    assert abs(arms.count(1) / len(arms) - 0.75) < 0.015
