"""Array helpers shared by the recommenders: history vectors, pruned similarity matrices, and
plain-file persistence (npz without pickles, JSON for hyperparameters)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from relevo.recs.base import Query
from relevo.recs.data import Kind

DAY_MS = 86_400_000
KIND_WEIGHTS = np.array([1.0, 2.0, 4.0], dtype=np.float32)  # view, cart, purchase


def history_items(
    query: Query,
    half_life_days: float | None = None,
    kinds: tuple[Kind, ...] | None = None,
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
    """The query's history as (distinct items, summed weight of each): stronger signals and
    (optionally) recent ones weigh more."""
    if query.history.size == 0:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
    weights = KIND_WEIGHTS[query.history_kinds.astype(np.intp)]
    if half_life_days is not None:
        age = np.maximum(0, query.now - query.history_times) / (half_life_days * DAY_MS)
        weights = weights * np.power(0.5, age).astype(np.float32)
    history = query.history
    if kinds is not None:
        mask = np.isin(query.history_kinds, [int(k) for k in kinds])
        history, weights = history[mask], weights[mask]
    items, inverse = np.unique(history, return_inverse=True)
    summed = np.bincount(inverse, weights, minlength=items.size).astype(np.float32)
    return items.astype(np.int32), summed


def history_vector(
    query: Query,
    n_items: int,
    half_life_days: float | None = None,
    kinds: tuple[Kind, ...] | None = None,
) -> npt.NDArray[np.float32]:
    """`history_items` as one weight per catalog item."""
    vector = np.zeros(n_items, dtype=np.float32)
    items, weights = history_items(query, half_life_days, kinds)
    vector[items] = weights
    return vector


def row_of(matrix: sp.csr_matrix, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of one CSR row, as views: scipy's `matrix[r]` builds a
    new sparse matrix, which costs more than the rest of a request."""
    start, end = matrix.indptr[r], matrix.indptr[r + 1]
    return matrix.indices[start:end], matrix.data[start:end]


def without_rows(matrix: sp.csr_matrix, rows: npt.NDArray[np.int64]) -> sp.csr_matrix:
    """A copy of a CSR matrix with the given rows emptied (their entries gone, not stored as
    zeros); the other rows keep their values exactly. A copy, not an edit in place: a request
    reading the old matrix meanwhile keeps a consistent one."""
    drop = np.zeros(matrix.shape[0], dtype=bool)
    rows = np.asarray(rows, dtype=np.int64)
    drop[rows[(rows >= 0) & (rows < matrix.shape[0])]] = True
    lengths = np.diff(matrix.indptr)
    keep = ~np.repeat(drop, lengths)
    indptr = np.zeros_like(matrix.indptr)
    np.cumsum(np.where(drop, 0, lengths), out=indptr[1:])
    return sp.csr_matrix(
        (matrix.data[keep], matrix.indices[keep], indptr), shape=matrix.shape, dtype=matrix.dtype
    )


def prune_rows(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the k largest entries of each row (neighbour lists stay small at 50,000 items)."""
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    matrix.eliminate_zeros()
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    # Entries by row, largest first (ties: lower column first); keep each row's first k.
    order = np.lexsort((matrix.indices, -matrix.data, rows))
    first_of_row = np.repeat(matrix.indptr[:-1], np.diff(matrix.indptr))
    keep = order[np.arange(order.size) - first_of_row < k]
    return sp.csr_matrix(
        (matrix.data[keep], (rows[keep], matrix.indices[keep])),
        shape=matrix.shape,
        dtype=np.float32,
    )


def top_k_similar(
    features: sp.csr_matrix, k: int, exclude_self: bool = True, block_cells: int = 20_000_000
) -> sp.csr_matrix:
    """Cosine neighbours of every row of L2-normalised sparse features, top k per row.
    Rows go in blocks of about `block_cells` similarities (80 MB), selected densely: shared
    words make similarity blocks nearly dense, where per-row sparse selection is slow."""
    features = sp.csr_matrix(features, dtype=np.float32)
    n = features.shape[0]
    transposed = features.T.tocsc()
    chunk = max(1, block_cells // max(n, 1))
    k = min(k, max(n - 1, 1))
    rows, cols, vals = [], [], []
    for start in range(0, n, chunk):
        block = (features[start : start + chunk] @ transposed).toarray()
        if exclude_self:
            block[np.arange(block.shape[0]), np.arange(start, start + block.shape[0])] = 0
        top = np.argpartition(-block, k - 1, axis=1)[:, :k] if n > k else np.argsort(-block)
        values = np.take_along_axis(block, top, axis=1)
        positive = values > 0
        rows.append(np.nonzero(positive)[0] + start)
        cols.append(top[positive])
        vals.append(values[positive])
    if not rows:
        return sp.csr_matrix((0, n), dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n, n),
        dtype=np.float32,
    )


def save_arrays(directory: Path, params: dict[str, Any], **arrays: Any) -> None:
    (directory / "params.json").write_text(json.dumps(params))
    flat: dict[str, Any] = {}
    for name, value in arrays.items():
        if sp.issparse(value):
            csr = sp.csr_matrix(value)
            flat[f"{name}__data"] = csr.data
            flat[f"{name}__indices"] = csr.indices
            flat[f"{name}__indptr"] = csr.indptr
            flat[f"{name}__shape"] = np.asarray(csr.shape, dtype=np.int64)
        else:
            flat[name] = np.asarray(value)
    np.savez(directory / "arrays.npz", **flat)


def load_arrays(directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    params = json.loads((directory / "params.json").read_text())
    arrays: dict[str, Any] = {}
    with np.load(directory / "arrays.npz", allow_pickle=False) as z:
        names = set(z.files)
        for name in names:
            if name.endswith("__data"):
                base = name[: -len("__data")]
                arrays[base] = sp.csr_matrix(
                    (z[name], z[f"{base}__indices"], z[f"{base}__indptr"]),
                    shape=tuple(z[f"{base}__shape"]),
                )
            elif "__" not in name:
                arrays[name] = z[name]
    return params, arrays


def normalise_max(scores: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    top = float(scores.max()) if scores.size else 0.0
    return scores / top if top > 0 else scores
