"""The propensity task of `relevo evaluate`: Relevo's purchase propensity against the
literature's references, on one temporal split, the same people for every model.

The split: the cutoff is ``horizon`` days before the end of the data (the day after the last
order); the people are the customers with an order before it; the truth is whether each
orders in the ``horizon`` days after it. Every model sees only what happened before the
cutoff:

    relevo_propensity   relevo.scores.model.Propensity, as `relevo train` fits it
    bgnbd               the BG/NBD fitted on the customers' (x, t_x, T) at the cutoff:
                        P(an order within the horizon), P(alive), E[orders] (three rows)
    logistic_rfm        a logistic regression on standardised log RFM (RFM_COLUMNS)
    gradient_boosting   gradient-boosted trees on every behaviour column (no BG/NBD inputs)

The two learnt references are trained as Relevo's model is: on the same three earlier cutoffs,
labelled by the horizon after each. Reported per model: AUC, Brier score, log loss, expected
calibration error (10 equal-width bins), mean prediction against the rate observed. Besides:
expected against actual repeat orders (days of order) in the holdout, per BG/NBD, and the error
of the 12-month value model's expected revenue over the holdout (MAE, RMSE, total).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.calibration import calibration_curve
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from relevo.scores.features import (
    DAY_MS,
    RFM_COLUMNS,
    bought_within,
    customer_features,
    order_days,
    revenue_within,
)
from relevo.scores.model import CUTOFFS, SEED, Propensity, bgnbd_columns, bgnbd_fit
from relevo.scores.value import expected_revenue, fit_value, summaries

Floats = npt.NDArray[np.float64]
HORIZON_DAYS = 30
BINS = 10


@dataclass
class PropensityEvaluation:
    table: pl.DataFrame  # one row per model
    cutoff_ms: int
    horizon_days: float
    people: int
    repeat_orders: dict[str, float] = field(default_factory=dict)
    clv: dict[str, float] = field(default_factory=dict)
    curves: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "cutoff_ms": self.cutoff_ms,
            "horizon_days": self.horizon_days,
            "people": self.people,
            "models": self.table.to_dicts(),
            "repeat_orders": self.repeat_orders,
            "clv": self.clv,
            "calibration": {
                name: {"predicted": p, "observed": o} for name, (p, o) in self.curves.items()
            },
        }


def fits_propensity(orders: pl.DataFrame, horizon_days: float = HORIZON_DAYS) -> str | None:
    """None when the task can run, else why not."""
    if orders.height == 0:
        return "no orders"
    days = order_days(orders)
    day = days["day"].to_numpy()
    span = int(day.max() - day.min()) if day.size else 0
    if span < (CUTOFFS + 1) * horizon_days:
        return f"orders span {span} days: the task needs {(CUTOFFS + 1) * horizon_days:.0f}"
    if days["customer_id"].n_unique() < 50:
        return "fewer than 50 customers"
    return None


def evaluate_propensity(
    orders: pl.DataFrame,
    signals: pl.DataFrame | None = None,
    horizon_days: float = HORIZON_DAYS,
) -> PropensityEvaluation:
    end = (int(orders["timestamp"].to_numpy().max()) // DAY_MS + 1) * DAY_MS
    cutoff = end - int(horizon_days * DAY_MS)
    now = customer_features(orders, cutoff, signals)
    truth = bought_within(orders, now.ids, cutoff, horizon_days)
    predictions: dict[str, Floats] = {}
    _, predictions["relevo_propensity"] = (
        Propensity(horizon_days).fit(orders, cutoff, signals).predict(orders, cutoff, signals)
    )
    bg = bgnbd_columns(now, bgnbd_fit(now), horizon_days)
    predictions["bgnbd"] = bg[:, 1]
    predictions["bgnbd_p_alive"] = bg[:, 0]
    predictions["bgnbd_expected_orders"] = bg[:, 2]
    predictions.update(_references(orders, signals, cutoff, horizon_days, now.values, now))
    rows, curves = [], {}
    for name, predicted in predictions.items():
        rows.append(
            {
                "model": name,
                **_measures(truth, predicted, probability=name != "bgnbd_expected_orders"),
            }
        )
        if name != "bgnbd_expected_orders":
            observed, mean_predicted = calibration_curve(
                truth, np.clip(predicted, 0, 1), n_bins=BINS, strategy="quantile"
            )
            curves[name] = (mean_predicted.round(4).tolist(), observed.round(4).tolist())
    result = PropensityEvaluation(
        pl.DataFrame(rows).with_columns(pl.col(pl.Float64).round(4)),
        cutoff,
        horizon_days,
        len(now.ids),
        curves=curves,
    )
    result.repeat_orders = _repeat_orders(orders, now.ids, cutoff, horizon_days, bg[:, 2])
    result.clv = _value_error(orders, cutoff, horizon_days)
    return result


def _references(
    orders: pl.DataFrame,
    signals: pl.DataFrame | None,
    cutoff: int,
    horizon_days: float,
    now_values: Floats,
    now: Any,
) -> dict[str, Floats]:
    rows, labels, rfm = [], [], []
    for k in range(1, CUTOFFS + 1):
        earlier = cutoff - int(k * horizon_days * DAY_MS)
        past = customer_features(orders, earlier, signals)
        if not past.ids:
            break
        rows.append(past.values)
        rfm.append(past.select(RFM_COLUMNS))
        labels.append(bought_within(orders, past.ids, earlier, horizon_days))
    y = np.concatenate(labels)
    X = np.vstack(rows)
    empty = np.isnan(np.vstack([X, now_values])).all(axis=0)
    X[:, empty] = 0.0
    X_now = now_values.copy()
    X_now[:, empty] = 0.0
    with threadpool_limits(1 if y.size < 50_000 else None):
        linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        linear.fit(_log_rfm(np.vstack(rfm)), y)
        trees = HistGradientBoostingClassifier(random_state=SEED).fit(X, y)
        return {
            "logistic_rfm": linear.predict_proba(_log_rfm(now.select(RFM_COLUMNS)))[:, 1],
            "gradient_boosting": trees.predict_proba(X_now)[:, 1],
        }


def _log_rfm(values: Floats) -> Floats:
    result: Floats = np.log1p(np.maximum(values, 0.0))
    return result


def _measures(truth: npt.NDArray[np.bool_], predicted: Floats, probability: bool) -> dict[str, Any]:
    both = 0 < truth.sum() < truth.size
    measured: dict[str, Any] = {"auc": float(roc_auc_score(truth, predicted)) if both else None}
    if probability:
        p = np.clip(predicted, 1e-6, 1 - 1e-6)
        bins = np.minimum((p * BINS).astype(int), BINS - 1)
        ece = sum(
            abs(p[bins == b].mean() - truth[bins == b].mean()) * (bins == b).mean()
            for b in range(BINS)
            if (bins == b).any()
        )
        measured.update(
            brier=float(brier_score_loss(truth, p)),
            log_loss=float(log_loss(truth, p, labels=[False, True])),
            ece=float(ece),
        )
    else:
        measured.update(brier=None, log_loss=None, ece=None)
    measured.update(mean_predicted=float(np.mean(predicted)), observed_rate=float(truth.mean()))
    return measured


def _repeat_orders(
    orders: pl.DataFrame, ids: list[str], cutoff: int, horizon_days: float, expected: Floats
) -> dict[str, float]:
    end = cutoff + int(horizon_days * DAY_MS)
    days = order_days(orders.filter(pl.col("timestamp") < end))
    actual = days.filter(pl.col("day") >= cutoff // DAY_MS).group_by("customer_id").len()
    counted = dict(zip(actual["customer_id"].to_list(), actual["len"].to_list(), strict=True))
    observed = np.array([counted.get(i, 0) for i in ids], dtype=np.float64)
    return {
        "expected_bgnbd": round(float(expected.sum()), 1),
        "actual": float(observed.sum()),
        "mae_per_customer": round(float(np.abs(expected - observed).mean()), 4),
    }


def _value_error(orders: pl.DataFrame, cutoff: int, horizon_days: float) -> dict[str, float]:
    data = summaries(orders, cutoff)
    model = fit_value(data)
    if model is None:
        return {}
    predicted = np.asarray(expected_revenue(model, data, horizon_days))
    actual = revenue_within(orders, data.ids, cutoff, horizon_days)
    return {
        "horizon_days": horizon_days,
        "mae": round(float(np.abs(predicted - actual).mean()), 2),
        "rmse": round(float(np.sqrt(((predicted - actual) ** 2).mean())), 2),
        "expected_total": round(float(predicted.sum()), 2),
        "actual_total": round(float(actual.sum()), 2),
    }


def calibration_plot(evaluation: PropensityEvaluation, path: Path, title: str = "") -> None:
    """Observed rate against the mean prediction, per decile of each model's predictions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    for name, (predicted, observed) in evaluation.curves.items():
        ax.plot(predicted, observed, marker="o", label=name)
    ax.set_xlabel(f"predicted P(an order within {evaluation.horizon_days:.0f} days)")
    ax.set_ylabel("observed rate")
    ax.set_title(title or "calibration")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
