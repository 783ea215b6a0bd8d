"""Trained model bundles on disk, one folder per version, and a pointer to the current one.

    <root>/<workspace id>/<version>/manifest.json, items.npz, users.npz, <strategy>/...
    <root>/<workspace id>/CURRENT     (the version's name)
    <root>/<workspace id>/.lock       (held while publishing and while rewriting versions)

A bundle is written completely under a temporary name, renamed into place, and only then is
CURRENT replaced (os.replace is atomic), so a server never sees half a bundle; old versions are
pruned, keeping a few so a running server that still reads one is not pulled from under.

Stored versions are rewritten in place (a GDPR erasure makes them forget people): each is copied
to a working folder beside it, the copy rewritten, and the two folders swapped by renames; a
server reading the version meanwhile reads it again (relevo.recs.bundle.Bundle.load). Publishing
and rewriting hold the workspace's file lock, so a version published while versions are being
rewritten is not missed, and training can check for erasures under the lock right before it
publishes (`new_version(before_publish=...)`).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

POINTER = "CURRENT"
LOCK = ".lock"
_WORKING = ".rewrite"  # .<version>.rewrite: the copy being rewritten
_RETIRED = ".retired"  # .<version>.retired: the old folder, between the two renames of a swap


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

    def versions(self, workspace_id: int) -> list[str]:
        """The stored versions, oldest first."""
        base = self._workspace_dir(workspace_id)
        return [p.name for p in _versions(base)] if base.is_dir() else []

    @contextmanager
    def new_version(
        self, workspace_id: int, before_publish: Callable[[Path], None] | None = None
    ) -> Iterator[tuple[str, Path]]:
        """A folder to write a bundle into; published as CURRENT when the block succeeds.

        `before_publish(folder)` runs under the workspace's lock right before the version is
        published: what it checks cannot change until the version is in place (training
        forgets people erased while it ran, and an erasure after that rewrites this version)."""
        base = self._workspace_dir(workspace_id)
        base.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        version = f"{stamp}-{secrets.token_hex(3)}"
        staging = base / f".{version}.tmp"
        staging.mkdir()
        try:
            yield version, staging
            with self._locked(base):
                if before_publish is not None:
                    before_publish(staging)
                staging.rename(base / version)
                pointer = base / f".{POINTER}.tmp"
                pointer.write_text(version)
                os.replace(pointer, base / POINTER)
                self._prune(base, version)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def rewrite_versions(self, workspace_id: int, rewrite: Callable[[Path], bool]) -> int:
        """Rewrite every stored version in place, under the workspace's lock; returns how many
        changed.

        `rewrite(folder)` gets a working copy of one version and says whether it changed it.
        The copy's files are hard links to the stored version's: replace a file (delete it,
        then write it anew), never write into one. A changed copy is swapped in whole;
        an unchanged one is thrown away. If `rewrite` raises, the versions rewritten so far
        stay rewritten and the rest are untouched."""
        base = self._workspace_dir(workspace_id)
        if not base.is_dir():
            return 0
        changed = 0
        with self._locked(base):
            for folder in _versions(base):
                working = base / f".{folder.name}{_WORKING}"
                shutil.copytree(folder, working, copy_function=_link_or_copy)
                try:
                    rewritten = rewrite(working)
                except BaseException:
                    shutil.rmtree(working, ignore_errors=True)
                    raise
                if not rewritten:
                    shutil.rmtree(working)
                    continue
                retired = base / f".{folder.name}{_RETIRED}"
                folder.rename(retired)
                working.rename(folder)
                shutil.rmtree(retired)
                changed += 1
        return changed

    @contextmanager
    def _locked(self, base: Path) -> Iterator[None]:
        # flock is per open file: it excludes other threads of this process as well as other
        # processes (training, the server handling an erasure).
        with open(base / LOCK, "a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                _recover(base)
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _prune(self, base: Path, current: str) -> None:
        for old in _versions(base)[: -self.keep]:
            if old.name != current:
                shutil.rmtree(old, ignore_errors=True)


def _versions(base: Path) -> list[Path]:
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copy2(source, target)


def _recover(base: Path) -> None:
    """Finish or undo a rewrite that a crash interrupted (called under the lock, so no rewrite
    is running). A retired folder means the working copy was complete: it is put in place."""
    for path in base.iterdir():
        name = path.name
        if name.startswith(".") and name.endswith(_RETIRED):
            version = base / name[1 : -len(_RETIRED)]
            working = base / f".{version.name}{_WORKING}"
            if not version.exists() and working.is_dir():
                working.rename(version)
            if version.exists():
                shutil.rmtree(path)
            else:
                path.rename(version)
    for path in base.iterdir():
        if path.name.startswith(".") and path.name.endswith(_WORKING):
            shutil.rmtree(path)
