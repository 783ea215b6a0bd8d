"""Pieces of recommendation serving that need no trained model: product signals of events,
the versioned model store and its atomic switch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

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
