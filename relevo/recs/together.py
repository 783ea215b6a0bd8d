"""Frequently bought together: association rules between items of the same order.

For a rule seed -> item: support = orders with both / all orders, confidence = orders with both
/ orders with the seed, lift = confidence / share of orders with the item. Rules need
`min_orders` co-occurrences and lift > 1; an item is scored by its best rules' confidence
(summed over the seeds: the product in view, or the whole cart), `keep` rules per seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from relevo.recs._arrays import load_arrays, prune_rows, save_arrays
from relevo.recs._seeds import best_seed, score_from_seeds, seeds_of
from relevo.recs.base import Query, Recommender, Scores
from relevo.recs.data import NO_GROUP, Interactions, ItemTable, Kind


def basket_matrix(data: Interactions) -> sp.csr_matrix:
    """Orders x items, 1 where the order holds the item."""
    mask = (data.kinds == Kind.PURCHASE) & (data.baskets != NO_GROUP)
    baskets, codes = np.unique(data.baskets[mask], return_inverse=True)
    matrix = sp.csr_matrix(
        (np.ones(codes.size, dtype=np.float32), (codes, data.items[mask])),
        shape=(baskets.size, data.n_items),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def association_rules(
    baskets: sp.csr_matrix, min_orders: int
) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """(confidence, lift) as seed x item sparse matrices, and each item's order count."""
    n_orders = max(baskets.shape[0], 1)
    counts = np.asarray(baskets.sum(axis=0)).ravel()
    together = sp.csr_matrix(baskets.T @ baskets)
    together.setdiag(0)
    together.data[together.data < min_orders] = 0
    together.eliminate_zeros()
    rows = np.repeat(np.arange(together.shape[0]), np.diff(together.indptr))
    confidence = together.data / counts[rows]
    lift = confidence / (counts[together.indices] / n_orders)
    shape = together.shape
    conf = sp.csr_matrix((confidence, together.indices, together.indptr), shape=shape)
    lifts = sp.csr_matrix((lift, together.indices, together.indptr), shape=shape)
    return conf, lifts, counts


class FrequentlyBoughtTogether(Recommender):
    name = "bought_together"

    def __init__(self, min_orders: int = 2, keep: int = 100) -> None:
        self.min_orders, self.keep = min_orders, keep
        self.rules = sp.csr_matrix((0, 0), dtype=np.float32)
        self.item_ids: list[str] = []

    def fit(self, data: Interactions, items: ItemTable | None = None) -> None:
        confidence, lift, _ = association_rules(basket_matrix(data), self.min_orders)
        confidence.data[lift.data <= 1.0] = 0  # no better than chance: not a rule
        self.rules = prune_rows(confidence, self.keep)
        self.item_ids = list(data.item_ids)

    def score(self, query: Query) -> Scores:
        return score_from_seeds(self.rules, seeds_of(query))

    def explain(self, query: Query, item: int) -> str:
        seed = best_seed(self.rules, seeds_of(query), item)
        return "bought_together" if seed is None else f"bought_together:{self.item_ids[seed]}"

    def save(self, directory: Path) -> None:
        save_arrays(
            directory,
            {"min_orders": self.min_orders, "keep": self.keep},
            rules=self.rules,
            item_ids=np.asarray(self.item_ids, dtype=np.str_),
        )

    @classmethod
    def load(cls, directory: Path) -> FrequentlyBoughtTogether:
        params, arrays = load_arrays(directory)
        model = cls(**params)
        model.rules, model.item_ids = arrays["rules"], arrays["item_ids"].tolist()
        return model
