"""A segment in plain words for a marketer, from its typical customer: deterministic, pure.

    "high value, buys monthly, active, mostly home decor"

- value, from the typical revenue against all the clustered customers' revenue: top value
  (at or above the 90th percentile), high value (67th), low value (below the 33rd), else mid;
- frequency, from days of tenure per order: "bought once" when the typical customer has one
  order, else buys weekly (<= 10 days per order), monthly (<= 45), quarterly (<= 120) or rarely;
- recency, from days since the last order against all the clustered customers: active (the most
  recent third), lapsing (the middle third) or lapsed (the least recent third);
- categories, from the segment's mean shares against all the clustered customers' (the pooled
  tail never counts), so a shop where everyone buys home decor does not call every segment
  "mostly home decor". Among the categories with at least 20% of the segment's share and 1.25
  times their overall share: "mostly X" when the first has half or more, "mostly X and Y" when
  the first two have 60% or more; else "more X than most" for the one with the highest ratio,
  if 1.5 or more; else "usual mix of categories"; nothing when the shop has no categories.

The typical customer is the segment's median recency, orders, revenue, tenure and days per
order (robust to the few wholesalers in a segment) and its mean category shares (which still
sum to 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from relevo.segments.features import OTHER, Customers, FeatureSpace

WEEKLY, MONTHLY, QUARTERLY = 10.0, 45.0, 120.0  # days per order at most
SUBSTANTIAL = 0.2  # a share below this never characterises a segment
MORE, MUCH_MORE = 1.25, 1.5  # a segment's share over all customers' share
MOSTLY, MOSTLY_TWO = 0.5, 0.6  # the share of one category, of two


@dataclass(frozen=True)
class Centre:
    """The typical customer of a segment, in the inputs' own units."""

    recency_days: float
    orders: float
    revenue: float
    tenure_days: float
    days_per_order: float
    categories: dict[str, float]  # mean shares, largest first

    def as_dict(self) -> dict[str, Any]:
        return {
            "recency_days": self.recency_days,
            "orders": self.orders,
            "revenue": self.revenue,
            "tenure_days": self.tenure_days,
            "days_per_order": self.days_per_order,
            "categories": dict(self.categories),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Centre:
        return cls(
            float(data["recency_days"]),
            float(data["orders"]),
            float(data["revenue"]),
            float(data["tenure_days"]),
            float(data["days_per_order"]),
            {str(k): float(v) for k, v in data["categories"].items()},
        )


@dataclass(frozen=True)
class Bands:
    """Where the words change, measured on all the clustered customers."""

    revenue: tuple[float, float, float]  # 33rd, 67th and 90th percentiles
    recency_days: tuple[float, float]  # 33rd and 67th percentiles
    category_shares: dict[str, float]  # mean shares over all of them

    def as_dict(self) -> dict[str, Any]:
        return {
            "revenue": list(self.revenue),
            "recency_days": list(self.recency_days),
            "category_shares": dict(self.category_shares),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bands:
        low, high, top = (float(v) for v in data["revenue"])
        recent, old = (float(v) for v in data["recency_days"])
        shares = {str(k): float(v) for k, v in data["category_shares"].items()}
        return cls((low, high, top), (recent, old), shares)


def centre_of(customers: Customers, space: FeatureSpace) -> Centre:
    shares = space.shares(customers).mean(axis=0) if len(customers) else np.zeros(0)
    return Centre(
        recency_days=_median(customers.recency_days),
        orders=_median(customers.orders),
        revenue=_median(customers.revenue),
        tenure_days=_median(customers.tenure_days),
        days_per_order=_median(customers.days_per_order()),
        categories=_ranked(space.categories, shares),
    )


def bands_of(customers: Customers, space: FeatureSpace) -> Bands:
    low, high, top = np.quantile(customers.revenue, [1 / 3, 2 / 3, 0.9])
    recent, old = np.quantile(customers.recency_days, [1 / 3, 2 / 3])
    shares = space.shares(customers).mean(axis=0)
    return Bands(
        (float(low), float(high), float(top)),
        (float(recent), float(old)),
        _ranked(space.categories, shares),
    )


def value_words(revenue: float, bands: Bands) -> str:
    low, high, top = bands.revenue
    if revenue >= top:
        return "top value"
    if revenue >= high:
        return "high value"
    return "low value" if revenue < low else "mid value"


def frequency_words(centre: Centre) -> str:
    if centre.orders < 2:
        return "bought once"
    days = centre.days_per_order
    if days <= WEEKLY:
        return "buys weekly"
    if days <= MONTHLY:
        return "buys monthly"
    return "buys quarterly" if days <= QUARTERLY else "buys rarely"


def recency_words(recency_days: float, bands: Bands) -> str:
    recent, old = bands.recency_days
    if recency_days <= recent:
        return "active"
    return "lapsing" if recency_days <= old else "lapsed"


def category_words(categories: dict[str, float], overall: dict[str, float]) -> str | None:
    """What the segment buys more of than the customers as a whole (see the module's
    docstring); None when no category is known."""
    lifts = {
        name: share / overall[name]
        for name, share in categories.items()
        if name != OTHER and overall.get(name, 0.0) > 0
    }
    if not lifts:
        return None
    # Only a category a segment buys a fair part of can characterise it.
    ahead = sorted(
        (name for name in lifts if categories[name] >= SUBSTANTIAL and lifts[name] >= MORE),
        key=lambda name: (-categories[name], name),
    )
    if ahead and categories[ahead[0]] >= MOSTLY:
        return f"mostly {ahead[0]}"
    if len(ahead) >= 2 and categories[ahead[0]] + categories[ahead[1]] >= MOSTLY_TWO:
        return f"mostly {ahead[0]} and {ahead[1]}"
    keen = [name for name in ahead if lifts[name] >= MUCH_MORE]
    if keen:
        return f"more {max(keen, key=lambda name: (lifts[name], name))} than most"
    return "usual mix of categories"


def label(centre: Centre, bands: Bands) -> str:
    words = [
        value_words(centre.revenue, bands),
        frequency_words(centre),
        recency_words(centre.recency_days, bands),
        category_words(centre.categories, bands.category_shares),
    ]
    return ", ".join(word for word in words if word)


def unique_labels(ids: list[str], labels: list[str]) -> list[str]:
    """Two segments whose words are alike are told apart by their id."""
    return [
        f"{text} ({segment_id})" if labels.count(text) > 1 else text
        for segment_id, text in zip(ids, labels, strict=True)
    ]


def summary(centre: Centre, size: int, share: float) -> str:
    """The numbers behind the words, in one sentence."""
    top = [(name, s) for name, s in centre.categories.items() if s >= 0.1][:3]
    categories = ", ".join(f"{name} {s:.0%}" for name, s in top)
    orders = f"{centre.orders:g} order" + ("" if centre.orders == 1 else "s")
    return (
        f"{size:,} customers ({share:.1%}); the typical one: {orders}, revenue "
        f"{_money(centre.revenue)}, last order {centre.recency_days:.0f} days ago, "
        f"a customer for {centre.tenure_days:.0f} days" + (f"; {categories}" if categories else "")
    )


def _money(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if len(values) else 0.0


def _ranked(names: tuple[str, ...], shares: np.ndarray) -> dict[str, float]:
    pairs = sorted(zip(names, shares.tolist(), strict=True), key=lambda p: (-p[1], p[0]))
    return {name: round(share, 4) for name, share in pairs}
