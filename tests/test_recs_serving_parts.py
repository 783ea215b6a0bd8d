"""Pieces of recommendation serving that need no trained model: product signals of events,
the versioned model store and its atomic switch, neighbour selection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from sklearn.preprocessing import normalize

from relevo.recs._arrays import DAY_MS, KIND_WEIGHTS, history_vector, prune_rows, top_k_similar
from relevo.recs.base import Query
from relevo.recs.data import Kind
from relevo.recs.signals import signals_of
from relevo.storage.model_store import ModelStore

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def test_product_events_become_signals() -> None:
    viewed = signals_of("Product Viewed", {"product_id": 17, "price": 3})
    assert [(s.item_id, s.kind) for s in viewed] == [("17", Kind.VIEW)]
    added = signals_of("Product Added", {"sku": "SKU-1", "quantity": 2})
    assert [(s.item_id, s.kind, s.quantity) for s in added] == [("SKU-1", Kind.CART, 2.0)]
    order = signals_of(
        "Order Completed",
        {"order_id": "o1", "products": [{"product_id": "a", "quantity": 3}, {"sku": "b"}, "x"]},
    )
    assert [(s.item_id, s.kind, s.order_id, s.quantity) for s in order] == [
        ("a", Kind.PURCHASE, "o1", 3.0),
        ("b", Kind.PURCHASE, "o1", 1.0),
    ]
    assert signals_of("Page Viewed", {"product_id": "a"}) == []
    assert signals_of("Product Viewed", {"product_id": {"nested": 1}}) == []
    assert signals_of("Product Viewed", {"product_id": "  "}) == []


@given(st.sampled_from(["Product Viewed", "Product Added", "Order Completed", None]), json_values)
def test_signals_never_raise_and_name_real_items(event: str | None, properties: Any) -> None:
    for signal in signals_of(event, properties):
        assert signal.item_id.strip() == signal.item_id and signal.item_id
        assert signal.quantity > 0


def test_model_store_publishes_only_complete_versions_and_prunes(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, keep=2)
    assert store.current_version(1) is None
    versions = []
    for n in range(3):
        with store.new_version(1) as (version, folder):
            (folder / "model.txt").write_text(str(n))
            assert store.current_version(1) != version  # not visible while being written
        versions.append(version)
        assert store.current_version(1) == version
        assert (store.path_of(1, version) / "model.txt").read_text() == str(n)
    assert not store.path_of(1, versions[0]).exists()  # pruned, two kept
    assert store.path_of(1, versions[1]).exists()

    try:
        with store.new_version(1) as (failed, folder):
            (folder / "half").write_text("x")
            raise RuntimeError("training failed")
    except RuntimeError:
        pass
    assert store.current_version(1) == versions[2]
    assert not store.path_of(1, failed).exists()
    assert store.current_version(2) is None  # workspaces are separate


sparse_matrices = st.tuples(st.integers(1, 12), st.integers(1, 12), st.integers(0, 10_000)).map(
    lambda shape_seed: sp.random(
        shape_seed[0],
        shape_seed[1],
        density=0.5,
        format="csr",
        dtype=np.float32,
        random_state=shape_seed[2],
    )
)


@given(sparse_matrices, st.integers(1, 6))
def test_prune_rows_keeps_each_rows_k_largest(matrix: sp.csr_matrix, k: int) -> None:
    pruned = prune_rows(matrix, k).toarray()
    dense = matrix.toarray()
    for row, kept in zip(dense, pruned, strict=True):
        expected = sorted(row[row != 0], reverse=True)[:k]
        assert sorted(kept[kept != 0], reverse=True) == expected
        assert np.all((kept == 0) | (kept == row))  # values stay in their columns


@given(sparse_matrices, st.integers(1, 5), st.integers(1, 60))
def test_top_k_similar_matches_brute_force_cosine(
    matrix: sp.csr_matrix, k: int, block_cells: int
) -> None:
    features = normalize(matrix)
    got = top_k_similar(features, k, block_cells=block_cells).toarray()
    cosine = (features @ features.T).toarray()
    np.fill_diagonal(cosine, 0)
    for row, kept in zip(cosine, got, strict=True):
        expected = sorted(row[row > 0], reverse=True)[:k]
        np.testing.assert_allclose(sorted(kept[kept > 0], reverse=True), expected, rtol=1e-5)


@given(
    st.lists(st.tuples(st.integers(0, 9), st.integers(0, 2), st.integers(0, 90)), max_size=30),
    st.sampled_from([None, 7.0, 30.0]),
)
def test_history_vector_sums_each_items_weighted_signals(
    signals: list[tuple[int, int, int]], half_life: float | None
) -> None:
    now = 100 * DAY_MS
    query = Query(
        now=now,
        history=np.asarray([s[0] for s in signals], dtype=np.int32),
        history_kinds=np.asarray([s[1] for s in signals], dtype=np.int8),
        history_times=np.asarray([now - s[2] * DAY_MS for s in signals], dtype=np.int64),
    )
    expected = np.zeros(10)
    for item, kind, age_days in signals:
        decay = 1.0 if half_life is None else 0.5 ** (age_days / half_life)
        expected[item] += KIND_WEIGHTS[kind] * decay
    np.testing.assert_allclose(history_vector(query, 10, half_life), expected, rtol=1e-5)
