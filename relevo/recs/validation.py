"""Scoring a split with a model: one query per person as the server would build it (their
latest history, their last basket as context), scores in batches, targets (a) and (b).

Serving code needs it too: for_you chooses its blend by measuring candidates on a validation
split of the shop's own data (relevo.recs.personal). relevo.offline builds the whole
evaluation on it; nothing here imports relevo.offline."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from relevo.recs.base import Query, Recommender
from relevo.recs.data import NO_GROUP, Interactions
from relevo.recs.metrics import KS, ranking_metrics, top_k
from relevo.recs.split import Split

HISTORY = 50


def queries(split: Split) -> list[Query]:
    train = split.train
    order = np.argsort(train.users, kind="stable")  # train is time-ordered: stays so per user
    users = train.users[order]
    starts = np.searchsorted(users, split.people, side="left")
    ends = np.searchsorted(users, split.people, side="right")
    result = []
    for person, start, end in zip(split.people, starts, ends, strict=True):
        rows = order[max(start, end - HISTORY) : end]
        last = order[end - 1] if end > start else None
        context = np.zeros(0, dtype=np.int32)
        if last is not None:
            group = train.baskets if train.baskets[last] != NO_GROUP else train.sessions
            mine = order[start:end]
            if group[last] != NO_GROUP:
                context = np.unique(train.items[mine[group[mine] == group[last]]]).astype(np.int32)
            else:
                context = train.items[[last]].astype(np.int32)
        result.append(
            Query(
                now=split.cutoff_ms,
                user=person,
                history=train.items[rows],
                history_times=train.timestamps[rows],
                history_kinds=train.kinds[rows],
                context_items=context,
            )
        )
    return result


def batched_scores(
    model: Recommender, all_queries: list[Query], batch: int = 256
) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, len(all_queries), batch):
        yield start, model.score_many(all_queries[start : start + batch])


def evaluate_split(
    model: Recommender, split: Split, all_queries: list[Query] | None = None
) -> dict[str, dict[str, float]]:
    """Metrics for target (a) all purchases and (b) new items only."""
    all_queries = all_queries if all_queries is not None else queries(split)
    k = max(KS)
    ranked_a, ranked_b = [], []
    n_items = split.train.n_items
    for start, scores in batched_scores(model, all_queries):
        scores = scores.astype(np.float32, copy=True)
        ranked_a.append(top_k(scores, k))
        for row in range(scores.shape[0]):
            known = split.known[start + row]
            if known:
                scores[row, list(known)] = -np.inf
        ranked_b.append(top_k(scores, k))
    a = np.vstack(ranked_a) if ranked_a else np.zeros((0, k), dtype=np.intp)
    b = np.vstack(ranked_b) if ranked_b else np.zeros((0, k), dtype=np.intp)
    return {
        "a": ranking_metrics(a, split.targets, n_items),
        "b": ranking_metrics(b, split.new_targets, n_items),
    }


def fits_split(data: Interactions, minimum_people: int = 20) -> bool:
    """Whether there is enough data for an inner validation split."""
    return data.n_users >= minimum_people and len(data) >= 10 * minimum_people
