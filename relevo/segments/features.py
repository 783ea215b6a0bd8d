"""Per-customer inputs of the segments and the feature space they are clustered in.

A customer is described by RFM and what they are drawn to:

- recency: days since their last order; frequency: their number of orders; monetary: their
  revenue; tenure: days since their first order (used to say how often they buy, not clustered);
- category affinity: any non-negative scores per category (revenue per category, or the
  profile's time-decayed category interests), turned into shares that sum to 1.

The features clustered are, for the customers with at least one order (the others are
*prospects*: they have no RFM yet, so no segment):

- log1p of recency, orders and revenue, standardised over the customers: all three are skewed
  (a few wholesalers order a hundred times more than the median customer), and without the log
  the k-means centres would chase them;
- the shares of the ``top_categories`` categories with the most share over all customers, the
  rest pooled as ``OTHER``, all scaled by one factor so that the block's total variance is
  ``category_weight`` times that of the RFM block (3, one per standardised column): 0.5 means
  categories carry a third of the spread, so they split customers whose RFM is alike without
  drowning RFM in as many columns as there are categories. One factor for the whole block keeps
  the shares' own geometry (a customer 50/50 between two categories sits halfway). A customer
  with an order but no known category gets the average shares, so that they cluster on RFM
  alone instead of forming a "nothing known" cluster of their own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from relevo.profiles.state import top_interests
from relevo.segments.errors import InvalidCustomers

FloatArray = npt.NDArray[np.float64]

DAY_MS = 86_400_000
OTHER = "other categories"  # the pooled tail of the categories, never a "dominant" one
MAX_CATEGORIES = 32  # named category columns a Customers table keeps; the rest go to OTHER
RFM = ("recency_days", "orders", "revenue")
FRAME_COLUMNS = ("customer_id", "recency_days", "orders", "revenue", "tenure_days")
CATEGORY_COLUMNS = ("customer_id", "category", "score")


@dataclass(frozen=True, slots=True)
class CustomerInputs:
    """One customer as of the day the segments are computed."""

    customer_id: str
    recency_days: float  # since the last order
    orders: float  # a count; a fraction only for a segment's typical (median) customer
    revenue: float
    tenure_days: float  # since the first order
    categories: Mapping[str, float] = field(default_factory=dict)  # affinity, any scale >= 0


@dataclass(frozen=True, eq=False)
class Customers:
    """Customers as columns. ``category_shares`` rows sum to 1, or are all 0 where no category
    is known; the last column is ``OTHER`` when more categories were seen than are kept."""

    ids: tuple[str, ...]
    recency_days: FloatArray
    orders: FloatArray
    revenue: FloatArray
    tenure_days: FloatArray
    category_names: tuple[str, ...]
    category_shares: FloatArray

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_inputs(cls, inputs: Iterable[CustomerInputs]) -> Customers:
        rows = list(inputs)
        names = sorted({name for row in rows for name in row.categories})
        column = {name: j for j, name in enumerate(names)}
        scores = np.zeros((len(rows), len(names)))
        for i, row in enumerate(rows):
            for name, score in row.categories.items():
                scores[i, column[name]] = score
        return _build(
            [row.customer_id for row in rows],
            [[row.recency_days, row.orders, row.revenue, row.tenure_days] for row in rows],
            names,
            scores,
        )

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, categories: pl.DataFrame | None = None) -> Customers:
        """``frame``: one row per customer with FRAME_COLUMNS; ``categories``: long rows
        (customer_id, category, score), scores summed per pair; customers not in ``frame``
        are ignored."""
        _require(frame, FRAME_COLUMNS, "customers")
        ids = [str(value) for value in frame["customer_id"].to_list()]
        numbers = frame.select(pl.col(c).cast(pl.Float64) for c in FRAME_COLUMNS[1:]).to_numpy()
        if categories is None or categories.height == 0:
            return _build(ids, numbers, [], np.zeros((len(ids), 0)))
        _require(categories, CATEGORY_COLUMNS, "categories")
        index = pl.DataFrame(
            {"customer_id": ids, "_row": np.arange(len(ids))},
            schema={"customer_id": pl.Utf8, "_row": pl.Int64},
        )
        long = (
            categories.select(
                pl.col("customer_id").cast(pl.Utf8),
                pl.col("category").cast(pl.Utf8),
                pl.col("score").cast(pl.Float64),
            )
            .filter(pl.col("category").is_not_null())
            .group_by("customer_id", "category")
            .agg(pl.col("score").sum())
            .join(index, on="customer_id", how="inner")
        )
        names = sorted(long["category"].unique().to_list())
        column = {name: j for j, name in enumerate(names)}
        scores = np.zeros((len(ids), len(names)))
        cols = np.array([column[name] for name in long["category"].to_list()], dtype=np.int64)
        scores[long["_row"].to_numpy(), cols] = long["score"].to_numpy()
        return _build(ids, numbers, names, scores)

    def take(self, rows: npt.NDArray[np.intp] | Sequence[int]) -> Customers:
        index = np.asarray(rows, dtype=np.intp)
        return Customers(
            tuple(self.ids[i] for i in index),
            self.recency_days[index],
            self.orders[index],
            self.revenue[index],
            self.tenure_days[index],
            self.category_names,
            self.category_shares[index],
        )

    def buyers(self) -> Customers:
        """The customers with at least one order: the ones segments cover."""
        return self.take(np.flatnonzero(self.orders >= 1))

    def days_per_order(self) -> FloatArray:
        """Days of tenure per order (at least one day of tenure): how often they buy."""
        return np.maximum(self.tenure_days, 1.0) / np.maximum(self.orders, 1.0)


def customer_from_profile(
    customer_id: str, computed: Mapping[str, Any], now_ms: int, *, interest_half_life_ms: float
) -> CustomerInputs:
    """A profile's computed state (relevo.profiles.state) as segment inputs, judged at
    ``now_ms``: revenue net of refunds; the category affinity is the time-decayed category
    interest (views, cart adds and orders weighted as the profile weighs them)."""
    orders = int(computed.get("orders", 0))
    refunded = float(computed.get("refunded", 0.0))
    last = computed.get("last_order_at")
    first = computed.get("first_order_at", last)
    bucket = computed.get("interests", {}).get("categories", {})
    interests = top_interests(bucket, now_ms, interest_half_life_ms, limit=len(bucket))
    return CustomerInputs(
        customer_id=customer_id,
        recency_days=max(0.0, (now_ms - last) / DAY_MS) if last is not None else 0.0,
        orders=orders,
        revenue=max(0.0, float(computed.get("revenue", 0.0)) - refunded),
        tenure_days=max(0.0, (now_ms - first) / DAY_MS) if first is not None else 0.0,
        categories={item["name"]: item["score"] for item in interests},
    )


@dataclass(frozen=True, eq=False)
class FeatureSpace:
    """The transform fitted on the training customers, applied the same way to new ones."""

    categories: tuple[str, ...]  # the block's columns: the kept categories, then OTHER
    mean: FloatArray  # of log1p(recency, orders, revenue)
    std: FloatArray
    fill_shares: FloatArray  # the shares given to a customer with no known category
    category_scale: float

    @classmethod
    def fit(
        cls, customers: Customers, *, top_categories: int = 8, category_weight: float = 0.5
    ) -> FeatureSpace:
        rfm = _log_rfm(customers)
        std = rfm.std(axis=0)
        std[std < 1e-9] = 1.0  # a column every customer shares: nothing to standardise
        totals = customers.category_shares.sum(axis=0)
        named = [j for j, name in enumerate(customers.category_names) if name != OTHER]
        ranked = sorted(named, key=lambda j: (-totals[j], customers.category_names[j]))
        kept = tuple(customers.category_names[j] for j in ranked[:top_categories] if totals[j] > 0)
        if not kept:
            return cls((), rfm.mean(axis=0), std, np.zeros(0), 0.0)
        space = cls((*kept, OTHER), rfm.mean(axis=0), std, np.zeros(len(kept) + 1), 1.0)
        shares = space._project(customers)
        known = shares.sum(axis=1) > 0
        fill = shares[known].mean(axis=0)
        shares[~known] = fill
        spread = float(shares.var(axis=0).sum())
        scale = math.sqrt(category_weight * len(RFM) / spread) if spread > 1e-12 else 0.0
        return cls(space.categories, space.mean, space.std, fill, scale)

    @property
    def names(self) -> tuple[str, ...]:
        return (*RFM, *(f"category:{name}" for name in self.categories))

    def shares(self, customers: Customers) -> FloatArray:
        """Category shares over this space's columns, the average where none is known."""
        shares = self._project(customers)
        if shares.shape[1]:
            shares[shares.sum(axis=1) <= 0] = self.fill_shares
        return shares

    def transform(self, customers: Customers) -> FloatArray:
        rfm = (_log_rfm(customers) - self.mean) / self.std
        return np.hstack([rfm, self.shares(customers) * self.category_scale])

    def _project(self, customers: Customers) -> FloatArray:
        if not self.categories:
            return np.zeros((len(customers), 0))
        column = {name: j for j, name in enumerate(self.categories)}
        other = len(self.categories) - 1
        projected = np.zeros((len(customers), len(self.categories)))
        for j, name in enumerate(customers.category_names):
            projected[:, column.get(name, other)] += customers.category_shares[:, j]
        return projected


