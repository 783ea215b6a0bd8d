"""What is known of each customer at a cutoff, as numbers a classifier reads: pure polars/numpy.

Inputs are two long tables: ``orders`` (customer_id, timestamp in epoch ms, value) and,
optionally, ``signals`` (customer_id, timestamp, kind: 0 a product view, 1 a cart add) from
the tracked product events. Only what happened strictly before the cutoff is read, so the same
function builds the training rows (features at cutoff - horizon, labels after it) and the rows
to score (features now).

The grain of orders is the calendar day (UTC), as in the BG/NBD literature (relevo.propensity):
several orders on one day are one transaction. The columns:

    RFM_COLUMNS    frequency x (repeat days), recency t_x, age T, days since the last order,
                   mean value per day of order, total revenue: what the literature's RFM
                   logistic regression reads
    the rest       orders and revenue in the last 30 / 90 / 180 / 365 days (the trend that a
                   summary over the whole history hides), the mean and spread of the gaps
                   between orders and how overdue the next one is (days since the last over
                   the mean gap), the value of the last order, views and cart adds in the
                   last 7 / 30 days and days since the last one (NaN when never).

Customers are those with an order before the cutoff (prospects have no RFM).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

DAY_MS = 86_400_000
RFM_COLUMNS = ("frequency", "recency", "T", "days_since_last", "mean_value", "revenue")
WINDOWS = (30, 90, 180, 365)
SIGNAL_WINDOWS = (7, 30)
ORDER_SCHEMA = {"customer_id": pl.Utf8, "timestamp": pl.Int64, "value": pl.Float64}
SIGNAL_SCHEMA = {"customer_id": pl.Utf8, "timestamp": pl.Int64, "kind": pl.Int8}


@dataclass(frozen=True, eq=False)
class CustomerFeatures:
    ids: list[str]
    names: tuple[str, ...]
    values: npt.NDArray[np.float64]  # (customers, features)

    def column(self, name: str) -> npt.NDArray[np.float64]:
        return self.values[:, self.names.index(name)]

    def select(self, names: tuple[str, ...]) -> npt.NDArray[np.float64]:
        return self.values[:, [self.names.index(n) for n in names]]


def order_days(orders: pl.DataFrame, cutoff_ms: int | None = None) -> pl.DataFrame:
    """(customer_id, day, value): one row per customer and day of order before the cutoff."""
    frame = orders.select(
        pl.col("customer_id").cast(pl.Utf8),
        pl.col("timestamp").cast(pl.Int64),
        pl.col("value").cast(pl.Float64).fill_null(0.0).fill_nan(0.0),
    ).filter(pl.col("customer_id").is_not_null())
    if cutoff_ms is not None:
        frame = frame.filter(pl.col("timestamp") < cutoff_ms)
    return (
        frame.with_columns((pl.col("timestamp") // DAY_MS).alias("day"))
        .group_by("customer_id", "day")
        .agg(pl.col("value").sum())
        .sort("customer_id", "day")
    )


def customer_features(
    orders: pl.DataFrame, cutoff_ms: int, signals: pl.DataFrame | None = None
) -> CustomerFeatures:
    days = order_days(orders, cutoff_ms)
    now = cutoff_ms / DAY_MS
    day, value = pl.col("day"), pl.col("value")
    recent = [(day >= now - w).sum().alias(f"orders_{w}d") for w in WINDOWS]
    recent += [value.filter(day >= now - w).sum().alias(f"revenue_{w}d") for w in WINDOWS[1:]]
    per = (
        days.group_by("customer_id")
        .agg(
            (pl.len() - 1).cast(pl.Float64).alias("frequency"),
            (day.max() - day.min()).cast(pl.Float64).alias("recency"),
            (pl.lit(now) - day.min()).alias("T"),
            (pl.lit(now) - day.max()).alias("days_since_last"),
            value.mean().alias("mean_value"),
            value.sum().alias("revenue"),
            day.diff().std().alias("gap_std"),
            value.last().alias("last_value"),
            *recent,
        )
        .with_columns(
            pl.when(pl.col("frequency") > 0)
            .then(pl.col("recency") / pl.col("frequency"))
            .otherwise(None)
            .alias("mean_gap")
        )
        .with_columns((pl.col("days_since_last") / pl.col("mean_gap")).alias("overdue"))
        .sort("customer_id")
    )
    if signals is not None and signals.height:
        per = per.join(_signal_features(signals, cutoff_ms), on="customer_id", how="left")
    else:
        per = per.with_columns(
            *(pl.lit(0.0).alias(f"{k}_{w}d") for k in ("views", "carts") for w in SIGNAL_WINDOWS),
            pl.lit(None, dtype=pl.Float64).alias("days_since_signal"),
        )
    ids = per["customer_id"].to_list()
    numbers = per.drop("customer_id")
    values = numbers.select(pl.all().cast(pl.Float64)).to_numpy().astype(np.float64)
    counts = [i for i, n in enumerate(numbers.columns) if n.startswith(("views_", "carts_"))]
    values[:, counts] = np.nan_to_num(values[:, counts])
    return CustomerFeatures(ids, tuple(numbers.columns), values)


def _signal_features(signals: pl.DataFrame, cutoff_ms: int) -> pl.DataFrame:
    ts, kind = pl.col("timestamp"), pl.col("kind")
    before = signals.filter(ts < cutoff_ms)
    return before.group_by(pl.col("customer_id").cast(pl.Utf8)).agg(
        *(
            ((kind == code) & (ts >= cutoff_ms - w * DAY_MS))
            .sum()
            .cast(pl.Float64)
            .alias(f"{name}_{w}d")
            for name, code in (("views", 0), ("carts", 1))
            for w in SIGNAL_WINDOWS
        ),
        ((cutoff_ms - ts.max()) / DAY_MS).alias("days_since_signal"),
    )


def bought_within(
    orders: pl.DataFrame, ids: list[str], start_ms: int, days: float
) -> npt.NDArray[np.bool_]:
    """Whether each customer ordered in [start, start + days)."""
    end = start_ms + int(days * DAY_MS)
    window = orders.filter((pl.col("timestamp") >= start_ms) & (pl.col("timestamp") < end))
    buyers = set(window["customer_id"].cast(pl.Utf8).to_list())
    return np.array([i in buyers for i in ids], dtype=bool)


def revenue_within(
    orders: pl.DataFrame, ids: list[str], start_ms: int, days: float
) -> npt.NDArray[np.float64]:
    end = start_ms + int(days * DAY_MS)
    window = (
        orders.filter((pl.col("timestamp") >= start_ms) & (pl.col("timestamp") < end))
        .group_by(pl.col("customer_id").cast(pl.Utf8))
        .agg(pl.col("value").sum())
    )
    spent = dict(zip(window["customer_id"].to_list(), window["value"].to_list(), strict=True))
    return np.array([float(spent.get(i, 0.0)) for i in ids], dtype=np.float64)
