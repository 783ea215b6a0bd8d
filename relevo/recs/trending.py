"""Trending: time-decayed popularity of every item (a category filter in the request narrows
it to one category). Also the "most popular" baseline of the offline evaluation.

Trending among an audience ("what repeat customers are looking at"): the served model also
keeps each trained person's decayed interactions (`people`, dropped by `forget_users`), and
`AudienceTrending` sums the rows of an audience's members, cached per audience for a minute,
into a model for one request (`AmongAudience`): the members' popularity first, everyone's
after it for the items they never touched."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from relevo.recs._arrays import DAY_MS, KIND_WEIGHTS, load_arrays, save_arrays, without_rows
from relevo.recs.base import Query, Recommender, Scores
from relevo.recs.data import Interactions, ItemTable

if TYPE_CHECKING:  # the bundle's strategies import this module
    from relevo.recs.bundle import Bundle

# Popularity among fewer people than this is not shown to a browser key: it would tell what
# those few did. The secret key (the shop's own backend) sees it whatever the size.
MIN_MEMBERS_FOR_BROWSER = 20


class Trending(Recommender):
    name = "trending"

    def __init__(self, half_life_days: float | None = 7.0, keep_people: bool = False) -> None:
        self.half_life_days = half_life_days
        self.keep_people = keep_people
        self.scores = np.zeros(0, dtype=np.float32)
        self.people = sp.csr_matrix((0, 0), dtype=np.float32)  # users x items, decayed

    def fit(self, data: Interactions, items: ItemTable | None = None) -> None:
        weights = KIND_WEIGHTS[data.kinds.astype(np.intp)]
        if self.half_life_days is not None and len(data):
            age = (data.timestamps.max() - data.timestamps) / (self.half_life_days * DAY_MS)
            weights = weights * np.power(0.5, age)
        scores = np.bincount(data.items, weights=weights, minlength=data.n_items)
        # A tiny all-time count breaks ties among items the decay has rounded to nothing.
        scores = scores + 1e-9 * np.bincount(data.items, minlength=data.n_items)
        self.scores = scores.astype(np.float32)
        if self.keep_people:
            people = sp.csr_matrix(
                (weights.astype(np.float32), (data.users, data.items)),
                shape=(data.n_users, data.n_items),
                dtype=np.float32,
            )
            people.sum_duplicates()
            self.people = people

    def among(self, users: npt.NDArray[np.int64]) -> tuple[Scores, int] | None:
        """Popularity counted over these trained people only, and how many of them have any
        interaction; None when the model keeps no people (trained before it did)."""
        if self.people.shape[0] == 0:
            return None
        users = np.unique(users[(users >= 0) & (users < self.people.shape[0])])
        rows = self.people[users]
        counted = int(np.count_nonzero(np.diff(rows.indptr)))
        return np.asarray(rows.sum(axis=0), dtype=np.float32).ravel(), counted

    def score(self, query: Query) -> Scores:
        return self.scores.copy()

    def score_many(self, queries: list[Query]) -> Scores:
        return np.tile(self.scores, (len(queries), 1))

    def forget_users(self, users: npt.NDArray[np.int64]) -> None:
        if self.people.shape[0]:
            self.people = without_rows(self.people, users)

    def explain(self, query: Query, item: int) -> str:
        return "trending"

    def save(self, directory: Path) -> None:
        people = {"people": self.people} if self.keep_people else {}
        params = {"half_life_days": self.half_life_days, "keep_people": self.keep_people}
        save_arrays(directory, params, scores=self.scores, **people)

    @classmethod
    def load(cls, directory: Path) -> Trending:
        params, arrays = load_arrays(directory)
        model = cls(params["half_life_days"])
        model.keep_people = bool(params.get("keep_people", False))
        model.scores = arrays["scores"]
        if "people" in arrays:
            model.people = arrays["people"]
        return model


class ServedTrending(Trending):
    """The `trending` strategy as served: it keeps the trained people's interactions too, so
    popularity can be counted among an audience."""

    def __init__(self, half_life_days: float | None = 7.0) -> None:
        super().__init__(half_life_days, keep_people=True)


class AmongAudience(Recommender):
    """`trending` for one request: the members' popularity, then everyone's for the items
    no member touched (scaled below the members' least, so it only breaks their zeros)."""

    name = "trending"

    def __init__(self, audience_id: str, among: Scores, everyone: Scores) -> None:
        self.audience_id = audience_id
        self.members_touched = among > 0
        combined = among.astype(np.float64)
        touched = combined[self.members_touched]
        if touched.size and everyone.size and everyone.max() > 0:
            combined += everyone * (touched.min() / (2.0 * float(everyone.max())))
        elif not touched.size:
            combined = everyone.astype(np.float64)
        self.scores = combined.astype(np.float32)

    def fit(self, data: Interactions, items: ItemTable | None = None) -> None:
        raise NotImplementedError("made from a trained Trending for one request")

    def score(self, query: Query) -> Scores:
        return self.scores.copy()

    def explain(self, query: Query, item: int) -> str:
        return f"trending:{self.audience_id}" if self.members_touched[item] else "trending"

    def save(self, directory: Path) -> None:
        raise NotImplementedError("made for one request, never saved")

    @classmethod
    def load(cls, directory: Path) -> AmongAudience:
        raise NotImplementedError("made for one request, never saved")


class MemberSource(Protocol):
    def check_trending(self, workspace_id: int, audience_id: str) -> None:
        """Raises a RelevoError (400) saying what to do for an audience that cannot be
        asked for (unknown); cheap: called on every request."""
        ...

    def trending_members(self, workspace_id: int, audience_id: str) -> list[int]:
        """The audience's member profile ids now (a read: called once a minute at most)."""
        ...


@dataclass(frozen=True)
class _Among:
    made: float  # monotonic seconds
    of: sp.csr_matrix  # the people matrix it was summed from
    scores: Scores | None  # None: the model keeps no people
    counted: int  # members with interactions in the model


class AudienceTrending:
    """Popularity among each audience, per model version, made at most once a minute per
    audience (members read from the audience job's table, their rows summed), at most
    `max_entries` audiences kept."""

    def __init__(
        self, members: MemberSource, ttl_seconds: float = 60.0, max_entries: int = 128
    ) -> None:
        self.members = members
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._cache: OrderedDict[tuple[int, str, str], _Among] = OrderedDict()
        self._lock = threading.Lock()

    def model(
        self, workspace_id: int, audience_id: str, bundle: Bundle, browser: bool
    ) -> tuple[Recommender | None, str | None]:
        """The `trending` model to serve for this audience, or None and why not (the answer
        then says so in its fallbacks and trends over everyone)."""
        self.members.check_trending(workspace_id, audience_id)
        trending = bundle.models.get("trending")
        if not isinstance(trending, Trending):
            return None, None  # not trained: serving says so
        key = (workspace_id, audience_id, bundle.version)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        # An erasure replaces the people matrix (never edits it): what was summed from the
        # old one is made again at once, without the erased.
        if (
            cached is None
            or now - cached.made >= self.ttl_seconds
            or cached.of is not trending.people
        ):
            members = self.members.trending_members(workspace_id, audience_id)
            users = [bundle.user_index(p) for p in members]
            found = trending.among(np.asarray([u for u in users if u is not None], np.int64))
            cached = _Among(now, trending.people, *(found or (None, 0)))
            with self._lock:
                self._cache[key] = cached
                self._cache.move_to_end(key)
                while len(self._cache) > self.max_entries:
                    self._cache.popitem(last=False)
        among, counted = cached.scores, cached.counted
        if among is None:
            return None, "this model keeps no people (trained before trending per audience)"
        if browser and counted < MIN_MEMBERS_FOR_BROWSER:
            return None, (
                f"audience {audience_id!r} has fewer than {MIN_MEMBERS_FOR_BROWSER} members "
                "with interactions in the model: not shown to a browser key"
            )
        if counted == 0:
            return None, f"no member of audience {audience_id!r} has interactions in the model"
        return AmongAudience(audience_id, among, trending.scores), None
