"""Bought after: what people buy in a later order after buying X (cross-sell after purchase).

Counts, per person, pairs (X in an order, Y in a later order within `horizon_days`), Y != X,
each pair once per person; normalised like a lift (against Y's overall popularity, dampened
by `popularity_damping`), and items of X's own category weigh `same_category_weight` (a sofa
leads to an armchair, not to another sofa). Without a catalog the category step is skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from relevo.recs._arrays import DAY_MS, load_arrays, prune_rows, save_arrays
from relevo.recs._seeds import best_seed, score_from_seeds, seeds_of
from relevo.recs.base import Query, Recommender, Scores
from relevo.recs.data import NO_GROUP, Interactions, ItemTable, Kind


def later_pairs(data: Interactions, horizon_ms: int) -> sp.csr_matrix:
    """Item x item: how many people bought the column item in an order after the row item."""
    mask = (data.kinds == Kind.PURCHASE) & (data.baskets != NO_GROUP)
    users, items = data.users[mask], data.items[mask]
    times, baskets = data.timestamps[mask], data.baskets[mask]
    order = np.lexsort((times, users))
    users, items, times, baskets = users[order], items[order], times[order], baskets[order]
    seeds, follows = [], []
    bounds = np.flatnonzero(np.diff(users)) + 1
    for chunk in np.split(np.arange(users.size), bounds):
        if chunk.size < 2 or np.unique(baskets[chunk]).size < 2:
            continue
        t, b, it = times[chunk], baskets[chunk], items[chunk]
        # pairs (i, j) with j in a later order of this person within the horizon
        later = (t[None, :] > t[:, None]) & (b[None, :] != b[:, None])
        later &= (t[None, :] - t[:, None]) <= horizon_ms
        i_idx, j_idx = np.nonzero(later)
        if i_idx.size == 0:
            continue
        pairs = np.unique(np.stack([it[i_idx], it[j_idx]]), axis=1)  # once per person
        keep = pairs[0] != pairs[1]
        seeds.append(pairs[0][keep])
        follows.append(pairs[1][keep])
    if not seeds:
        return sp.csr_matrix((data.n_items, data.n_items), dtype=np.float32)
    matrix = sp.csr_matrix(
        (
            np.ones(sum(s.size for s in seeds), dtype=np.float32),
            (np.concatenate(seeds), np.concatenate(follows)),
        ),
        shape=(data.n_items, data.n_items),
    )
    matrix.sum_duplicates()
    return matrix


class BoughtAfter(Recommender):
    name = "bought_after"

    def __init__(
        self,
        horizon_days: float = 180.0,
        popularity_damping: float = 0.5,
        same_category_weight: float = 0.3,
        min_people: int = 2,
        keep: int = 100,
        max_person_lines: int = 400,
    ) -> None:
        self.horizon_days, self.popularity_damping = horizon_days, popularity_damping
        self.same_category_weight, self.min_people = same_category_weight, min_people
        self.keep, self.max_person_lines = keep, max_person_lines
        self.related = sp.csr_matrix((0, 0), dtype=np.float32)
        self.item_ids: list[str] = []

    def fit(self, data: Interactions, items: ItemTable | None = None) -> None:
        data = self._recent_lines(data)
        counts = later_pairs(data, int(self.horizon_days * DAY_MS))
        counts.data[counts.data < self.min_people] = 0
        counts.eliminate_zeros()
        buyers = np.bincount(data.items[data.kinds == Kind.PURCHASE], minlength=data.n_items)
        popularity = np.power(np.maximum(buyers, 1).astype(np.float64), self.popularity_damping)
        rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
        values = counts.data / np.maximum(buyers[rows], 1) / popularity[counts.indices]
        if items is not None and self.same_category_weight != 1.0:
            categories = np.asarray([c.lower() for c in items.categories], dtype=object)
            same = (categories[rows] == categories[counts.indices]) & (categories[rows] != "")
            values = np.where(same, values * self.same_category_weight, values)
        related = sp.csr_matrix((values, counts.indices, counts.indptr), shape=counts.shape)
        self.related = prune_rows(related, self.keep)
        self.item_ids = list(data.item_ids)

    def _recent_lines(self, data: Interactions) -> Interactions:
        """A bulk buyer's thousands of order lines would make pairs quadratic: keep each
        person's latest `max_person_lines` purchase lines."""
        mask = data.kinds == Kind.PURCHASE
        index = np.flatnonzero(mask)
        order = index[np.lexsort((-data.timestamps[index], data.users[index]))]
        users = data.users[order]
        first = np.r_[0, np.flatnonzero(np.diff(users)) + 1]
        rank = np.arange(users.size) - np.repeat(first, np.diff(np.r_[first, users.size]))
        keep = np.zeros(len(data), dtype=bool)
        keep[order[rank < self.max_person_lines]] = True
        return data.select(keep)

    def score(self, query: Query) -> Scores:
        return score_from_seeds(self.related, seeds_of(query))

    def explain(self, query: Query, item: int) -> str:
        seed = best_seed(self.related, seeds_of(query), item)
        return "bought_after" if seed is None else f"bought_after:{self.item_ids[seed]}"

    def save(self, directory: Path) -> None:
        params = {
            "horizon_days": self.horizon_days,
            "popularity_damping": self.popularity_damping,
            "same_category_weight": self.same_category_weight,
            "min_people": self.min_people,
            "keep": self.keep,
            "max_person_lines": self.max_person_lines,
        }
        save_arrays(
            directory, params, related=self.related, item_ids=np.asarray(self.item_ids, np.str_)
        )

    @classmethod
    def load(cls, directory: Path) -> BoughtAfter:
        params, arrays = load_arrays(directory)
        model = cls(**params)
        model.related, model.item_ids = arrays["related"], arrays["item_ids"].tolist()
        return model
