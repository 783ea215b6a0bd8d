"""Trending: time-decayed popularity of every item (a category filter in the request narrows
it to one category). Also the "most popular" baseline of the offline evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from relevo.recs._arrays import DAY_MS, KIND_WEIGHTS, load_arrays, save_arrays
from relevo.recs.base import Query, Recommender, Scores
from relevo.recs.data import Interactions, ItemTable


class Trending(Recommender):
    name = "trending"

    def __init__(self, half_life_days: float | None = 7.0) -> None:
        self.half_life_days = half_life_days
        self.scores = np.zeros(0, dtype=np.float32)

    def fit(self, data: Interactions, items: ItemTable | None = None) -> None:
        weights = KIND_WEIGHTS[data.kinds.astype(np.intp)]
        if self.half_life_days is not None and len(data):
            age = (data.timestamps.max() - data.timestamps) / (self.half_life_days * DAY_MS)
            weights = weights * np.power(0.5, age)
        scores = np.bincount(data.items, weights=weights, minlength=data.n_items)
        # A tiny all-time count breaks ties among items the decay has rounded to nothing.
        scores = scores + 1e-9 * np.bincount(data.items, minlength=data.n_items)
        self.scores = scores.astype(np.float32)

    def score(self, query: Query) -> Scores:
        return self.scores.copy()

    def score_many(self, queries: list[Query]) -> Scores:
        return np.tile(self.scores, (len(queries), 1))

    def explain(self, query: Query, item: int) -> str:
        return "trending"

    def save(self, directory: Path) -> None:
        save_arrays(directory, {"half_life_days": self.half_life_days}, scores=self.scores)

    @classmethod
    def load(cls, directory: Path) -> Trending:
        params, arrays = load_arrays(directory)
        model = cls(params["half_life_days"])
        model.scores = arrays["scores"]
        return model
