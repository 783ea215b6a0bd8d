"""Every customer's scores from a shop's orders and product events: pure, no I/O.

    segment       relevo.segments fitted on the customers (ids carried over from the previous
                  training's model), each customer assigned
    purchase_30d  relevo.scores.model.Propensity, horizon 30 days
    churn_90d     1 - P(an order within 90 days), the same model with a 90-day horizon
    clv_next_12m  relevo.scores.value: BG/NBD x Gamma-Gamma expected revenue over 365 days

Customer ids are the profile ids (as text); profiles without an order are prospects and get no
scores. A part that the data cannot support (too few customers for segments, no repeat customer
for the BG/NBD) is left empty for everyone, and ``notes`` says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from relevo.scores.features import CustomerFeatures, customer_features
from relevo.scores.model import Propensity
from relevo.scores.records import ProfileScore
from relevo.scores.value import expected_revenue, fit_value, summaries
from relevo.segments import Customers, SegmentModel, SegmentsError, fit_segments

PURCHASE_DAYS = 30
CHURN_DAYS = 90
VALUE_DAYS = 365


@dataclass
class ScoreRun:
    scores: list[ProfileScore]
    segments: SegmentModel | None
    customers: Customers | None  # what the segments were fitted on (for the plot)
    notes: dict[str, Any] = field(default_factory=dict)


def segment_customers(features: CustomerFeatures, categories: pl.DataFrame | None) -> Customers:
    frame = pl.DataFrame(
        {
            "customer_id": features.ids,
            "recency_days": features.column("days_since_last"),
            "orders": features.column("frequency") + 1,
            "revenue": features.column("revenue"),
            "tenure_days": features.column("T"),
        }
    )
    return Customers.from_frame(frame, categories)


def score_customers(
    orders: pl.DataFrame,
    now_ms: int,
    version: str,
    *,
    signals: pl.DataFrame | None = None,
    categories: pl.DataFrame | None = None,
    previous: SegmentModel | None = None,
) -> ScoreRun:
    """``categories``: (customer_id, category, score) long rows, e.g. quantities bought."""
    features = customer_features(orders, now_ms, signals)
    run = ScoreRun([], None, None)
    if not features.ids:
        run.notes["customers"] = "no orders yet: no scores"
        return run
    segment_of: dict[str, tuple[str | None, str | None]] = {}
    customers = segment_customers(features, categories)
    try:
        # k-means' OpenMP threads, as the trees' (relevo.scores.model._threads).
        with threadpool_limits(1 if len(customers) < 50_000 else None):
            model = fit_segments(customers, previous=previous)
    except SegmentsError as error:
        run.notes["segments"] = error.message
    else:
        run.segments, run.customers = model, customers
        segment_of = {a.customer_id: (a.segment_id, a.label) for a in model.assign(customers)}
    purchase = _propensity(orders, now_ms, signals, PURCHASE_DAYS, run.notes)
    churn = _propensity(orders, now_ms, signals, CHURN_DAYS, run.notes)
    value = _value(orders, now_ms, run.notes)
    for customer_id in features.ids:
        segment_id, label = segment_of.get(customer_id, (None, None))
        again = churn.get(customer_id)
        run.scores.append(
            ProfileScore(
                profile_id=int(customer_id),
                model_version=version,
                segment_id=segment_id,
                segment_label=label,
                purchase_30d=purchase.get(customer_id),
                churn_90d=None if again is None else round(1.0 - again, 6),
                clv_next_12m=value.get(customer_id),
                computed_at=now_ms,
            )
        )
    return run


def _propensity(
    orders: pl.DataFrame,
    now_ms: int,
    signals: pl.DataFrame | None,
    days: int,
    notes: dict[str, Any],
) -> dict[str, float]:
    model = Propensity(days).fit(orders, now_ms, signals)
    notes[f"propensity_{days}d"] = {
        "training_rows": model.training_rows,
        "base_rate": round(model.base_rate, 4),
        **model.notes,
    }
    features, probabilities = model.predict(orders, now_ms, signals)
    return {i: round(float(p), 6) for i, p in zip(features.ids, probabilities, strict=True)}


def _value(orders: pl.DataFrame, now_ms: int, notes: dict[str, Any]) -> dict[str, float]:
    data = summaries(orders, now_ms)
    model = fit_value(data)
    if model is None:
        notes["clv"] = "no repeat customer with a positive spend yet: no lifetime value"
        return {}
    notes["clv"] = {"bgnbd": model.purchases.as_dict(), "gamma_gamma": model.spend.as_dict()}
    revenue = expected_revenue(model, data, VALUE_DAYS)
    return {i: round(float(v), 2) for i, v in zip(data.ids, np.asarray(revenue), strict=True)}
