"""`relevo evaluate`: Relevo's "for you" against the baselines on one temporal split.

Every baseline gets a small hyperparameter search on a validation split carved from the
training period (never the test period), separately for each target, then is refitted on the
whole training period and measured on the test period with full ranking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from relevo.recs.base import Recommender
from relevo.recs.collaborative import ALS, EASE, ItemKNN
from relevo.recs.data import Interactions, ItemTable
from relevo.recs.personal import ForYou
from relevo.recs.repeat import BuyAgain
from relevo.recs.split import Split, temporal_split
from relevo.recs.trending import Trending
from relevo.recs.validation import evaluate_split, queries

Factory = Callable[[], Recommender]

BASELINES: dict[str, list[tuple[str, Factory]]] = {
    "most_popular": [
        ("half-life 7d", lambda: Trending(7.0)),
        ("half-life 30d", lambda: Trending(30.0)),
        ("all time", lambda: Trending(None)),
    ],
    "buy_again": [
        ("half-life 30d", lambda: BuyAgain(30.0)),
        ("half-life 90d", lambda: BuyAgain(90.0)),
        ("half-life 365d", lambda: BuyAgain(365.0)),
    ],
    "item_knn": [
        ("k=50", lambda: ItemKNN(50)),
        ("k=200", lambda: ItemKNN(200)),
    ],
    "ials": [
        ("f=32 reg=0.01", lambda: ALS(32, 0.01)),
        ("f=64 reg=0.05", lambda: ALS(64, 0.05)),
        ("f=128 reg=0.1", lambda: ALS(128, 0.1)),
    ],
    "ease": [
        ("l2=50", lambda: EASE(50.0)),
        ("l2=200", lambda: EASE(200.0)),
        ("l2=800", lambda: EASE(800.0)),
    ],
}
REPEATS_ONLY = {"buy_again"}  # meaningless when already-bought items are removed (target b)
PRIMARY = "ndcg@20"


@dataclass
class EvaluationResult:
    table: pl.DataFrame
    cutoff_ms: int
    people: int
    chosen: dict[str, dict[str, str]] = field(default_factory=dict)
    for_you: dict[str, Any] = field(default_factory=dict)


def _search(
    options: list[tuple[str, Factory]], validation: Split, items: ItemTable | None
) -> dict[str, str]:
    """The best option per target on the validation split."""
    if len(options) == 1 or not validation.people:
        return {"a": options[0][0], "b": options[0][0]}
    asked = queries(validation)
    best: dict[str, tuple[float, str]] = {"a": (-1.0, options[0][0]), "b": (-1.0, options[0][0])}
    for label, factory in options:
        model = factory()
        model.fit(validation.train, items)
        measured = evaluate_split(model, validation, asked)
        for target in ("a", "b"):
            value = measured[target].get(PRIMARY, 0.0)
            if value > best[target][0]:
                best[target] = (value, label)
    return {target: label for target, (_, label) in best.items()}


def evaluate(
    data: Interactions,
    items: ItemTable | None = None,
    progress: Callable[[str], None] | None = None,
    baselines: dict[str, list[tuple[str, Factory]]] | None = None,
) -> EvaluationResult:
    """Fit and measure every strategy on the same temporal split; one row per (strategy,
    target) with Recall/NDCG/HitRate @10 and @20, MRR@20 and coverage@20."""
    baselines = BASELINES if baselines is None else baselines
    split = temporal_split(data)
    validation = temporal_split(split.train)
    asked = queries(split)
    rows: list[dict[str, Any]] = []
    chosen: dict[str, dict[str, str]] = {}

    def record(name: str, labels: dict[str, str], measured: dict[str, dict[str, float]]) -> None:
        for target in ("a", "b"):
            if target == "b" and name in REPEATS_ONLY:
                continue
            rows.append(
                {"strategy": name, "target": target, "setting": labels[target], **measured[target]}
            )

    for name, options in baselines.items():
        if progress is not None:
            progress(name)
        labels = _search(options, validation, items)
        chosen[name] = labels
        factories = dict(options)
        cache: dict[str, dict[str, dict[str, float]]] = {}
        for target in ("a", "b"):
            label = labels[target]
            if label not in cache:
                model = factories[label]()
                model.fit(split.train, items)
                cache[label] = evaluate_split(model, split, asked)
        record(name, labels, {t: cache[labels[t]][t] for t in ("a", "b")})

    if progress is not None:
        progress("for_you")
    for_you = ForYou()
    for_you.fit(split.train, items)
    setting = ", ".join(f"{k}={v}" for k, v in for_you.choice.items() if not k.startswith("valid"))
    record("relevo_for_you", {"a": setting, "b": setting}, evaluate_split(for_you, split, asked))
    table = pl.DataFrame(rows).with_columns(pl.col(pl.Float64).round(4))
    return EvaluationResult(table, split.cutoff_ms, len(split.people), chosen, for_you.choice)
