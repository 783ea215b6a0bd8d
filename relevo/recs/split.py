"""Temporal splits: train on the past, test on what each person did next.

The cutoff is a quantile of the purchase times (of all event times when there are no
purchases), so the same rule works on a year of wholesale orders and a week of clicks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relevo.recs.data import Interactions, Kind

TEST_SHARE = 0.1


@dataclass(frozen=True)
class Split:
    train: Interactions
    cutoff_ms: int
    people: list[int]  # people with training history and something to predict
    targets: list[set[int]]  # (a) everything they bought (interacted with) after the cutoff
    new_targets: list[set[int]]  # (b) only items new to them
    known: list[set[int]]  # (b) removes these from the ranking: their past target-kind items


def target_kinds(data: Interactions) -> tuple[int, ...]:
    return (int(Kind.PURCHASE),) if (data.kinds == Kind.PURCHASE).any() else (0, 1, 2)


def temporal_split(data: Interactions, test_share: float = TEST_SHARE) -> Split:
    kinds = target_kinds(data)
    is_target = np.isin(data.kinds, kinds)
    cutoff = int(np.quantile(data.timestamps[is_target], 1.0 - test_share))
    before = data.timestamps < cutoff
    train = data.select(before)
    has_history = np.zeros(data.n_users, dtype=bool)
    has_history[train.users] = True
    after = ~before & is_target & has_history[data.users]
    future: dict[int, set[int]] = {}
    for user, item in zip(data.users[after], data.items[after], strict=True):
        future.setdefault(int(user), set()).add(int(item))
    past: dict[int, set[int]] = {}
    mask = np.isin(train.kinds, kinds)
    for user, item in zip(train.users[mask], train.items[mask], strict=True):
        past.setdefault(int(user), set()).add(int(item))
    people = sorted(future)
    known = [past.get(u, set()) for u in people]
    targets = [future[u] for u in people]
    return Split(
        train=train,
        cutoff_ms=cutoff,
        people=people,
        targets=targets,
        new_targets=[t - k for t, k in zip(targets, known, strict=True)],
        known=known,
    )
