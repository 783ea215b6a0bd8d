"""Item-to-item evaluation tasks on a temporal split, full ranking:

- next basket: from a person's last order before the cutoff, predict their next order;
- basket completion: hide one item of each test order, predict it from the others;
- next item: within each test session, predict the next product viewed from those before,
  following the session-recommendation protocol of Ludewig & Jannach's session-rec (so its
  figures can be set beside published ones): items viewed fewer than 5 times and sessions of
  one view are dropped first; the test sessions are those starting in the last 10% of time;
  their views of items never seen in training are dropped (nothing could predict them) and
  sessions left with one view too; at every prefix of a test session (all of it, repeats
  included) the next view is the target, and every training item is ranked.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from relevo.recs.base import Query, Recommender
from relevo.recs.data import NO_GROUP, Interactions, ItemTable, Kind
from relevo.recs.metrics import KS, ranking_metrics, top_k
from relevo.recs.split import temporal_split
from relevo.recs.validation import queries

Factory = Callable[[], Recommender]


def _measure(
    model: Recommender,
    asked: list[Query],
    truth: list[set[int]],
    n_items: int,
    never: np.ndarray | None = None,
) -> dict[str, float]:
    """`never`: items left out of every ranking (those not in the training data)."""
    ranked = []
    for start in range(0, len(asked), 256):
        scores = model.score_many(asked[start : start + 256]).astype(np.float32)
        if never is not None:
            scores[:, never] = -np.inf
        for row, query in enumerate(asked[start : start + 256]):
            scores[row, query.context_items] = -np.inf  # what is in view is not a prediction
        ranked.append(top_k(scores, max(KS)))
    matrix = np.vstack(ranked) if ranked else np.zeros((0, max(KS)), dtype=np.intp)
    return ranking_metrics(matrix, truth, n_items)


def next_basket(
    data: Interactions, models: dict[str, Factory], items: ItemTable | None = None
) -> dict[str, dict[str, float]]:
    split = temporal_split(data)
    asked = queries(split)
    after = (data.timestamps >= split.cutoff_ms) & (data.kinds == Kind.PURCHASE)
    first_order: dict[int, tuple[int, int]] = {}
    for user, basket, ts in zip(
        data.users[after], data.baskets[after], data.timestamps[after], strict=True
    ):
        seen = first_order.get(int(user))
        if seen is None or ts < seen[1]:
            first_order[int(user)] = (int(basket), int(ts))
    truth = []
    for person in split.people:
        basket = first_order.get(person, (NO_GROUP, 0))[0]
        rows = after & (data.users == person) & (data.baskets == basket)
        truth.append(set(data.items[rows].tolist()))
    results = {}
    for name, factory in models.items():
        model = factory()
        model.fit(split.train, items)
        results[name] = _measure(model, asked, truth, data.n_items)
    return results


def _held_out_queries(
    groups: np.ndarray, data: Interactions, test: np.ndarray, mode: str, seed: int = 7
) -> tuple[list[Query], list[set[int]]]:
    rng = np.random.default_rng(seed)
    order = np.flatnonzero(test)
    order = order[np.lexsort((data.timestamps[order], groups[order]))]
    asked, truth = [], []
    for chunk in np.split(order, np.flatnonzero(np.diff(groups[order])) + 1):
        items = data.items[chunk]
        if mode == "completion":
            unique = np.unique(items)
            if unique.size < 2:
                continue
            hidden = int(rng.choice(unique))
            context = unique[unique != hidden].astype(np.int32)
            asked.append(Query(now=int(data.timestamps[chunk[0]]), context_items=context))
            truth.append({hidden})
        else:  # next item at every prefix of the session
            for step in range(1, items.size):
                prefix = items[:step].astype(np.int32)
                asked.append(
                    Query(
                        now=int(data.timestamps[chunk[step]]),
                        history=prefix,
                        history_times=data.timestamps[chunk[:step]],
                        history_kinds=np.zeros(prefix.size, dtype=np.int8),
                    )
                )
                truth.append({int(items[step])})
    return asked, truth


def _group_split(data: Interactions, groups: np.ndarray, test_share: float) -> np.ndarray:
    """Test mask: the groups (orders, sessions) that start in the last `test_share` of time."""
    valid = groups != NO_GROUP
    codes, inverse = np.unique(groups[valid], return_inverse=True)
    starts = np.full(codes.size, np.iinfo(np.int64).max)
    np.minimum.at(starts, inverse, data.timestamps[valid])
    cutoff = np.quantile(starts, 1.0 - test_share)
    test = np.zeros(len(data), dtype=bool)
    test[np.flatnonzero(valid)] = starts[inverse] >= cutoff
    return test


def basket_completion(
    data: Interactions,
    models: dict[str, Factory],
    items: ItemTable | None = None,
    test_share: float = 0.1,
) -> dict[str, dict[str, float]]:
    test = _group_split(data, data.baskets, test_share) & (data.kinds == Kind.PURCHASE)
    asked, truth = _held_out_queries(data.baskets, data, test, "completion")
    train = data.select(~test)
    results = {}
    for name, factory in models.items():
        model = factory()
        model.fit(train, items)
        results[name] = _measure(model, asked, truth, data.n_items)
    return results


MIN_ITEM_SUPPORT = 5  # session-rec's preprocessing (preprocess_diginetica: 5)
MIN_SESSION_LENGTH = 2


def _session_sizes(data: Interactions, mask: np.ndarray) -> np.ndarray:
    """Per event, how many events of `mask` its session has (0 outside `mask`)."""
    _, inverse, counts = np.unique(data.sessions[mask], return_inverse=True, return_counts=True)
    sizes = np.zeros(len(data), dtype=np.int64)
    sizes[np.flatnonzero(mask)] = counts[inverse]
    return sizes


def next_item(
    data: Interactions,
    models: dict[str, Factory],
    items: ItemTable | None = None,
    test_share: float = 0.1,
    min_item_support: int = MIN_ITEM_SUPPORT,
) -> dict[str, dict[str, float]]:
    usable = data.sessions != NO_GROUP
    support = np.bincount(data.items[usable], minlength=data.n_items)
    usable &= support[data.items] >= min_item_support
    usable &= _session_sizes(data, usable) >= MIN_SESSION_LENGTH
    data = data.select(usable)
    if len(data) == 0:
        return {name: {"people": 0.0} for name in models}
    test = _group_split(data, data.sessions, test_share)
    train = data.select(~test)
    in_training = np.zeros(data.n_items, dtype=bool)
    in_training[train.items] = True
    test &= in_training[data.items]
    test &= _session_sizes(data, test) >= MIN_SESSION_LENGTH
    asked, truth = _held_out_queries(data.sessions, data, test, "next")
    results = {}
    for name, factory in models.items():
        model = factory()
        model.fit(train, items)
        results[name] = _measure(model, asked, truth, data.n_items, ~in_training)
    return results
