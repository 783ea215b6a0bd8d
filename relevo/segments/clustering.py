"""Customers clustered into segments: k chosen by silhouette, k-means fitted, ids kept stable.

Why k-means and silhouette rather than a Gaussian mixture and BIC: on RFM features there are no
Gaussian clusters to find, only a continuum with denser regions, and BIC rewards every extra
component once there are thousands of customers (the likelihood gain of fitting the skew and
the ties of small order counts outgrows the penalty), so it walks to the top of any range.
Silhouette asks the question a marketer asks, "are these groups apart from each other?", and is
comparable between k. It is computed on a seeded sample (``sample_size`` customers) for speed;
every candidate k is fitted on that sample and reported (silhouette, inertia, smallest segment);
the k with the best silhouette wins, the smaller k on a tie. The default range is 3..8: on
real shops silhouette nearly always peaks at k = 2, the split of one-time buyers from repeat
buyers, which the lifecycle stage of a profile already says (UCI Online Retail: 0.29 at 2,
0.19 at 3, 0.17-0.18 up to 8); 8 is about as many segments as a marketer reads. The chosen k
is then fitted on all the customers (k-means++ with ``n_init`` seeded restarts), so two runs on
the same customers give the same segments.

Ids: ``seg-N``. Without a previous model the segments are numbered by their typical revenue,
highest first (then orders, then recency), so seg-1 is the most valuable kind of customer.
Given the previous model (``previous=``), each new segment takes the id of the previous segment
whose typical customer it is matched with, one to one, by the least total distance in the new
feature space (Hungarian algorithm), a match being kept only when the new model would itself put
that previous typical customer in that segment; unmatched segments get numbers never used
before, so a condition written on ``segment.id`` never silently changes meaning to another kind
of customer: at worst its segment is gone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from relevo.segments.describe import (
    Bands,
    Centre,
    bands_of,
    centre_of,
    label,
    summary,
    unique_labels,
)
from relevo.segments.errors import InvalidCustomers, NotEnoughCustomers
from relevo.segments.features import (
    CustomerInputs,
    Customers,
    FeatureSpace,
    FloatArray,
)

CRITERION = "silhouette"
MIN_CUSTOMERS = 20  # with an order; fewer is no basis for segments
NEAREST_CENTRE = "nearest centre"
PROSPECT = "prospect: no order yet"


@dataclass(frozen=True)
class Candidate:
    """One k tried, measured on the sample."""

    k: int
    silhouette: float
    inertia: float
    smallest_share: float  # of the sample, in the smallest segment


@dataclass(frozen=True)
class Selection:
    criterion: str
    k: int
    candidates: tuple[Candidate, ...]
    sample_size: int  # customers the candidates were fitted and scored on
    seed: int
    n_init: int


@dataclass(frozen=True)
class Segment:
    id: str
    label: str
    summary: str
    size: int  # training customers in it
    share: float  # of the training customers
    centre: Centre  # its typical customer

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "summary": self.summary,
            "size": self.size,
            "share": self.share,
            "centre": self.centre.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class Assignment:
    """A customer's segment, or None for a prospect, and why."""

    customer_id: str
    segment_id: str | None
    label: str | None
    reason: str


@dataclass(frozen=True, eq=False)
class SegmentModel:
    space: FeatureSpace
    centroids: FloatArray  # (k, features), row i is segments[i]'s
    segments: tuple[Segment, ...]  # by typical revenue, highest first
    selection: Selection
    bands: Bands
    customers: int  # clustered: those with at least one order
    prospects: int  # left out: no order yet
    last_number: int  # the highest N of seg-N ever given in this line of models

    @property
    def covers(self) -> str:
        return (
            f"customers with at least one order ({self.customers:,}); prospects, who have not "
            f"ordered yet ({self.prospects:,} at training), are in no segment"
        )

    def nearest(self, features: FloatArray) -> npt.NDArray[np.intp]:
        """The index (into ``segments``) of each row's nearest centroid."""
        if len(features) == 0:
            return np.zeros(0, dtype=np.intp)
        distances = (
            (features**2).sum(axis=1, keepdims=True)
            - 2 * features @ self.centroids.T
            + (self.centroids**2).sum(axis=1)
        )
        return np.asarray(np.argmin(distances, axis=1), dtype=np.intp)

    def assign(self, customers: Customers | Sequence[CustomerInputs]) -> list[Assignment]:
        """Each customer's segment, in the given order; prospects get none."""
        table = customers if isinstance(customers, Customers) else Customers.from_inputs(customers)
        buying = np.flatnonzero(table.orders >= 1)
        index = np.full(len(table), -1, dtype=np.intp)
        index[buying] = self.nearest(self.space.transform(table.take(buying)))
        return [
            Assignment(customer_id, None, None, PROSPECT)
            if i < 0
            else Assignment(
                customer_id, self.segments[i].id, self.segments[i].label, NEAREST_CENTRE
            )
            for customer_id, i in zip(table.ids, index.tolist(), strict=True)
        ]

    def segment(self, segment_id: str) -> Segment | None:
        return next((s for s in self.segments if s.id == segment_id), None)

    def as_dict(self) -> dict[str, Any]:
        """The segments as ``GET /v1/segments`` lists them."""
        return {
            "covers": self.covers,
            "customers": self.customers,
            "prospects": self.prospects,
            "criterion": self.selection.criterion,
            "k": self.selection.k,
            "candidates": [vars(c) for c in self.selection.candidates],
            "segments": [s.as_dict() for s in self.segments],
        }

    def save(self, directory: Path) -> None:
        """Plain files: segments.json and segments.npz (loaded with allow_pickle=False)."""
        from relevo.segments._files import save_model

        save_model(self, directory)

    @classmethod
    def load(cls, directory: Path) -> SegmentModel:
        from relevo.segments._files import load_model

        return load_model(directory)


