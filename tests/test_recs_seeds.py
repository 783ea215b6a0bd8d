"""Seed scoring reads the CSR arrays directly (relevo.recs._seeds); it must give what scipy's
own indexing gives, on any matrix: duplicate entries, empty rows, seeds repeated."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from relevo.recs._seeds import best_seed, score_from_seeds


@st.composite
def matrices(draw: st.DrawFn) -> tuple[sp.csr_matrix, np.ndarray]:
    n = draw(st.integers(1, 30))
    entries = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.floats(0.01, 10)),
            max_size=120,
        )
    )
    rows = [e[0] for e in entries]
    cols = [e[1] for e in entries]
    values = [e[2] for e in entries]
    # Built from triplets without summing duplicates: a matrix as a model may hold one.
    matrix = sp.csr_matrix((values, (rows, cols)), shape=(n, n), dtype=np.float32)
    if draw(st.booleans()):
        matrix.sum_duplicates()
    seeds = np.asarray(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=5)))
    return matrix, np.unique(seeds)


@given(matrices())
def test_scores_are_scipys(case: tuple[sp.csr_matrix, np.ndarray]) -> None:
    related, seeds = case
    expected = np.zeros(related.shape[1], dtype=np.float32)
    for seed in seeds:
        expected += related[int(seed)].toarray().ravel()
    expected[seeds] = 0.0
    np.testing.assert_allclose(score_from_seeds(related, seeds), expected, rtol=1e-5)


@given(matrices(), st.integers(0, 29))
def test_the_best_seed_is_scipys(case: tuple[sp.csr_matrix, np.ndarray], item: int) -> None:
    related, seeds = case
    item = item % related.shape[1]
    values = [float(related[int(s), item]) for s in seeds]
    best = max(range(len(seeds)), key=lambda i: (values[i], -i))
    expected = int(seeds[best]) if values[best] > 0 else None
    assert best_seed(related, seeds, item) == expected
