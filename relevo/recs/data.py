"""Interaction data in index space: what every recommender is fitted on.

Rows are events (a product view, a cart add, a purchased order line) of a user on an item.
Ids are mapped to dense int indexes once, so models are plain numpy/scipy; `user_ids` and
`item_ids` map the indexes back. A catalog (`ItemTable`) shares the item index space.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp

NO_GROUP = -1


class Kind(IntEnum):
    """What the person did with the item; stronger signals have higher values."""

    VIEW = 0
    CART = 1
    PURCHASE = 2


@dataclass(frozen=True)
class Interactions:
    """Columnar events, sorted by timestamp. All arrays have one entry per event."""

    users: npt.NDArray[np.int32]
    items: npt.NDArray[np.int32]
    timestamps: npt.NDArray[np.int64]  # milliseconds since the epoch
    kinds: npt.NDArray[np.int8]  # Kind values
    baskets: npt.NDArray[np.int64]  # order id for purchases, NO_GROUP otherwise
    sessions: npt.NDArray[np.int64]  # browsing session, NO_GROUP when unknown
    quantities: npt.NDArray[np.float32]
    user_ids: Sequence[str]
    item_ids: Sequence[str]
    _item_index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return int(self.users.shape[0])

    def item_index(self, item_id: str) -> int | None:
        if not self._item_index:
            self._item_index.update((item, i) for i, item in enumerate(self.item_ids))
        return self._item_index.get(item_id)

    @classmethod
    def from_frame(
        cls,
        frame: pl.DataFrame,
        item_ids: Sequence[str] | None = None,
    ) -> Interactions:
        """Build from a frame with columns user_id, item_id (str), timestamp (ms, int),
        kind (Kind value), and optional basket_id, session_id (any hashable), quantity.

        `item_ids` fixes the item index space (e.g. the whole catalog, so items nobody has
        interacted with yet can still be recommended); events on other items are dropped.
        """
        frame = frame.sort("timestamp", maintain_order=True)
        user_ids_array, user_codes = np.unique(
            frame["user_id"].cast(pl.Utf8).to_numpy().astype(str), return_inverse=True
        )
        user_ids = [str(u) for u in user_ids_array]
        if item_ids is None:
            item_ids = sorted(set(frame["item_id"].cast(pl.Utf8).to_list()))
        index = {item: i for i, item in enumerate(item_ids)}
        items = np.fromiter(
            (index.get(item, -1) for item in frame["item_id"].cast(pl.Utf8).to_list()),
            dtype=np.int32,
            count=frame.height,
        )
        keep = items >= 0

        def groups(column: str) -> npt.NDArray[np.int64]:
            if column not in frame.columns:
                return np.full(frame.height, NO_GROUP, dtype=np.int64)
            codes = frame[column].cast(pl.Utf8).cast(pl.Categorical).to_physical()
            return np.where(frame[column].is_null().to_numpy(), NO_GROUP, codes.to_numpy()).astype(
                np.int64
            )

        quantities = (
            frame["quantity"].cast(pl.Float32).fill_null(1.0).to_numpy()
            if "quantity" in frame.columns
            else np.ones(frame.height, dtype=np.float32)
        )
        return cls(
            users=user_codes.astype(np.int32)[keep],
            items=items[keep],
            timestamps=frame["timestamp"].cast(pl.Int64).to_numpy()[keep],
            kinds=frame["kind"].cast(pl.Int8).to_numpy()[keep],
            baskets=groups("basket_id")[keep],
            sessions=groups("session_id")[keep],
            quantities=quantities[keep],
            user_ids=user_ids,
            item_ids=list(item_ids),
        )

    def select(self, mask: npt.NDArray[np.bool_]) -> Interactions:
        """The events where mask is true, in the same user and item index spaces."""
        return Interactions(
            users=self.users[mask],
            items=self.items[mask],
            timestamps=self.timestamps[mask],
            kinds=self.kinds[mask],
            baskets=self.baskets[mask],
            sessions=self.sessions[mask],
            quantities=self.quantities[mask],
            user_ids=self.user_ids,
            item_ids=self.item_ids,
        )

    def matrix(self, weights: dict[Kind, float] | None = None) -> sp.csr_matrix:
        """users x items, summing per-event weights by kind (default: every event counts 1)."""
        if weights is None:
            values = np.ones(len(self), dtype=np.float32)
        else:
            table = np.zeros(len(Kind), dtype=np.float32)
            for kind, weight in weights.items():
                table[kind] = weight
            values = table[self.kinds]
        matrix = sp.csr_matrix(
            (values, (self.users, self.items)),
            shape=(self.n_users, self.n_items),
            dtype=np.float32,
        )
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
        return matrix


@dataclass(frozen=True)
class ItemTable:
    """Catalog attributes aligned with an Interactions item index space (row i = item i)."""

    item_ids: Sequence[str]
    titles: Sequence[str]
    descriptions: Sequence[str]
    brands: Sequence[str]
    categories: Sequence[str]  # category path, "Home > Kitchen > Mugs"
    prices: npt.NDArray[np.float64]  # NaN when unknown
    in_stock: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.item_ids)


@dataclass(frozen=True)
class CatalogItem:
    item_id: str
    title: str = ""
    description: str = ""
    brand: str = ""
    category: str = ""
    price: float | None = None
    in_stock: bool = True