def fit_segments(
    customers: Customers | Sequence[CustomerInputs],
    *,
    k_range: tuple[int, int] = (3, 8),
    sample_size: int = 5_000,
    seed: int = 0,
    n_init: int = 10,
    top_categories: int = 8,
    category_weight: float = 0.5,
    previous: SegmentModel | None = None,
) -> SegmentModel:
    """Segments of the customers with an order; ``k_range`` is inclusive."""
    # Imported here: a server loads saved segments (SegmentModel) and never fits them.
    from sklearn.metrics import silhouette_score

    table = customers if isinstance(customers, Customers) else Customers.from_inputs(customers)
    low, high = k_range
    if low < 2 or high < low:
        raise InvalidCustomers(f"k_range must be (low, high) with 2 <= low <= high, not {k_range}")
    buyers = table.buyers()
    if len(buyers) < MIN_CUSTOMERS:
        raise NotEnoughCustomers(
            f"segments need at least {MIN_CUSTOMERS} customers with an order; there are "
            f"{len(buyers)}: train again once more customers have ordered"
        )
    space = FeatureSpace.fit(buyers, top_categories=top_categories, category_weight=category_weight)
    features = space.transform(buyers)
    distinct = len(np.unique(features.round(9), axis=0))
    ks = [k for k in range(low, high + 1) if k < distinct]
    if not ks:
        raise NotEnoughCustomers(
            f"the customers with an order have only {distinct} distinct profiles: too alike "
            f"for {low} or more segments"
        )
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(len(features), size=min(len(features), sample_size), replace=False))
    candidates, fits = [], {}
    for k in ks:
        fitted = _kmeans(features[sample], k, seed, n_init)
        fits[k] = fitted
        labels = fitted.labels_
        score = silhouette_score(features[sample], labels) if len(set(labels)) > 1 else -1.0
        smallest = np.bincount(labels, minlength=k).min() / len(sample)
        candidates.append(Candidate(k, float(score), float(fitted.inertia_), float(smallest)))
    best = max(candidates, key=lambda c: (round(c.silhouette, 6), -c.k))
    whole = len(sample) == len(features)
    final = fits[best.k] if whole else _kmeans(features, best.k, seed, n_init)
    labels = np.asarray(final.labels_, dtype=np.intp)
    selection = Selection(CRITERION, best.k, tuple(candidates), len(sample), seed, n_init)
    return _model(buyers, space, final.cluster_centers_, labels, selection, table, previous)


def _kmeans(features: FloatArray, k: int, seed: int, n_init: int) -> Any:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(features)


def _model(
    buyers: Customers,
    space: FeatureSpace,
    centroids: FloatArray,
    labels: npt.NDArray[np.intp],
    selection: Selection,
    table: Customers,
    previous: SegmentModel | None,
) -> SegmentModel:
    k = len(centroids)
    centres = [centre_of(buyers.take(np.flatnonzero(labels == c)), space) for c in range(k)]
    sizes = np.bincount(labels, minlength=k)
    order = sorted(
        range(k), key=lambda c: (-centres[c].revenue, -centres[c].orders, centres[c].recency_days)
    )
    numbers, last = _numbers([centres[c] for c in order], space, previous)
    ids = [f"seg-{n}" for n in numbers]
    bands = bands_of(buyers, space)
    labels_text = unique_labels(ids, [label(centres[c], bands) for c in order])
    segments = tuple(
        Segment(
            id=ids[i],
            label=labels_text[i],
            summary=summary(centres[c], int(sizes[c]), float(sizes[c] / len(buyers))),
            size=int(sizes[c]),
            share=round(float(sizes[c] / len(buyers)), 6),
            centre=centres[c],
        )
        for i, c in enumerate(order)
    )
    return SegmentModel(
        space=space,
        centroids=np.asarray(centroids[order], dtype=np.float64),
        segments=segments,
        selection=selection,
        bands=bands,
        customers=len(buyers),
        prospects=len(table) - len(buyers),
        last_number=last,
    )


def _numbers(
    centres: list[Centre], space: FeatureSpace, previous: SegmentModel | None
) -> tuple[list[int], int]:
    """The N of each segment's seg-N (see the module's docstring) and the highest N given."""
    from scipy.optimize import linear_sum_assignment

    if previous is None or not previous.segments:
        return list(range(1, len(centres) + 1)), len(centres)
    new = space.transform(_as_customers(centres, "new"))
    old = space.transform(_as_customers([s.centre for s in previous.segments], "old"))
    distance = np.sqrt(((new[:, None, :] - old[None, :, :]) ** 2).sum(axis=2))
    numbers: list[int | None] = [None] * len(centres)
    for i, j in zip(*linear_sum_assignment(distance), strict=True):
        if int(np.argmin(distance[:, j])) == i:
            numbers[i] = int(previous.segments[j].id.removeprefix("seg-"))
    last = previous.last_number
    result = []
    for number in numbers:
        if number is None:
            last += 1
            number = last
        result.append(number)
    return result, last


def _as_customers(centres: list[Centre], prefix: str) -> Customers:
    return Customers.from_inputs(
        CustomerInputs(
            f"{prefix}-{i}", c.recency_days, c.orders, c.revenue, c.tenure_days, c.categories
        )
        for i, c in enumerate(centres)
    )
