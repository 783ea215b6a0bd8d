"""The bundles a server answers from, swapped for newer versions without downtime.

Requests take a reference to a workspace's bundle once and use it to the end, so a swap never
changes the models under a request; a new version is loaded completely (in the caller's
thread, at most once per `check_seconds` per workspace) before it replaces the old one, and a
version that fails to load is logged and skipped while the old one keeps serving.

People erased from a workspace (`forget`) are forgotten in the bundle being served at once and
in every bundle loaded afterwards, whatever its age: an older stored version, or one whose
rewrite on disk this process has not seen.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Protocol

from relevo.recs.bundle import Bundle
from relevo.runtime import freeze_loaded

log = logging.getLogger(__name__)


class BundleSource(Protocol):
    def current_version(self, workspace_id: int) -> str | None: ...
    def path_of(self, workspace_id: int, version: str) -> Path: ...


class LiveBundles:
    def __init__(
        self,
        source: BundleSource,
        check_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.check_seconds = check_seconds
        self.clock = clock
        self._bundles: dict[int, Bundle] = {}
        self._checked: dict[int, float] = {}
        self._failed: dict[int, str] = {}
        self._loading = threading.Lock()
        self._forgotten: dict[int, set[int]] = {}
        # Forgetting and swapping in a loaded bundle exclude each other, so no bundle is put in
        # place without the people forgotten while it loaded.
        self._swapping = threading.Lock()

    def get(self, workspace_id: int) -> Bundle | None:
        now = self.clock()
        if now - self._checked.get(workspace_id, -1e18) >= self.check_seconds:
            self._refresh(workspace_id, now)
        return self._bundles.get(workspace_id)

    def forget(self, workspace_id: int, profile_ids: Collection[int]) -> int:
        """Forget these people in the workspace's bundles from now on; returns how many were
        in the bundle being served."""
        with self._swapping:
            self._forgotten.setdefault(workspace_id, set()).update(profile_ids)
            bundle = self._bundles.get(workspace_id)
            return 0 if bundle is None else bundle.forget(profile_ids)

    def _refresh(self, workspace_id: int, now: float) -> None:
        self._checked[workspace_id] = now
        version = self.source.current_version(workspace_id)
        current = self._bundles.get(workspace_id)
        if version is None or (current is not None and current.version == version):
            return
        if self._failed.get(workspace_id) == version:
            return
        if current is None:
            self._load(workspace_id, version)  # nothing to answer from yet: wait for it
        else:
            # Requests keep answering from the old bundle while the new one loads.
            threading.Thread(target=self._load, args=(workspace_id, version), daemon=True).start()

    def _load(self, workspace_id: int, version: str) -> None:
        with self._loading:  # one loader at a time
            current = self._bundles.get(workspace_id)
            if current is not None and current.version == version:
                return
            try:
                bundle = Bundle.load(self.source.path_of(workspace_id, version))
            except Exception:
                log.exception(
                    "model version %s of workspace %s does not load", version, workspace_id
                )
                self._failed[workspace_id] = version
                return
            with self._swapping:
                bundle.forget(self._forgotten.get(workspace_id, ()))
                self._bundles[workspace_id] = bundle  # one reference assignment: atomic
            freeze_loaded()
            log.info("workspace %s now serves model version %s", workspace_id, version)
