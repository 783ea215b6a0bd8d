"""Full-ranking accuracy metrics (no sampled negatives), vectorised over people."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

KS = (10, 20)


def top_k(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.intp]:
    """Indexes of the k best items per row, best first; -inf items never count as hits."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    ranked = np.take_along_axis(part, order, axis=1)
    usable = np.isfinite(np.take_along_axis(scores, ranked, axis=1))
    return np.where(usable, ranked, -1)


def ranking_metrics(
    ranked: npt.NDArray[np.intp], truth: Sequence[set[int]], n_items: int
) -> dict[str, float]:
    """Recall@k, NDCG@k, HitRate@k for k in KS, MRR@max(KS), and catalog coverage@max(KS),
    averaged over rows with a non-empty truth."""
    rows = [r for r, t in enumerate(truth) if t]
    result: dict[str, float] = {"people": float(len(rows))}
    if not rows:
        return result
    k_max = max(KS)
    hits = np.zeros((len(rows), ranked.shape[1]), dtype=bool)
    sizes = np.zeros(len(rows))
    for n, r in enumerate(rows):
        hits[n] = [item in truth[r] for item in ranked[r]]
        sizes[n] = len(truth[r])
    discounts = 1.0 / np.log2(np.arange(2, ranked.shape[1] + 2))
    for k in KS:
        h = hits[:, :k]
        result[f"recall@{k}"] = float(np.mean(h.sum(axis=1) / sizes))
        ideal = np.array([discounts[: int(min(k, s))].sum() for s in sizes])
        result[f"ndcg@{k}"] = float(np.mean((h * discounts[:k]).sum(axis=1) / ideal))
        result[f"hit@{k}"] = float(np.mean(h.any(axis=1)))
    first = np.where(hits[:, :k_max].any(axis=1), hits[:, :k_max].argmax(axis=1) + 1, 0)
    result[f"mrr@{k_max}"] = float(np.mean(np.where(first > 0, 1.0 / np.maximum(first, 1), 0)))
    shown = ranked[rows][:, :k_max]
    result[f"coverage@{k_max}"] = float(np.unique(shown[shown >= 0]).size / max(n_items, 1))
    return result
