"""The propensity task of `relevo evaluate`: on customers simulated by the BG/NBD's own story
(each buys at a Poisson rate until they drop out after some purchase), every model ranks the
buyers of the holdout above the others, Relevo's probabilities are calibrated, and the
references are measured on the same people."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from relevo.offline.propensity import evaluate_propensity, fits_propensity
from relevo.scores.features import DAY_MS

START = 1_600_000_000_000 - 1_600_000_000_000 % DAY_MS


def _simulated(customers: int = 600, days: int = 360, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    ids, times, values = [], [], []
    for c in range(customers):
        rate = rng.gamma(0.8, 1 / 20)  # orders per day
        dropout = rng.beta(1.0, 4.0)  # after each order
        spend = rng.gamma(5.0, 10.0)
        t = rng.uniform(0, days / 3)
        while t < days:
            ids.append(f"c{c}")
            times.append(START + int(t * DAY_MS))
            values.append(float(rng.gamma(5.0, spend / 5.0)))
            if rng.random() < dropout:
                break
            t += rng.exponential(1 / rate)
    return pl.DataFrame({"customer_id": ids, "timestamp": times, "value": values})


@pytest.fixture(scope="module")
def evaluated() -> object:
    return evaluate_propensity(_simulated())


def test_every_model_is_measured_on_the_same_people(evaluated: object) -> None:
    result = evaluated
    table = result.table  # type: ignore[attr-defined]
    assert set(table["model"]) == {
        "relevo_propensity",
        "bgnbd",
        "bgnbd_p_alive",
        "bgnbd_expected_orders",
        "logistic_rfm",
        "gradient_boosting",
    }
    assert table["observed_rate"].n_unique() == 1  # one truth for all of them
    auc = dict(zip(table["model"], table["auc"], strict=True))
    for name in ("relevo_propensity", "bgnbd", "logistic_rfm", "gradient_boosting"):
        assert auc[name] > 0.7, (name, auc)


def test_relevos_probabilities_are_calibrated(evaluated: object) -> None:
    table = evaluated.table  # type: ignore[attr-defined]
    relevo = table.filter(pl.col("model") == "relevo_propensity").row(0, named=True)
    assert relevo["ece"] < 0.08
    assert abs(relevo["mean_predicted"] - relevo["observed_rate"]) < 0.06
    curve = evaluated.as_json()["calibration"]["relevo_propensity"]  # type: ignore[attr-defined]
    assert len(curve["predicted"]) == len(curve["observed"]) >= 3


def test_expected_repeat_orders_and_revenue_are_compared_with_the_holdout(
    evaluated: object,
) -> None:
    shape = evaluated.as_json()  # type: ignore[attr-defined]
    repeat = shape["repeat_orders"]
    assert repeat["actual"] > 0
    assert 0.5 < repeat["expected_bgnbd"] / repeat["actual"] < 2.0  # the data's own model
    clv = shape["clv"]
    assert clv["mae"] >= 0 and clv["rmse"] >= clv["mae"]
    assert 0.4 < clv["expected_total"] / clv["actual_total"] < 2.5


def test_too_little_history_is_said_not_measured() -> None:
    orders = _simulated(customers=600, days=60)
    assert "needs 120" in (fits_propensity(orders) or "")
    assert fits_propensity(_simulated(customers=20)) == "fewer than 50 customers"
    assert fits_propensity(orders.head(0)) == "no orders"
    assert fits_propensity(_simulated()) is None
