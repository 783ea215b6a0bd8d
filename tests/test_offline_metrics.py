"""Offline evaluation: metrics against hand-computed values and properties over random
rankings; the temporal split never leaks the test period into training."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from relevo.recs.data import Interactions, Kind
from relevo.recs.metrics import ranking_metrics, top_k
from relevo.recs.split import temporal_split


def test_metrics_by_hand() -> None:
    ranked = np.array([[3, 1, 2] + [-1] * 17, [0, 4, 2] + [-1] * 17])
    result = ranking_metrics(ranked, [{1, 5}, {9}], n_items=10)
    assert result["people"] == 2
    assert result["recall@10"] == (0.5 + 0.0) / 2
    first = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert math.isclose(result["ndcg@10"], first / 2)
    assert result["hit@20"] == 0.5
    assert result["mrr@20"] == (1 / 2) / 2
    assert math.isclose(result["coverage@20"], 5 / 10)  # items 0, 1, 2, 3, 4 shown


def test_top_k_is_best_first_and_never_picks_excluded_items() -> None:
    scores = np.array([[0.1, 0.9, -np.inf, 0.5]], dtype=np.float32)
    assert top_k(scores, 3).tolist() == [[1, 3, 0]]
    assert top_k(scores, 4).tolist() == [[1, 3, 0, -1]]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(5, 40).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.permutations(list(range(n))), min_size=1, max_size=6),
            st.lists(st.sets(st.integers(0, n - 1), max_size=6), min_size=6, max_size=6),
        )
    )
)
def test_metrics_are_bounded_and_perfect_rankings_score_one(case: tuple) -> None:  # type: ignore[type-arg]
    n, rankings, truths = case
    truths = truths[: len(rankings)]
    ranked = np.array([r[:20] + [-1] * (20 - len(r[:20])) for r in rankings])
    result = ranking_metrics(ranked, truths, n)
    for name, value in result.items():
        if name != "people":
            assert 0.0 <= value <= 1.0 + 1e-9, (name, value)
    perfect = np.array(
        [sorted(t) + [i for i in range(n) if i not in t][: 20 - len(t)] for t in truths]
    )
    best = ranking_metrics(perfect, truths, n)
    if best["people"]:
        assert math.isclose(best["ndcg@20"], 1.0) and math.isclose(best["recall@20"], 1.0)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 8), st.integers(0, 12), st.integers(0, 1000), st.booleans()),
        min_size=20,
        max_size=120,
    )
)
def test_the_split_never_leaks_the_future(rows: list[tuple[int, int, int, bool]]) -> None:
    frame = pl.DataFrame(
        {
            "user_id": [f"u{r[0]}" for r in rows],
            "item_id": [f"i{r[1]}" for r in rows],
            "timestamp": [r[2] for r in rows],
            "kind": [int(Kind.PURCHASE if r[3] else Kind.VIEW) for r in rows],
            "basket_id": [f"b{r[0]}-{r[2]}" for r in rows],
        }
    )
    data = Interactions.from_frame(frame)
    split = temporal_split(data)
    assert (split.train.timestamps < split.cutoff_ms).all()
    for person, target, new, known in zip(
        split.people, split.targets, split.new_targets, split.known, strict=True
    ):
        assert person in set(split.train.users.tolist())  # only people with a past
        assert target and not (new & known)
        assert new <= target


def test_the_server_never_loads_the_evaluation_code() -> None:
    # relevo.offline is the evaluation runner only: serving (for_you's validation included)
    # has what it needs in relevo.recs.
    import subprocess
    import sys

    code = (
        "import sys, relevo.api.app, relevo.recs.personal, relevo.recs.live, relevo.jobs.training;"
        "print(sorted(m for m in sys.modules if m.startswith('relevo.offline')))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
