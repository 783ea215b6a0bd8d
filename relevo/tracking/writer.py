"""Group commit: one writer thread per process turns many concurrent requests into one
transaction, so the cost of a durable commit (an fsync) is shared by all of them. A request is
answered only after its transaction committed: acknowledged means durable.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from relevo.errors import Overloaded
from relevo.tracking.jobs import EventSink, IngestJob, StoredBatch

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    job: IngestJob
    future: Future[StoredBatch] = field(default_factory=Future)


class IngestWriter:
    def __init__(self, store: EventSink, max_batch_messages: int, max_pending: int) -> None:
        self.store = store
        self.max_batch_messages = max_batch_messages
        self.max_pending = max_pending
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="relevo-ingest", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def submit_nowait(self, job: IngestJob) -> Future[StoredBatch]:
        if self._queue.qsize() >= self.max_pending:
            raise Overloaded("ingest queue is full; retry with backoff", retry_after=1)
        pending = _Pending(job)
        self._queue.put(pending)
        return pending.future

    async def submit(self, job: IngestJob) -> StoredBatch:
        return await asyncio.wrap_future(self.submit_nowait(job))

    def _take_batch(self, first: _Pending) -> tuple[list[_Pending], bool]:
        batch, size = [first], len(first.job.messages)
        while size < self.max_batch_messages:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
            size += len(item.job.messages)
        return batch, False

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            # Take the batch once the write lock is ours: requests that arrive while another
            # process commits join this transaction instead of waiting for the next one.
            with self.store.exclusive():
                batch, stopping = self._take_batch(first)
                self._commit(batch)

    def _commit(self, batch: Sequence[_Pending]) -> None:
        now_ms = int(time.time() * 1000)
        try:
            results = self.store.write_many([p.job for p in batch], now_ms)
        except Exception:
            if len(batch) == 1:
                log.exception("ingest transaction failed")
                batch[0].future.set_exception(
                    Overloaded("the event store failed to commit; retry later", retry_after=1)
                )
                return
            # One bad request must not fail the others: retry each alone.
            for pending in batch:
                self._commit([pending])
            return
        for pending, result in zip(batch, results, strict=True):
            pending.future.set_result(result)
