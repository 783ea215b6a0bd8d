"""For you: Relevo's default personal ranking.

A blend of three signals, each scaled to [0, 1] per person:
  repeat         the person's own purchases, recency-decayed, weighted by how often the item is
                 re-bought at all (relevo.recs.repeat)
  collaborative  EASE or iALS from the person's whole history (relevo.recs.collaborative)
  popular        time-decayed popularity (relevo.recs.trending), which steadies thin histories
Which collaborative model and which blend weights are chosen by measurement on a temporal
validation split of the shop's own data (the last 10% of its purchases), then the chosen
models are refitted on everything. The same rule runs on every shop; nothing is tuned by hand
per dataset. Items the person bought in the last `just_bought_days` are left out when the data shows
they are not re-bought (at least 10 buyers, under 10% of them buying again).

What is personal: the repeat part's purchases and the collaborative part's rows of the people x
items matrix, both dropped by `forget_users`; popularity and the chosen weights are not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from relevo.recs._arrays import DAY_MS
from relevo.recs.base import Query, Recommender, Scores
from relevo.recs.collaborative import ALS, EASE
from relevo.recs.data import Interactions, ItemTable, Kind
from relevo.recs.repeat import BuyAgain
from relevo.recs.split import temporal_split
from relevo.recs.trending import Trending
from relevo.recs.validation import evaluate_split, fits_split, queries

# The first value of each grid is the default: another one must do strictly better on the
# validation split, so thin or noisy data keeps the default instead of an accident.
REPEAT_WEIGHTS = (0.5, 0.0, 0.3, 0.7, 0.9)
POPULAR_WEIGHTS = (0.1, 0.0, 0.3)
# An item counts as "not re-bought" only on evidence: enough buyers, few of them buying again.
# Items with a handful of buyers are not left out (the data can't tell yet).
REPEAT_ITEM_RATE = 0.1
EVIDENCE_BUYERS = 10


def _collaborative_candidates() -> dict[str, Recommender]:
    return {
        "ease_l2_100": EASE(l2=100.0),
        "ease_l2_500": EASE(l2=500.0),
        "ials_64": ALS(factors=64),
    }


def _scaled(scores: np.ndarray) -> np.ndarray:
    scores = np.maximum(scores, 0.0)
    top = scores.max(axis=-1, keepdims=True)
    return np.divide(scores, top, out=np.zeros_like(scores), where=top > 0)


class _Blend(Recommender):
    """The three components with fixed weights (used while choosing and when serving)."""

    name = "for_you"

    def __init__(
        self,
        repeat: BuyAgain,
        collaborative: Recommender,
        popular: Trending,
        repeat_weight: float,
        popular_weight: float,
        just_bought_days: float,
    ) -> None:
        self.repeat, self.collaborative, self.popular = repeat, collaborative, popular
        self.repeat_weight, self.popular_weight = repeat_weight, popular_weight
        self.just_bought_days = just_bought_days
        self._popular: np.ndarray | None = None

    def fit(self, data: Interactions, items: ItemTable | None = None) -> None:
        for model in (self.repeat, self.collaborative, self.popular):
            model.fit(data, items)
        self._popular = None

    def score(self, query: Query) -> Scores:
        return self.score_many([query])[0]

    def score_many(self, queries_: list[Query]) -> Scores:
        # In place where possible: on a 50,000-item catalog every temporary is a memory pass.
        w_r, w_p = self.repeat_weight, self.popular_weight
        scores = _scaled(self.collaborative.score_many(queries_).astype(np.float32, copy=False))
        scores *= (1 - w_r) * (1 - w_p)
        scores += ((1 - w_r) * w_p) * self._popular_scaled()
        if w_r > 0:
            personal = np.vstack([self.repeat.personal(q) for q in queries_])
            personal *= self.repeat.rates
            scores += w_r * _scaled(personal)
        for row, query in enumerate(queries_):
            scores[row, self._just_bought(query)] = -np.inf
        return scores

    def _popular_scaled(self) -> np.ndarray:
        if self._popular is None:
            self._popular = _scaled(self.popular.scores)
        return self._popular

    def _just_bought(self, query: Query) -> np.ndarray:
        recent = (query.history_kinds == Kind.PURCHASE) & (
            query.history_times >= query.now - self.just_bought_days * DAY_MS
        )
        items = np.unique(query.history[recent])
        not_rebought = (self.repeat.rates[items] < REPEAT_ITEM_RATE) & (
            self.repeat.buyers[items] >= EVIDENCE_BUYERS
        )
        return items[not_rebought]

    def forget_users(self, users: npt.NDArray[np.int64]) -> None:
        for part in (self.repeat, self.collaborative, self.popular):
            part.forget_users(users)

    def explain(self, query: Query, item: int) -> str:
        if self.repeat_weight > 0 and self.repeat.has_bought(query, item):
            return "buy_again"
        return "for_you"

    def save(self, directory: Path) -> None:
        raise NotImplementedError("saved by ForYou")

    @classmethod
    def load(cls, directory: Path) -> _Blend:
        raise NotImplementedError("loaded by ForYou")


class ForYou(Recommender):
    name = "for_you"

    def __init__(self, just_bought_days: float = 30.0) -> None:
        self.just_bought_days = just_bought_days
        self.choice: dict[str, Any] = {}
        self.blend: _Blend | None = None

    def fit(self, data: Interactions, items: ItemTable | None = None) -> None:
        self.choice = self._choose(data, items)
        collaborative = _collaborative_candidates()[self.choice["collaborative"]]
        self.blend = _Blend(
            BuyAgain(),
            collaborative,
            Trending(),
            self.choice["repeat_weight"],
            self.choice["popular_weight"],
            self.just_bought_days,
        )
        self.blend.fit(data, items)

    def _choose(self, data: Interactions, items: ItemTable | None) -> dict[str, Any]:
        default = {"collaborative": "ease_l2_100", "repeat_weight": 0.5, "popular_weight": 0.1}
        if not fits_split(data):
            return {**default, "validated": False}
        split = temporal_split(data)
        if not split.people:
            return {**default, "validated": False}
        asked = queries(split)
        repeat, popular = BuyAgain(), Trending()
        repeat.fit(split.train, items)
        popular.fit(split.train, items)
        best: tuple[float, str, float] = (-1.0, "ease_l2_100", 0.0)
        fitted: dict[str, Recommender] = {}
        # Discovery first (target b): which collaborative model, how much popularity.
        for name, model in _collaborative_candidates().items():
            model.fit(split.train, items)
            fitted[name] = model
            for w_p in POPULAR_WEIGHTS:
                blend = _Blend(repeat, model, popular, 0.0, w_p, self.just_bought_days)
                ndcg = evaluate_split(blend, split, asked)["b"].get("ndcg@20", 0.0)
                if ndcg > best[0]:
                    best = (ndcg, name, w_p)
        _, collaborative, w_p = best
        # Then how much the person's own re-buys count (target a).
        best_repeat = (-1.0, 0.0)
        for w_r in REPEAT_WEIGHTS:
            blend = _Blend(repeat, fitted[collaborative], popular, w_r, w_p, self.just_bought_days)
            ndcg = evaluate_split(blend, split, asked)["a"].get("ndcg@20", 0.0)
            if ndcg > best_repeat[0]:
                best_repeat = (ndcg, w_r)
        return {
            "collaborative": collaborative,
            "popular_weight": w_p,
            "repeat_weight": best_repeat[1],
            "validated": True,
            "validation_ndcg20_a": round(best_repeat[0], 4),
            "validation_ndcg20_b": round(best[0], 4),
        }

    def score(self, query: Query) -> Scores:
        assert self.blend is not None, "fit or load first"
        return self.blend.score(query)

    def score_many(self, queries_: list[Query]) -> Scores:
        assert self.blend is not None, "fit or load first"
        return self.blend.score_many(queries_)

    def explain(self, query: Query, item: int) -> str:
        assert self.blend is not None, "fit or load first"
        return self.blend.explain(query, item)

    def forget_users(self, users: npt.NDArray[np.int64]) -> None:
        if self.blend is not None:
            self.blend.forget_users(users)

    def save(self, directory: Path) -> None:
        assert self.blend is not None, "fit first"
        params = {**self.choice, "just_bought_days": self.just_bought_days}
        (directory / "choice.json").write_text(json.dumps(params))
        for part, model in (
            ("repeat", self.blend.repeat),
            ("collaborative", self.blend.collaborative),
            ("popular", self.blend.popular),
        ):
            (directory / part).mkdir()
            model.save(directory / part)

    @classmethod
    def load(cls, directory: Path) -> ForYou:
        params = json.loads((directory / "choice.json").read_text())
        model = cls(params.pop("just_bought_days"))
        model.choice = params
        kind = type(_collaborative_candidates()[params["collaborative"]])
        model.blend = _Blend(
            BuyAgain.load(directory / "repeat"),
            kind.load(directory / "collaborative"),
            Trending.load(directory / "popular"),
            params["repeat_weight"],
            params["popular_weight"],
            model.just_bought_days,
        )
        return model
