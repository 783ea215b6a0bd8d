"""A trained set of strategies with the item and user index spaces they share.

Saved as plain files (numpy .npz with allow_pickle=False, JSON) by `relevo train`, loaded by
the server, which swaps bundles without stopping (relevo.recs.live). A GDPR erasure makes a
bundle forget people (`forget`): their id becomes "" in `user_ids` (the index space stays) and
every model drops what it kept of them; stored versions are rewritten the same way
(relevo.recs.forgetting).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from relevo.recs.base import Recommender
from relevo.recs.data import ItemTable
from relevo.recs.strategies import STRATEGIES

MANIFEST = "manifest.json"
USERS = "users.npz"
# Folders of a version that training writes beside the bundle (the segments, relevo.segments):
# nothing in them names a person, so rewriting a version for an erasure keeps them as they are.
ATTACHED = frozenset({"segments"})
# A stored version may be swapped for a rewritten copy while a server reads it: the folder is
# missing for an instant, or a read saw files of both; such a read starts again.
_LOAD_ATTEMPTS = 50
_LOAD_RETRY_SECONDS = 0.01


def _strings(values: Any) -> npt.NDArray[np.str_]:
    return np.asarray([str(v) for v in values], dtype=np.str_)


@dataclass
class Bundle:
    version: str
    items: ItemTable
    user_ids: list[str]  # surviving profile ids as strings, index = user index of the models
    models: dict[str, Recommender]
    trained_at: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    _user_index: dict[str, int] = field(default_factory=dict, repr=False)
    _item_index: dict[str, int] = field(default_factory=dict, repr=False)
    _category_cache: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._user_index = {u: i for i, u in enumerate(self.user_ids) if u}
        self._item_index = {item: i for i, item in enumerate(self.items.item_ids)}

    @property
    def trained_ms(self) -> int:
        try:
            return int(dt.datetime.fromisoformat(self.trained_at).timestamp() * 1000)
        except ValueError:
            return 0

    def user_index(self, profile_id: int | None) -> int | None:
        return None if profile_id is None else self._user_index.get(str(profile_id))

    def item_index(self, item_id: str) -> int | None:
        return self._item_index.get(item_id)

    def forget(self, profile_ids: Collection[int]) -> int:
        """Forget these people in memory (models and user ids); returns how many were in the
        bundle. They are no longer found by `user_index` from the first step on, so a request
        that starts meanwhile answers as for a stranger."""
        found = [self._user_index.pop(key, -1) for key in {str(p) for p in profile_ids}]
        users = np.asarray(sorted(i for i in found if i >= 0), dtype=np.int64)
        if users.size == 0:
            return 0
        for index in users:
            self.user_ids[index] = ""
        for model in self.models.values():
            model.forget_users(users)
        return int(users.size)

    def in_category(self, category: str) -> npt.NDArray[np.bool_]:
        """Items whose category path is `category` or below it ("Home" covers "Home > Mugs")."""
        wanted = category.strip().lower()
        mask = self._category_cache.get(wanted)
        if mask is None:
            mask = np.fromiter(
                (
                    c.lower() == wanted or c.lower().startswith(wanted + " >")
                    for c in self.items.categories
                ),
                dtype=bool,
                count=len(self.items),
            )
            self._category_cache[wanted] = mask
        return mask

    def save(self, directory: Path) -> None:
        items = self.items
        np.savez(
            directory / "items.npz",
            item_ids=_strings(items.item_ids),
            titles=_strings(items.titles),
            descriptions=_strings(items.descriptions),
            brands=_strings(items.brands),
            categories=_strings(items.categories),
            prices=np.asarray(items.prices, dtype=np.float64),
            in_stock=np.asarray(items.in_stock, dtype=bool),
        )
        np.savez(directory / USERS, user_ids=_strings(self.user_ids))
        for name, model in self.models.items():
            (directory / name).mkdir()
            model.save(directory / name)
        manifest = {
            "version": self.version,
            "trained_at": self.trained_at,
            "strategies": sorted(self.models),
            "items": len(items),
            "users": len(self.user_ids),
            "stats": self.stats,
        }
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2))

    def replace_saved(self, directory: Path) -> None:
        """Save into a folder that already holds a saved bundle. Its files are deleted first,
        never written into: where they are hard links to a stored version's files (a working
        copy being rewritten), the stored version keeps its content."""
        for child in directory.iterdir():
            if child.name in ATTACHED:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        self.save(directory)

    @staticmethod
    def saved_user_ids(directory: Path) -> set[str]:
        """The user ids of a saved bundle, without loading its models."""
        with np.load(directory / USERS, allow_pickle=False) as z:
            return {str(u) for u in z["user_ids"].tolist() if u}

    @classmethod
    def load(cls, directory: Path) -> Bundle:
        """Load a saved bundle: all of one version of the folder, even while the model store
        swaps in a rewritten copy of it (the read is started again when the folder vanished
        or changed under it)."""
        for _ in range(_LOAD_ATTEMPTS - 1):
            try:
                before = _folder_identity(directory)
                bundle = cls._read(directory)
                if _folder_identity(directory) == before:
                    return bundle
            except FileNotFoundError:
                pass
            time.sleep(_LOAD_RETRY_SECONDS)
        return cls._read(directory)

    @classmethod
    def _read(cls, directory: Path) -> Bundle:
        manifest = json.loads((directory / MANIFEST).read_text())
        with np.load(directory / "items.npz", allow_pickle=False) as z:
            items = ItemTable(
                item_ids=z["item_ids"].tolist(),
                titles=z["titles"].tolist(),
                descriptions=z["descriptions"].tolist(),
                brands=z["brands"].tolist(),
                categories=z["categories"].tolist(),
                prices=z["prices"],
                in_stock=z["in_stock"],
            )
        with np.load(directory / USERS, allow_pickle=False) as z:
            user_ids = z["user_ids"].tolist()
        models = {
            name: STRATEGIES[name].model.load(directory / name)
            for name in manifest["strategies"]
            if name in STRATEGIES
        }
        return cls(
            version=manifest["version"],
            items=items,
            user_ids=user_ids,
            models=models,
            trained_at=manifest.get("trained_at", ""),
            stats=manifest.get("stats", {}),
        )


def _folder_identity(directory: Path) -> tuple[int, int, int]:
    """Which folder is at this path: a rewritten copy swapped in is another inode."""
    stat = os.stat(directory)
    return stat.st_dev, stat.st_ino, stat.st_mtime_ns
