"""Maximum likelihood on log-parameters (so every parameter stays positive without bounds),
with an analytic gradient; shared by the BG/NBD and Gamma-Gamma fits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

from relevo.propensity._arrays import Floats

Objective = Callable[[Floats], tuple[float, Floats]]


@dataclass(frozen=True)
class Optimum:
    params: Floats
    converged: bool
    message: str
    iterations: int


def minimise_log_params(objective: Objective, start: npt.ArrayLike) -> Optimum:
    """Minimise ``objective(theta) -> (value, gradient)`` over theta = exp(log_theta)."""

    def in_logs(log_theta: Floats) -> tuple[float, Floats]:
        # The line search may try extreme parameters (a, b -> 0 on shops where nobody seems
        # to drop out) where the special functions overflow: such a point is infinitely bad,
        # so the search steps back, instead of a NaN warning ending the fit.
        with np.errstate(all="ignore"):
            theta = np.exp(log_theta)
            value, gradient = objective(theta)
            gradient = gradient * theta
        if not np.isfinite(value):
            return np.inf, np.zeros_like(log_theta)
        return value, np.nan_to_num(gradient, nan=0.0, posinf=0.0, neginf=0.0)

    result = minimize(
        in_logs,
        np.log(np.asarray(start, dtype=np.float64)),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 1000, "ftol": 1e-15, "gtol": 1e-9},
    )
    # ftol this tight ends on "ABNORMAL" line searches once at the optimum: judge by the gradient.
    theta = np.exp(result.x)
    _, gradient = in_logs(result.x)
    converged = bool(np.all(np.isfinite(result.x)) and np.max(np.abs(gradient)) < 1e-5)
    return Optimum(theta, converged, str(result.message), int(result.nit))


def unique_rows(*columns: Floats, weights: Floats) -> tuple[list[Floats], Floats]:
    """Identical customers collapsed to one row with the sum of their weights: the likelihood
    is evaluated once per distinct summary (customers without a repeat purchase differ only by
    T, and T takes few values when times are whole days)."""
    rows, inverse = np.unique(np.stack(columns, axis=1), axis=0, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=weights, minlength=rows.shape[0]).astype(
        np.float64
    )
    keep = summed > 0
    return [rows[keep, i] for i in range(rows.shape[1])], summed[keep]
