"""Buy again: the person's own purchases by frequency with recency decay, weighted by how
often the item is re-bought at all (a light bulb is; a sofa is not).

What is personal: `purchases`, each trained person's decayed purchases (`forget_users` drops
them). Per-item re-buy rates and buyer counts are item-level statistics over everyone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from relevo.recs._arrays import DAY_MS, load_arrays, row_of, save_arrays, without_rows
from relevo.recs.base import Query, Recommender, Scores
from relevo.recs.data import Interactions, ItemTable, Kind


def repurchase_counts(
    data: Interactions,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per item: how many people bought it, and how many of them in two or more orders."""
    bought = data.kinds == Kind.PURCHASE
    pairs = np.unique(
        np.stack([data.users[bought], data.items[bought], data.baskets[bought]]), axis=1
    )
    orders = sp.csr_matrix(
        (np.ones(pairs.shape[1], dtype=np.float32), (pairs[0], pairs[1])),
        shape=(data.n_users, data.n_items),
    )
    orders.sum_duplicates()
    buyers = np.asarray((orders > 0).sum(axis=0)).ravel().astype(np.float64)
    repeaters = np.asarray((orders > 1).sum(axis=0)).ravel().astype(np.float64)
    return buyers, repeaters


def repurchase_rates(data: Interactions, prior: float = 2.0) -> npt.NDArray[np.float32]:
    """Per item: the share of its buyers who bought it in two or more orders (smoothed
    towards the shop-wide share, so an item with three buyers isn't 0 or 1)."""
    buyers, repeaters = repurchase_counts(data)
    overall = repeaters.sum() / max(buyers.sum(), 1.0)
    return ((repeaters + prior * overall) / (buyers + prior)).astype(np.float32)


class BuyAgain(Recommender):
    name = "buy_again"

    def __init__(self, half_life_days: float = 90.0) -> None:
        self.half_life_days = half_life_days
        self.purchases = sp.csr_matrix((0, 0), dtype=np.float32)  # users x items, decayed
        self.reference_ms = 0
        self.rates = np.zeros(0, dtype=np.float32)
        self.buyers = np.zeros(0, dtype=np.float32)

    def fit(self, data: Interactions, items: ItemTable | None = None) -> None:
        bought = data.kinds == Kind.PURCHASE
        self.reference_ms = int(data.timestamps.max()) if len(data) else 0
        age = (self.reference_ms - data.timestamps[bought]) / (self.half_life_days * DAY_MS)
        self.purchases = sp.csr_matrix(
            (np.power(0.5, age).astype(np.float32), (data.users[bought], data.items[bought])),
            shape=(data.n_users, data.n_items),
        )
        self.purchases.sum_duplicates()
        self.rates = repurchase_rates(data)
        self.buyers = repurchase_counts(data)[0].astype(np.float32)

    def personal(self, query: Query) -> Scores:
        """Decayed purchase frequency of this person: training purchases plus new ones."""
        scores = np.zeros(self.rates.size, dtype=np.float32)
        if query.user is not None and query.user < self.purchases.shape[0]:
            indices, values = row_of(self.purchases, query.user)
            decay = 0.5 ** (max(0, query.now - self.reference_ms) / (self.half_life_days * DAY_MS))
            scores[indices] = values * decay
        fresh = (query.history_kinds == Kind.PURCHASE) & (query.history_times > self.reference_ms)
        if fresh.any():
            age = (query.now - query.history_times[fresh]) / (self.half_life_days * DAY_MS)
            np.add.at(scores, query.history[fresh], np.power(0.5, age).astype(np.float32))
        return scores

    def has_bought(self, query: Query, item: int) -> bool:
        """Whether the person bought `item` before (training data or since)."""
        if query.user is not None and query.user < self.purchases.shape[0]:
            indices, _ = row_of(self.purchases, query.user)
            if item in indices:
                return True
        bought = query.history[query.history_kinds == Kind.PURCHASE]
        return bool((bought == item).any())

    def score(self, query: Query) -> Scores:
        return self.personal(query) * self.rates

    def forget_users(self, users: npt.NDArray[np.int64]) -> None:
        self.purchases = without_rows(self.purchases, users)

    def explain(self, query: Query, item: int) -> str:
        return "buy_again"

    def save(self, directory: Path) -> None:
        save_arrays(
            directory,
            {"half_life_days": self.half_life_days, "reference_ms": self.reference_ms},
            purchases=self.purchases,
            rates=self.rates,
            buyers=self.buyers,
        )

    @classmethod
    def load(cls, directory: Path) -> BuyAgain:
        params, arrays = load_arrays(directory)
        model = cls(params["half_life_days"])
        model.reference_ms = params["reference_ms"]
        model.purchases = arrays["purchases"]
        model.rates = arrays["rates"]
        model.buyers = arrays["buyers"]
        return model
