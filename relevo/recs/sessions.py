"""In-session strategies: next items from this visit (session-kNN) and recently viewed.

Session-kNN (the V-SKNN variant of Ludewig & Jannach): the visit so far is compared with past
sessions that share its items (recent items of the visit weigh more); items of the `neighbours`
most similar sessions are scored by those similarities. For purchase-only data an order is a
session. The current visit is the tail of the history after the last 30-minute gap.

What is personal: the stored past sessions, each one person's visit; `owners` records whose it
was, so `forget_users` can drop them. Recently viewed keeps nothing (it reads the request).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from relevo.recs._arrays import load_arrays, save_arrays, without_rows
from relevo.recs.base import Query, Recommender, Scores
from relevo.recs.data import NO_GROUP, Interactions, ItemTable, Kind

SESSION_GAP_MS = 30 * 60_000


def current_visit(query: Query, longest: int = 10) -> np.ndarray:
    """Items of the latest session in the history (oldest first), at most `longest`."""
    times = query.history_times
    if times.size == 0:
        return np.zeros(0, dtype=np.int32)
    gaps = np.flatnonzero(np.diff(times) > SESSION_GAP_MS)
    start = int(gaps[-1]) + 1 if gaps.size else 0
    return query.history[start:][-longest:]


class SessionKNN(Recommender):
    name = "session"

    def __init__(self, neighbours: int = 100, max_sessions: int = 200_000) -> None:
        self.neighbours, self.max_sessions = neighbours, max_sessions
        self.sessions = sp.csr_matrix((0, 0), dtype=np.float32)
        self.owners: npt.NDArray[np.int64] | None = np.zeros(0, dtype=np.int64)  # user per row
        self.item_ids: list[str] = []

    def fit(self, data: Interactions, items: ItemTable | None = None) -> None:
        groups = np.where(data.sessions != NO_GROUP, data.sessions, data.baskets)
        mask = groups != NO_GROUP
        # A session is one person's (a session or order id shared by two people is split), so
        # it can be forgotten with them: the key is (session, person).
        n_users = max(data.n_users, 1)
        keys = groups[mask] * n_users + data.users[mask]
        # Only the latest sessions: recent behaviour predicts the next click best, and memory
        # stays bounded.
        codes, inverse = np.unique(keys, return_inverse=True)
        last_seen = np.zeros(codes.size, dtype=np.int64)
        np.maximum.at(last_seen, inverse, data.timestamps[mask])
        newest = np.argsort(-last_seen)[: self.max_sessions]
        keep = np.zeros(codes.size, dtype=bool)
        keep[newest] = True
        renumber = np.cumsum(keep) - 1
        rows = inverse[keep[inverse]]
        matrix = sp.csr_matrix(
            (
                np.ones(rows.size, dtype=np.float32),
                (renumber[rows], data.items[mask][keep[inverse]]),
            ),
            shape=(int(keep.sum()), data.n_items),
        )
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        lengths = np.asarray(matrix.sum(axis=1)).ravel()
        lengths[lengths == 0] = 1
        self.sessions = sp.csr_matrix(sp.diags(1.0 / np.sqrt(lengths)) @ matrix)
        self.owners = (codes[keep] % n_users).astype(np.int64)
        self.item_ids = list(data.item_ids)

    def forget_users(self, users: npt.NDArray[np.int64]) -> None:
        """Drops the sessions of these people. A model saved before owners were recorded
        cannot tell whose a session was, so it drops them all (until the next training)."""
        n_sessions = self.sessions.shape[0]
        if self.owners is None:
            owners, theirs = np.full(n_sessions, -1, np.int64), np.arange(n_sessions)
        else:
            owners, theirs = self.owners.copy(), np.flatnonzero(np.isin(self.owners, users))
        if theirs.size:
            owners[theirs] = -1
            self.sessions = without_rows(self.sessions, theirs)
            self.owners = owners

    def score(self, query: Query) -> Scores:
        sessions = self.sessions  # once: forgetting may swap in a new matrix meanwhile
        n_items = sessions.shape[1]
        visit = query.context_items if query.context_items.size else current_visit(query)
        scores = np.zeros(n_items, dtype=np.float32)
        if visit.size == 0:
            return scores
        weights = np.zeros(n_items, dtype=np.float32)
        # Linear decay by position: the last item of the visit counts most.
        np.maximum.at(weights, visit, np.arange(1, visit.size + 1, dtype=np.float32) / visit.size)
        similarity = sessions @ weights
        candidates = np.flatnonzero(similarity)
        if candidates.size > self.neighbours:
            candidates = candidates[np.argpartition(-similarity[candidates], self.neighbours)]
            candidates = candidates[: self.neighbours]
        if candidates.size:
            scores = np.asarray(
                sessions[candidates].T @ similarity[candidates], dtype=np.float32
            ).ravel()
        # Items of the visit stay candidates: people go back to a product they viewed earlier
        # in the visit, and zeroing them halved HitRate@20 on Diginetica's next-item task. The
        # product in view and the cart are left out by the serving exclusions.
        return scores

    def explain(self, query: Query, item: int) -> str:
        visit = query.context_items if query.context_items.size else current_visit(query)
        last = self.item_ids[int(visit[-1])] if visit.size else ""
        return f"session:{last}" if last else "session"

    def save(self, directory: Path) -> None:
        owners = {} if self.owners is None else {"owners": self.owners}
        save_arrays(
            directory,
            {"neighbours": self.neighbours, "max_sessions": self.max_sessions},
            sessions=self.sessions,
            item_ids=np.asarray(self.item_ids, dtype=np.str_),
            **owners,
        )

    @classmethod
    def load(cls, directory: Path) -> SessionKNN:
        params, arrays = load_arrays(directory)
        model = cls(**params)
        model.sessions, model.item_ids = arrays["sessions"], arrays["item_ids"].tolist()
        model.owners = arrays.get("owners")
        return model


class RecentlyViewed(Recommender):
    """The visitor's own product views, most recent first, without what they then bought."""

    name = "recently_viewed"

    def __init__(self) -> None:
        self.n_items = 0

    def fit(self, data: Interactions, items: ItemTable | None = None) -> None:
        self.n_items = data.n_items

    def score(self, query: Query) -> Scores:
        scores = np.zeros(self.n_items, dtype=np.float32)
        viewed = query.history_kinds == Kind.VIEW
        # Later positions overwrite earlier ones: each item scores by its latest view.
        scores[query.history[viewed]] = np.flatnonzero(viewed).astype(np.float32) + 1
        scores[query.history[query.history_kinds == Kind.PURCHASE]] = 0.0
        return scores

    def explain(self, query: Query, item: int) -> str:
        return "recently_viewed"

    def save(self, directory: Path) -> None:
        save_arrays(directory, {"n_items": self.n_items})

    @classmethod
    def load(cls, directory: Path) -> RecentlyViewed:
        params, _ = load_arrays(directory)
        model = cls()
        model.n_items = params["n_items"]
        return model
