"""Scoring from seed items through an item x item matrix of related items (row = seed):
shared by the item-to-item strategies, which also name the seed that earned an item."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from relevo.recs.base import Query, Scores


def seeds_of(query: Query, fall_back_to_history: int = 3) -> np.ndarray:
    """The product in view / cart, else the last few items of the history."""
    if query.context_items.size:
        return np.unique(query.context_items)
    return np.unique(query.history[-fall_back_to_history:])


# Rows are read through the CSR arrays, not scipy's indexing: `related[seed]` builds a new
# matrix and `related[seed, item]` validates its indices, some tens of microseconds each, and
# an answer of ten items asks for dozens.


def _row(related: sp.csr_matrix, seed: int) -> tuple[np.ndarray, np.ndarray]:
    start, end = related.indptr[seed], related.indptr[seed + 1]
    return related.indices[start:end], related.data[start:end]


def score_from_seeds(related: sp.csr_matrix, seeds: np.ndarray) -> Scores:
    scores = np.zeros(related.shape[1], dtype=np.float32)
    for seed in seeds:
        columns, values = _row(related, int(seed))
        np.add.at(scores, columns, values)
    scores[seeds] = 0.0  # never the seeds themselves
    return scores


def best_seed(related: sp.csr_matrix, seeds: np.ndarray, item: int) -> int | None:
    best, best_value = None, 0.0
    for seed in seeds:
        columns, values = _row(related, int(seed))
        value = float(values[columns == item].sum())  # duplicates, if any, add up as scipy's
        if value > best_value:
            best, best_value = int(seed), value
    return best
