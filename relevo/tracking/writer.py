"""Group commit: one writer thread per process turns many concurrent requests into one
transaction, so the cost of a durable commit (an fsync) is shared by all of them. A request is
answered only after its transaction committed: acknowledged means durable.

When a group commit fails, what happens depends on why:

- the database is unavailable (connection lost or refused, disk full, locked, timed out): every
  request of the group gets ``StoreUnavailable`` (503 with Retry-After); nothing was stored, and
  a retry of the same request is safe;
- anything else (the database refused some data: too long, a constraint, an encoding): the group
  is retried one request at a time, and the request that fails alone one message at a time; the
  message the database refuses is quarantined with the database's own error as the reason, and
  the request is answered with it (``refused_by_store``) like any rejected message.

Every request's future is resolved, whatever fails.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, fields

from relevo.errors import Overloaded, StoreUnavailable
from relevo.tracking.jobs import EventSink, IngestJob, StoredBatch
from relevo.tracking.messages import RejectedMessage, TrackedMessage
from relevo.tracking.values import quarantine_text, replace_unstorable

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5  # when the database is unavailable

# SQLSTATE classes and codes of an unavailable PostgreSQL: connection exception, transaction
# rollback (deadlock, serialization failure), insufficient resources (disk full, out of memory,
# too many connections), operator intervention (shutdown, statement timeout), system error (I/O),
# lock not available, object in use.
_UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_UNAVAILABLE_SQLSTATES = frozenset({"55P03", "55006"})
# SQLite primary result codes of an unavailable database: BUSY, LOCKED, NOMEM, READONLY,
# INTERRUPT, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, NOTADB.
_UNAVAILABLE_SQLITE_CODES = frozenset({5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 26})
# DB-API (PEP 249) and SQLAlchemy classes that, without a code to say more, mean the database
# could not be reached or answered too late.
_UNAVAILABLE_CLASS_NAMES = frozenset(
    {"OperationalError", "InterfaceError", "DisconnectionError", "TimeoutError"}
)


def store_unavailable(error: BaseException) -> bool:
    """Does ``error`` mean the database is down, full or locked (retry later), rather than that
    it refused the data (isolate and quarantine it)?

    Read from the driver's own error (wrapped by SQLAlchemy as ``orig``): PostgreSQL's SQLSTATE,
    SQLite's result code; without either, the DB-API class. Duck-typed, so the domain imports no
    storage code.
    """
    if isinstance(error, StoreUnavailable | OSError | MemoryError):
        return True
    if getattr(error, "connection_invalidated", False):  # SQLAlchemy saw the connection drop
        return True
    orig = getattr(error, "orig", None) or error
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and len(sqlstate) == 5:
        return sqlstate[:2] in _UNAVAILABLE_SQLSTATE_CLASSES or sqlstate in _UNAVAILABLE_SQLSTATES
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _UNAVAILABLE_SQLITE_CODES
    names = {cls.__name__ for cls in type(error).__mro__} | {
        cls.__name__ for cls in type(orig).__mro__
    }
    return bool(names & _UNAVAILABLE_CLASS_NAMES)


# PostgreSQL's deadlock and serialization failure: the transaction lost a race with another
# one and succeeds when run again (the documented answer), so it is retried, not a 503.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
_RETRIES = 3


def lost_a_race(error: BaseException) -> bool:
    """Did the database abort the transaction only to break a deadlock or a serialization
    conflict with a concurrent one?"""
    orig = getattr(error, "orig", None) or error
    return getattr(orig, "sqlstate", None) in _RETRYABLE_SQLSTATES


def _database_says(error: BaseException) -> str:
    """The database's own message, without the statement and parameters SQLAlchemy adds."""
    orig = getattr(error, "orig", None) or error
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return str(replace_unstorable(text[:500]))


def _unavailable() -> StoreUnavailable:
    return StoreUnavailable(
        "the event store is unavailable (database down, full or locked); nothing was stored, "
        "retry later",
        retry_after=RETRY_AFTER_SECONDS,
    )


@dataclass(frozen=True)
class IsolatedBatch(StoredBatch):
    """The result of a request whose group commit failed and that was then stored message by
    message. ``refused``: (position in the job's messages, reason) of each message the database
    refused; it is in the quarantine, with the database's error as the reason."""

    refused: tuple[tuple[int, str], ...] = ()


