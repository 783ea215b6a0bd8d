"""Trained model bundles on disk, one folder per version, and a pointer to the current one.

    <root>/<workspace id>/<version>/manifest.json, items.npz, users.npz, <strategy>/...
    <root>/<workspace id>/CURRENT     (the version's name)

A bundle is written completely under a temporary name, renamed into place, and only then is
CURRENT replaced (os.replace is atomic), so a server never sees half a bundle; old versions are
pruned, keeping a few so a running server that still reads one is not pulled from under.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

POINTER = "CURRENT"


class ModelStore:
    def __init__(self, root: Path, keep: int = 3) -> None:
        self.root = root
        self.keep = keep

    def _workspace_dir(self, workspace_id: int) -> Path:
        return self.root / str(workspace_id)

    def current_version(self, workspace_id: int) -> str | None:
        try:
            name = (self._workspace_dir(workspace_id) / POINTER).read_text().strip()
        except FileNotFoundError:
            return None
        return name or None

    def path_of(self, workspace_id: int, version: str) -> Path:
        return self._workspace_dir(workspace_id) / version

    @contextmanager
    def new_version(self, workspace_id: int) -> Iterator[tuple[str, Path]]:
        """A folder to write a bundle into; published as CURRENT when the block succeeds."""
        base = self._workspace_dir(workspace_id)
        base.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        version = f"{stamp}-{secrets.token_hex(3)}"
        staging = base / f".{version}.tmp"
        staging.mkdir()
        try:
            yield version, staging
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        staging.rename(base / version)
        pointer = base / f".{POINTER}.tmp"
        pointer.write_text(version)
        os.replace(pointer, base / POINTER)
        self._prune(base, version)

    def _prune(self, base: Path, current: str) -> None:
        versions = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
        for old in versions[: -self.keep]:
            if old.name != current:
                shutil.rmtree(old, ignore_errors=True)
