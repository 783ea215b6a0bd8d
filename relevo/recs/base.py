"""The interface every recommender shares (fit / recommend / similar / save / load).

Models are fitted on `Interactions`; requests arrive as a `Query` describing the person's
history as it is now (including events of the last second), so a model never needs the
person to have been in the training data. Scores come back for the whole catalog; the caller
(serving, evaluation) removes exclusions and takes the top k, so all strategies are ranked and
filtered the same way.

A GDPR erasure reaches trained models through `forget_users`: models that keep something of one
person (their row of the people x items matrix, their purchases, their sessions) drop it; models
that keep only item-level statistics (co-occurrence, popularity, item factors) have nothing of
one person to drop and keep the default (relevo.recs.forgetting lists which is which).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from relevo.recs.data import Interactions, ItemTable

Scores = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Query:
    """What a recommender may know about one request, in item index space.

    `history` items are ordered oldest first with matching `history_times` (ms) and
    `history_kinds` (Kind values); `now` is the request time in ms.
    """

    now: int
    user: int | None = None  # index in the training data, None for a new visitor
    history: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    history_times: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    history_kinds: npt.NDArray[np.int8] = field(default_factory=lambda: np.zeros(0, np.int8))
    context_items: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    """Product in view and/or cart contents: the seed of item-to-item strategies."""


class Recommender(ABC):
    """A named strategy. `score` returns one float per catalog item (higher is better;
    -inf for items the strategy cannot recommend at all) plus, per item, nothing more:
    reasons are produced by `explain` for the few items that are actually shown."""

    name: ClassVar[str]

    @abstractmethod
    def fit(self, data: Interactions, items: ItemTable | None = None) -> None: ...

    @abstractmethod
    def score(self, query: Query) -> Scores: ...

    def score_many(self, queries: list[Query]) -> npt.NDArray[np.float32]:
        """Scores for several queries at once (evaluation); models override when a batched
        matrix product is much faster than one query at a time."""
        if not queries:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack([self.score(q) for q in queries]).astype(np.float32)

    def forget_users(self, users: npt.NDArray[np.int64]) -> None:
        """Drop what the model keeps of these people (user indexes of its training data), in
        memory; `save` then writes the model without them. The user index space stays as it
        is. By default there is nothing to drop: the model keeps item-level statistics only."""
        return

    def explain(self, query: Query, item: int) -> str:
        """A short machine-readable reason, e.g. 'bought_together:SKU123'."""
        return self.name

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write the fitted model as plain files (.npz, loaded with allow_pickle=False)."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path) -> Recommender: ...
