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


def history_vector(
    query: Query,
    n_items: int,
    half_life_days: float | None = None,
    kinds: tuple[Kind, ...] | None = None,
) -> npt.NDArray[np.float32]:
    """The query's history as one weight per item: stronger signals and (optionally) recent
    ones weigh more."""
    vector = np.zeros(n_items, dtype=np.float32)
    if query.history.size == 0:
        return vector
    weights = KIND_WEIGHTS[query.history_kinds.astype(np.intp)]
    if half_life_days is not None:
        age = np.maximum(0, query.now - query.history_times) / (half_life_days * DAY_MS)
        weights = weights * np.power(0.5, age).astype(np.float32)
    mask = np.ones(query.history.size, dtype=bool)
    if kinds is not None:
        mask = np.isin(query.history_kinds, [int(k) for k in kinds])
    np.add.at(vector, query.history[mask], weights[mask])
    return vector


def prune_rows(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the k largest entries of each row (neighbour lists stay small at 50,000 items)."""
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    matrix.eliminate_zeros()
    rows, cols, vals = [], [], []
    for r in range(matrix.shape[0]):
        start, end = matrix.indptr[r], matrix.indptr[r + 1]
        if end == start:
            continue
        data = matrix.data[start:end]
        idx = matrix.indices[start:end]
        if data.size > k:
            keep = np.argpartition(-data, k - 1)[:k]
            data, idx = data[keep], idx[keep]
        rows.append(np.full(data.size, r, dtype=np.int32))
        cols.append(idx)
        vals.append(data)
    if not rows:
        return sp.csr_matrix(matrix.shape, dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=matrix.shape,
        dtype=np.float32,
    )


def top_k_similar(
    features: sp.csr_matrix, k: int, chunk: int = 2048, exclude_self: bool = True
) -> sp.csr_matrix:
    """Cosine neighbours of every row of L2-normalised sparse features, top k per row,
    computed in chunks so memory stays bounded for large catalogs."""
    features = sp.csr_matrix(features, dtype=np.float32)
    transposed = features.T.tocsc()
    parts = []
    for start in range(0, features.shape[0], chunk):
        block = (features[start : start + chunk] @ transposed).tocsr()
        if exclude_self:
            rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
            block.data[block.indices == rows + start] = 0
        parts.append(prune_rows(block, k))
    if not parts:
        return sp.csr_matrix((0, features.shape[0]), dtype=np.float32)
    return sp.csr_matrix(sp.vstack(parts), dtype=np.float32)


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