def refused_by_store(result: StoredBatch) -> tuple[tuple[int, str], ...]:
    """The messages of a request the database refused after validation, as (position in the
    job's messages, reason): the answer reports them with the rejected ones."""
    return result.refused if isinstance(result, IsolatedBatch) else ()


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

    @staticmethod
    def _size(pending: _Pending) -> int:
        # Rejected messages are rows of the same transaction: they count as much as stored ones.
        return len(pending.job.messages) + len(pending.job.rejected)

    def _take_batch(self, first: _Pending) -> tuple[list[_Pending], bool]:
        batch, size = [first], self._size(first)
        while size < self.max_batch_messages:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
            size += self._size(item)
        return batch, False

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            try:
                # Take the batch once the write lock is ours: requests that arrive while another
                # process commits join this transaction instead of waiting for the next one.
                with self.store.exclusive():
                    batch, stopping = self._take_batch(first)
                    self._commit(batch)
            except Exception as error:  # the lock itself failed, or a bug here
                log.exception("ingest writer failed")
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(
                            _unavailable() if store_unavailable(error) else error
                        )

    def _commit(self, batch: Sequence[_Pending]) -> None:
        now_ms = int(time.time() * 1000)
        try:
            results = self._write_retrying([p.job for p in batch], now_ms)
        except Exception as error:
            if store_unavailable(error):
                log.warning("ingest commit failed, the database is unavailable: %s", error)
                for pending in batch:
                    pending.future.set_exception(_unavailable())
                return
            if len(batch) == 1:
                self._isolate(batch[0], error, now_ms)
                return
            # One bad request must not fail the others: retry each alone.
            for pending in batch:
                self._commit([pending])
            return
        for pending, result in zip(batch, results, strict=True):
            pending.future.set_result(result)

    def _write_retrying(self, jobs: list[IngestJob], now_ms: int) -> list[StoredBatch]:
        for attempt in range(_RETRIES):
            try:
                return self.store.write_many(jobs, now_ms)
            except Exception as error:
                if not lost_a_race(error) or attempt == _RETRIES - 1:
                    raise
                log.info("ingest transaction lost a race (%s); retrying", _database_says(error))
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    def _isolate(self, pending: _Pending, error: Exception, now_ms: int) -> None:
        """Store the request's messages one by one: the ones the database refuses go to the
        quarantine with its error as the reason; the request is answered with what happened."""
        log.warning("a request failed to commit (%s); storing its messages one by one", error)
        job = pending.job
        results: list[StoredBatch] = []
        refused: list[tuple[int, str]] = []
        try:
            for position, message in enumerate(job.messages):
                try:
                    results += self._write(job, [message], [], now_ms)
                except Exception as failure:
                    if store_unavailable(failure):
                        raise
                    reason = f"the database refused this message: {_database_says(failure)}"
                    as_rejected = RejectedMessage(
                        None,
                        reason,
                        message.payload,
                        message.message_id,
                        message.anonymous_id,
                        message.user_id,
                    )
                    results += self._quarantine(job, as_rejected, now_ms)
                    refused.append((position, reason))
            if job.rejected:
                try:
                    results += self._write(job, [], job.rejected, now_ms)
                except Exception as failure:
                    if store_unavailable(failure):
                        raise
                    for rejected in job.rejected:
                        results += self._quarantine(job, rejected, now_ms)
        except Exception as failure:
            log.exception("a request could not be stored, even message by message")
            pending.future.set_exception(_unavailable() if store_unavailable(failure) else failure)
            return
        total = StoredBatch(
            *(sum(getattr(r, f.name) for r in results) for f in fields(StoredBatch))
        )
        pending.future.set_result(IsolatedBatch(**vars(total), refused=tuple(refused)))

    def _write(
        self,
        job: IngestJob,
        messages: Sequence[TrackedMessage],
        rejected: Sequence[RejectedMessage],
        now_ms: int,
    ) -> list[StoredBatch]:
        return self._write_retrying(
            [IngestJob(job.workspace_id, messages, rejected, job.source)], now_ms
        )

    def _quarantine(
        self, job: IngestJob, rejected: RejectedMessage, now_ms: int
    ) -> list[StoredBatch]:
        """Quarantine one message; if the database refuses even that (an id its columns cannot
        hold), quarantine it as plain text without the id columns. Raises only if that fails."""
        try:
            return self._write(job, [], [rejected], now_ms)
        except Exception as failure:
            if store_unavailable(failure):
                raise
            plain = RejectedMessage(
                rejected.index,
                f"{rejected.reason}; stored as text, the database refused it as it was: "
                f"{_database_says(failure)}",
                quarantine_text(rejected.raw),
            )
            return self._write(job, [], [plain], now_ms)
