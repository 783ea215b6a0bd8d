"""Collaborative models over the people x items matrix: EASE, item-kNN (cosine) and iALS
(the `implicit` library). Each scores from the query's history vector, so a visitor who was
not in the training data (or did something a second ago) is scored all the same.

What is personal: `user_rows`, each trained person's row of the people x items matrix, which
`forget_users` empties. The item-item weights (EASE), neighbour lists (item-kNN) and item
factors (iALS) are item-level statistics over everyone and stay until the next training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from relevo.recs._arrays import (
    history_items,
    history_vector,
    load_arrays,
    prune_rows,
    row_of,
    save_arrays,
    without_rows,
)
from relevo.recs.base import Query, Recommender, Scores
from relevo.recs.data import Interactions, ItemTable

DEFAULT_WEIGHTS = (1.0, 2.0, 4.0)  # view, cart, purchase


def training_matrix(data: Interactions, half_life_days: float | None) -> sp.csr_matrix:
    """People x items with kind weights (and optional recency decay to the data's end),
    dampened with log1p so one bulk buyer does not dominate."""
    weights = np.asarray(DEFAULT_WEIGHTS, dtype=np.float32)[data.kinds.astype(np.intp)]
    if half_life_days is not None and len(data):
        age = (data.timestamps.max() - data.timestamps) / (half_life_days * 86_400_000)
        weights = weights * np.power(0.5, age).astype(np.float32)
    matrix = sp.csr_matrix(
        (weights, (data.users, data.items)), shape=(data.n_users, data.n_items), dtype=np.float32
    )
    matrix.sum_duplicates()
    matrix.data = np.log1p(matrix.data)
    return matrix


def _history(query: Query, n_items: int, half_life_days: float | None) -> np.ndarray:
    vector = history_vector(query, n_items, half_life_days)
    return np.log1p(vector)


class EASE(Recommender):
    """Steck's EASE (closed form, dense). Scales by keeping the `max_items` most popular items
    in the model (a 50,000-item dense inverse would take 10 GB); others score 0 here."""

    name = "ease"

    def __init__(
        self, l2: float = 200.0, max_items: int = 6000, half_life_days: float | None = None
    ) -> None:
        self.l2, self.max_items, self.half_life_days = l2, max_items, half_life_days
        self.kept = np.zeros(0, dtype=np.int64)
        self.weights = np.zeros((0, 0), dtype=np.float32)
        self.user_rows = sp.csr_matrix((0, 0), dtype=np.float32)
        self.n_items = 0

    def fit(self, data: Interactions, items: ItemTable | None = None) -> None:
        matrix = training_matrix(data, self.half_life_days)
        self.n_items = data.n_items
        counts = np.asarray((matrix > 0).sum(axis=0)).ravel()
        kept = np.flatnonzero(counts)
        if kept.size > self.max_items:
            kept = kept[np.argsort(-counts[kept], kind="stable")[: self.max_items]]
        self.kept = np.sort(kept)
        sub = matrix[:, self.kept]
        gram = (sub.T @ sub).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.l2
        inverse = np.linalg.inv(gram)
        weights = inverse / (-np.diag(inverse))
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights = weights.astype(np.float32)
        self.user_rows = matrix

    def _vector(self, query: Query) -> np.ndarray:
        vector = _history(query, self.n_items, self.half_life_days)
        if query.user is not None and query.user < self.user_rows.shape[0]:
            indices, values = row_of(self.user_rows, query.user)
            vector[indices] = np.maximum(vector[indices], values)
        return vector

    def score(self, query: Query) -> Scores:
        return self.score_many([query])[0]

    def score_many(self, queries: list[Query]) -> Scores:
        history = np.vstack([self._vector(q) for q in queries])[:, self.kept]
        scores = np.zeros((len(queries), self.n_items), dtype=np.float32)
        scores[:, self.kept] = history @ self.weights
        return scores

    def forget_users(self, users: npt.NDArray[np.int64]) -> None:
        """Empties their rows of the training matrix; the item-item weights stay."""
        self.user_rows = without_rows(self.user_rows, users)

    def save(self, directory: Path) -> None:
        params = {"l2": self.l2, "max_items": self.max_items, "half_life_days": self.half_life_days}
        save_arrays(
            directory,
            {**params, "n_items": self.n_items},
            kept=self.kept,
            weights=self.weights,
            user_rows=self.user_rows,
        )

    @classmethod
    def load(cls, directory: Path) -> EASE:
        params, arrays = load_arrays(directory)
        model = cls(params["l2"], params["max_items"], params["half_life_days"])
        model.n_items = params["n_items"]
        model.kept, model.weights, model.user_rows = (
            arrays["kept"],
            arrays["weights"],
            arrays["user_rows"],
        )
        return model


class ItemKNN(Recommender):
    """Item-based kNN with cosine similarity, `neighbours` kept per item."""

    name = "item_knn"

    def __init__(self, neighbours: int = 100, half_life_days: float | None = None) -> None:
        self.neighbours, self.half_life_days = neighbours, half_life_days
        self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)
        self.user_rows = sp.csr_matrix((0, 0), dtype=np.float32)

    def fit(self, data: Interactions, items: ItemTable | None = None) -> None:
        matrix = training_matrix(data, self.half_life_days)
        binary = (matrix > 0).astype(np.float32)
        norms = np.sqrt(np.asarray(binary.sum(axis=0)).ravel())
        norms[norms == 0] = 1.0
        normalised = sp.csr_matrix(binary @ sp.diags(1.0 / norms))
        cooc = sp.csr_matrix(normalised.T @ normalised)
        cooc.setdiag(0)
        self.similarity = prune_rows(cooc, self.neighbours).T.tocsr()  # column j: j's neighbours
        self.user_rows = matrix

    def score(self, query: Query) -> Scores:
        return self.score_many([query])[0]

    def score_many(self, queries: list[Query]) -> Scores:
        n_items = self.similarity.shape[0]
        rows = []
        for q in queries:
            vector = _history(q, n_items, self.half_life_days)
            if q.user is not None and q.user < self.user_rows.shape[0]:
                indices, values = row_of(self.user_rows, q.user)
                vector[indices] = np.maximum(vector[indices], values)
            rows.append(vector)
        history = sp.csr_matrix(np.vstack(rows))
        return np.asarray((history @ self.similarity.T).todense(), dtype=np.float32)

    def forget_users(self, users: npt.NDArray[np.int64]) -> None:
        """Empties their rows of the training matrix; the neighbour lists stay."""
        self.user_rows = without_rows(self.user_rows, users)

    def save(self, directory: Path) -> None:
        save_arrays(
            directory,
            {"neighbours": self.neighbours, "half_life_days": self.half_life_days},
            similarity=self.similarity,
            user_rows=self.user_rows,
        )

    @classmethod
    def load(cls, directory: Path) -> ItemKNN:
        params, arrays = load_arrays(directory)
        model = cls(params["neighbours"], params["half_life_days"])
        model.similarity, model.user_rows = arrays["similarity"], arrays["user_rows"]
        return model


class ALS(Recommender):
    """iALS from `implicit` (CPU). A person's vector is re-solved from their current history,
    so new visitors and the last second's events count."""

    name = "ials"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 10.0,
        iterations: int = 15,
    ) -> None:
        self.factors, self.regularization = factors, regularization
        self.alpha, self.iterations = alpha, iterations
        self.item_factors = np.zeros((0, 0), dtype=np.float32)
        self.user_rows = sp.csr_matrix((0, 0), dtype=np.float32)
        self._gram: np.ndarray | None = None

    def fit(self, data: Interactions, items: ItemTable | None = None) -> None:
        # implicit is imported by fitting only: serving solves the user step in numpy.
        from implicit.cpu.als import AlternatingLeastSquares

        matrix = training_matrix(data, None)
        with threadpool_limits(1, "blas"):  # implicit's advice: its own threads, not BLAS's
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=7,
            )
            model.fit(matrix, show_progress=False)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)
        self.user_rows = matrix
        self._gram = None

    def _sparse_history(self, query: Query) -> tuple[np.ndarray, np.ndarray]:
        """The person's items and log-weights, sparse: training row and new signals, the
        larger where both have an item (as `_history` gives the other models, densely)."""
        idx, vals = history_items(query)
        vals = np.log1p(vals)
        if query.user is not None and query.user < self.user_rows.shape[0]:
            row_idx, row_vals = row_of(self.user_rows, query.user)
            idx, vals = np.concatenate([idx, row_idx]), np.concatenate([vals, row_vals])
            order = np.argsort(idx, kind="stable")
            idx, vals = idx[order], vals[order]
            starts = np.flatnonzero(np.r_[True, np.diff(idx) != 0])
            idx, vals = idx[starts], np.maximum.reduceat(vals, starts)
        return idx, vals

    def _user_vector(self, idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Solve the person's factors from their history (the ALS user step)."""
        y = self.item_factors
        if self._gram is None:  # Y'Y + reg I is the same for everyone: once per model
            self._gram = y.T @ y + self.regularization * np.eye(y.shape[1], dtype=np.float32)
        keep = values > 0
        idx, values = idx[keep], values[keep]
        if idx.size == 0:
            return np.zeros(y.shape[1], dtype=np.float32)
        confidence = self.alpha * values
        yi = y[idx]
        a = self._gram + (yi.T * confidence) @ yi
        b = (yi.T * (1.0 + confidence)).sum(axis=1)
        return np.linalg.solve(a, b).astype(np.float32)

    def score(self, query: Query) -> Scores:
        return self.score_many([query])[0]

    def score_many(self, queries: list[Query]) -> Scores:
        # Sparse histories: no catalog-length vector per person on the serving path.
        users = np.vstack([self._user_vector(*self._sparse_history(q)) for q in queries])
        return users @ self.item_factors.T

    def forget_users(self, users: npt.NDArray[np.int64]) -> None:
        """Empties their rows of the training matrix; the item factors stay."""
        self.user_rows = without_rows(self.user_rows, users)

    def save(self, directory: Path) -> None:
        params = {
            "factors": self.factors,
            "regularization": self.regularization,
            "alpha": self.alpha,
            "iterations": self.iterations,
        }
        save_arrays(directory, params, item_factors=self.item_factors, user_rows=self.user_rows)

    @classmethod
    def load(cls, directory: Path) -> ALS:
        params, arrays = load_arrays(directory)
        model = cls(**params)
        model.item_factors, model.user_rows = arrays["item_factors"], arrays["user_rows"]
        return model