def _log_rfm(customers: Customers) -> FloatArray:
    return np.log1p(np.column_stack([customers.recency_days, customers.orders, customers.revenue]))


def _require(frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidCustomers(
            f"the {what} table has no column {', '.join(missing)}: it needs {', '.join(columns)} "
            f"(it has {', '.join(frame.columns)})"
        )


def _build(
    ids: Sequence[str],
    numbers: Sequence[Sequence[float]] | FloatArray,
    names: Sequence[str],
    scores: FloatArray,
) -> Customers:
    """Validated columns: numbers are recency, orders, revenue, tenure per customer."""
    values = np.asarray(numbers, dtype=np.float64).reshape(len(ids), 4)
    if len(set(ids)) != len(ids):
        raise InvalidCustomers("a customer is listed twice: give one row per customer_id")
    if not np.all(np.isfinite(values)) or not np.all(np.isfinite(scores)):
        raise InvalidCustomers("a customer has an empty or infinite number: fill or drop it")
    if np.any(values[:, 1] < 0) or np.any(scores < 0):
        raise InvalidCustomers("orders and category scores must be >= 0")
    # Refunds above spend, or a last order stamped in the future (clock skew): count as 0.
    recency, orders, revenue, tenure = np.maximum(values, 0.0).T
    tenure = np.maximum(tenure, recency)
    scores = np.asarray(scores, dtype=np.float64)
    totals = scores.sum(axis=1, keepdims=True)
    shares = np.divide(scores, totals, out=np.zeros_like(scores), where=totals > 0)
    order = sorted(range(len(names)), key=lambda j: (-shares[:, j].sum(), names[j]))
    kept, tail = order[:MAX_CATEGORIES], set(order[MAX_CATEGORIES:])
    kept_names = tuple(names[j] for j in kept if names[j] != OTHER)
    pooled = sorted(j for j in range(len(names)) if names[j] == OTHER or j in tail)
    columns = [shares[:, j] for j in kept if names[j] != OTHER]
    if pooled:
        kept_names = (*kept_names, OTHER)
        columns.append(shares[:, pooled].sum(axis=1))
    matrix = np.column_stack(columns) if columns else np.zeros((len(ids), 0))
    return Customers(tuple(ids), recency, orders, revenue, tenure, kept_names, matrix)
