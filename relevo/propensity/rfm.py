"""From an orders table to the per-customer summaries the models are fitted on, with the
conventions of the CDNOW literature (Fader, Hardie & Lee 2005; the summaries Hardie publishes
and lifetimes' ``summary_data_from_transaction_data``):

- the grain is the calendar day: a customer's orders on one day are one transaction, their
  values summed (the day a timestamp falls on in its own time zone);
- frequency x = the number of repeat transactions (transaction days after the first);
- recency t_x = the time from the first to the last transaction; 0 when x = 0;
- T = the time from the first transaction to the end of the calibration period, whose last
  day ``observation_end`` is included (CDNOW: first purchases in 1997-01-01..03-31,
  observation_end = 1997-09-30, the 39-week calibration period, so T = 272 / 7 weeks for a
  customer who first bought on January 1st);
- monetary value z-bar = the mean value of the repeat transactions (the first is left out, as
  in the Gamma-Gamma literature); 0 when x = 0;
- times are in days or in weeks (days / 7, not rounded).

Rows without a customer (guest orders) are left out; customers whose first transaction is after
observation_end are not in the summary.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import polars as pl

from relevo.propensity.errors import InvalidCustomerSummary

Unit = Literal["days", "weeks"]
_DAYS_PER_UNIT: dict[str, float] = {"days": 1.0, "weeks": 7.0}


def customer_summary(
    orders: pl.DataFrame,
    *,
    observation_end: dt.date,
    unit: Unit = "days",
    customer: str = "customer_id",
    timestamp: str = "timestamp",
    value: str | None = "value",
) -> pl.DataFrame:
    """One row per customer, ordered by customer: ``customer``, first_purchase (a Date),
    frequency, recency, T and, when ``value`` names a column, monetary_value."""
    per_day = _transaction_days(orders, customer=customer, timestamp=timestamp, value=value)
    end = _day(observation_end)
    days = _days_per_unit(unit)
    calibration = per_day.filter(pl.col("day") <= end)
    aggregates = [
        pl.col("day").min().alias("first_purchase"),
        pl.col("day").max().alias("last_purchase"),
        pl.len().alias("transactions"),
    ]
    if value is not None:
        aggregates.append(
            (pl.col(value).sum() - pl.col(value).sort_by("day").first()).alias("repeat_value")
        )
    summary = calibration.group_by(customer).agg(aggregates).sort(customer)
    frequency = pl.col("transactions").cast(pl.Int64) - 1
    columns = [
        pl.col(customer),
        pl.col("first_purchase"),
        frequency.alias("frequency"),
        ((pl.col("last_purchase") - pl.col("first_purchase")).dt.total_days() / days).alias(
            "recency"
        ),
        ((pl.lit(end) - pl.col("first_purchase")).dt.total_days() / days).alias("T"),
    ]
    if value is not None:
        columns.append(
            pl.when(frequency > 0)
            .then(pl.col("repeat_value") / frequency)
            .otherwise(0.0)
            .cast(pl.Float64)
            .alias("monetary_value")
        )
    return summary.select(columns)


def calibration_and_holdout(
    orders: pl.DataFrame,
    *,
    observation_end: dt.date,
    holdout_end: dt.date,
    unit: Unit = "days",
    customer: str = "customer_id",
    timestamp: str = "timestamp",
    value: str | None = "value",
) -> pl.DataFrame:
    """The calibration summary (see ``customer_summary``) of the customers seen by
    observation_end, with what each did in the holdout period (observation_end, holdout_end]:
    holdout_frequency (transaction days), holdout_value (when ``value`` is given) and
    holdout_duration (the holdout's length in ``unit``, the t to predict over)."""
    end, last = _day(observation_end), _day(holdout_end)
    if last <= end:
        raise InvalidCustomerSummary("holdout_end must come after observation_end")
    summary = customer_summary(
        orders,
        observation_end=end,
        unit=unit,
        customer=customer,
        timestamp=timestamp,
        value=value,
    )
    per_day = _transaction_days(orders, customer=customer, timestamp=timestamp, value=value)
    holdout_days = per_day.filter((pl.col("day") > end) & (pl.col("day") <= last))
    aggregates = [pl.len().cast(pl.Int64).alias("holdout_frequency")]
    if value is not None:
        aggregates.append(pl.col(value).sum().cast(pl.Float64).alias("holdout_value"))
    holdout = holdout_days.group_by(customer).agg(aggregates)
    joined = summary.join(holdout, on=customer, how="left").with_columns(
        pl.col(name).fill_null(0) for name in holdout.columns if name != customer
    )
    return joined.with_columns(
        pl.lit((last - end).days / _days_per_unit(unit)).alias("holdout_duration")
    )


def _transaction_days(
    orders: pl.DataFrame, *, customer: str, timestamp: str, value: str | None
) -> pl.DataFrame:
    """(customer, day[, value summed over the day]) for the rows with a customer."""
    needed = [customer, timestamp] + ([value] if value is not None else [])
    missing = [name for name in needed if name not in orders.columns]
    if missing:
        raise InvalidCustomerSummary(
            f"the orders table has no column {', '.join(missing)}: name the columns to use "
            f"(it has {', '.join(orders.columns)})"
        )
    kind = orders.schema[timestamp]
    if kind == pl.Date:
        day = pl.col(timestamp)
    elif isinstance(kind, pl.Datetime):
        day = pl.col(timestamp).dt.date()
    else:
        raise InvalidCustomerSummary(
            f"column {timestamp} is {kind}: it must be a Date or a Datetime (parse it first)"
        )
    known = orders.filter(pl.col(customer).is_not_null())
    if value is None:
        return known.select(pl.col(customer), day.alias("day")).unique()
    nulls = known[value].null_count()
    if nulls:
        raise InvalidCustomerSummary(
            f"column {value} has {nulls} empty values: drop or fill them before summarising"
        )
    return (
        known.select(pl.col(customer), day.alias("day"), pl.col(value).cast(pl.Float64))
        .group_by(customer, "day")
        .agg(pl.col(value).sum())
    )


def _day(day: dt.date) -> dt.date:
    if isinstance(day, dt.datetime):
        raise InvalidCustomerSummary(
            "give the period's last day as a date (it is included), not a datetime"
        )
    return day


def _days_per_unit(unit: str) -> float:
    if unit not in _DAYS_PER_UNIT:
        raise InvalidCustomerSummary(f"unit must be one of {', '.join(_DAYS_PER_UNIT)}")
    return _DAYS_PER_UNIT[unit]
