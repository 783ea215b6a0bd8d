"""Exposure counters written off the answer's path, in group commits: a decision hands its
exposures to one thread and answers at once; the thread writes whatever has queued meanwhile in
one transaction (one commit for many decisions, as the event writer does for events).

A decision for a visitor whose counters are still being written waits for them first
(``pending``), so the same process never decides on counts it has not written yet; another
process may, for the few milliseconds a write takes (a cap is then one exposure late).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from relevo.decide.exposures import Exposure, ExposureSource

log = logging.getLogger(__name__)

MAX_BATCH = 500
MAX_QUEUED = 10_000


@dataclass
class _Queued:
    exposure: Exposure
    future: Future[None] = field(default_factory=Future)


class ExposureRecorder:
    def __init__(self, store: ExposureSource) -> None:
        self.store = store
        self._queue: queue.Queue[_Queued | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # (workspace, visitor key) -> the latest write of its counters not yet committed
        self._pending: dict[tuple[int, str], Future[None]] = {}

    def record(self, exposure: Exposure) -> Future[None]:
        """Queued; the future is resolved once committed (an exception: not written)."""
        queued = _Queued(exposure)
        if self._queue.qsize() >= MAX_QUEUED:
            queued.future.set_exception(RuntimeError("too many exposures waiting to be written"))
            return queued.future
        key = (exposure.workspace_id, exposure.visitor)
        with self._lock:
            self._start()
            self._pending[key] = queued.future
        queued.future.add_done_callback(lambda done: self._written(key, done))
        self._queue.put(queued)
        return queued.future

    async def written(self, workspace_id: int, visitors: Sequence[str]) -> None:
        """Wait until this process's writes of these visitors' counters are committed."""
        with self._lock:
            found = [self._pending.get((workspace_id, v)) for v in visitors]
        waiting = [asyncio.wrap_future(f) for f in found if f is not None and not f.done()]
        if waiting:
            await asyncio.gather(*waiting, return_exceptions=True)

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="relevo-exposures", daemon=True)
            self._thread.start()

    def _written(self, key: tuple[int, str], done: Future[None]) -> None:
        with self._lock:
            if self._pending.get(key) is done:
                del self._pending[key]

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stopping = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            try:
                self.store.record_many([q.exposure for q in batch])
            except Exception as error:
                log.warning("%s exposures not counted: %s", len(batch), error)
                for queued in batch:
                    queued.future.set_exception(error)
            else:
                for queued in batch:
                    queued.future.set_result(None)
            if stopping:
                return
