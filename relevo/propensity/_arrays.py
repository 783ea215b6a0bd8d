"""Checks shared by the models: per-customer summaries as float arrays of one length."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from relevo.propensity.errors import InvalidCustomerSummary

Floats = npt.NDArray[np.float64]


def as_floats(name: str, values: npt.ArrayLike) -> Floats:
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise InvalidCustomerSummary(f"{name} has missing or infinite values: drop or fill them")
    return array


def summary_arrays(
    frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> tuple[Floats, Floats, Floats]:
    """(x, t_x, T) broadcast to one shape, after checking 0 <= x, 0 <= t_x <= T."""
    x, t_x, age = np.broadcast_arrays(
        as_floats("frequency", frequency), as_floats("recency", recency), as_floats("T", T)
    )
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise InvalidCustomerSummary("frequency must count repeat purchases: integers >= 0")
    # Rounded summaries (CDNOW's are to 2 decimals) may put t_x a hair above T.
    if np.any(t_x < 0) or np.any(t_x > age * (1 + 1e-9) + 1e-9):
        raise InvalidCustomerSummary(
            "recency must lie between 0 and T (time of the last purchase since the first, "
            "and time since the first purchase to the end of the calibration period)"
        )
    return x.astype(np.float64), t_x.astype(np.float64), age.astype(np.float64)


def weights_array(weights: npt.ArrayLike | None, n: int) -> Floats:
    if weights is None:
        return np.ones(n)
    w = np.broadcast_to(as_floats("weights", weights), (n,)).astype(np.float64)
    if np.any(w < 0) or w.sum() <= 0:
        raise InvalidCustomerSummary("weights must be >= 0 and not all 0")
    return w
