"""Engines and transactions for the two supported databases.

SQLite: WAL journal, one writer at a time; write transactions start with ``BEGIN IMMEDIATE`` so a
writer never fails half-way on a lock upgrade. PostgreSQL: one engine; work that must be
serialised (identity resolution at ingest) takes a transaction-scoped advisory lock.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.pool import NullPool

from relevo.settings import Settings

if TYPE_CHECKING:
    from relevo.storage.async_reads import AsyncReads

log = logging.getLogger(__name__)

INGEST_LOCK = 1  # advisory lock that serialises identity resolution
MATERIALIZER_LOCK = 2  # advisory lock held by the one profile materializer
# SQLite: a commit that leaves the WAL at this many pages (80 MB) checkpoints it. The process
# that runs the materializer checkpoints in a thread of its own (Database.checkpoint_wal),
# mostly outside the write lock; this is for when none runs.
WAL_AUTOCHECKPOINT_PAGES = 20_000
# At most one checkpoint per second: a page that every commit changes (an index leaf, the last
# page of the events) is copied into the database file once per checkpoint, whatever the
# number of times the WAL holds it. Checkpointing after every materializer step copied the
# same pages over and over (10 of the 20 s of a load; 3-4 s once a second).
CHECKPOINT_SECONDS = 1.0
# SQLite's page cache per connection (its default is 2 MB): a transaction of ingest touches a few
# thousand pages of the events indexes; with 2 MB it read many of them from the file twice.
CACHE_KIB = -16_384
DERIVED_CACHE_KIB = -65_536  # the materializer's transaction: 64 MB


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _json_loads(value: Any) -> Any:
    # SQLite's JSON columns have NUMERIC affinity: a scalar like '30' comes back as a number.
    return orjson.loads(value) if isinstance(value, str | bytes) else value


class Database:
    """The connection pools of one Relevo database, for SQLite or PostgreSQL."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.database_url
        self.is_sqlite = settings.is_sqlite
        self.schema = settings.database_schema
        self._async_reads: AsyncReads | None = None  # see async_reads_open
        common: dict[str, Any] = {
            "json_serializer": _json_dumps,
            "json_deserializer": _json_loads,
        }
        if self.is_sqlite:
            path = self.url.split("///", 1)[-1]
            lock_path = os.devnull if ":memory:" in path or not path else f"{path}.write.lock"
            self._lock_file = open(lock_path, "ab")  # noqa: SIM115 - lives as long as the pools
            self._thread_lock = threading.Lock()
            self._holder = threading.local()  # does this thread hold the write lock?
            self._checkpoint_wanted = threading.Event()
            self._closing = threading.Event()
            self._checkpointer: threading.Thread | None = None
            self._checkpointer_guard = threading.Lock()
            self._synchronous = settings.sqlite_synchronous.upper()
            self.write_engine = self._sqlite_engine(settings, immediate=True, **common)
            self.read_engine = self._sqlite_engine(settings, immediate=False, **common)
        else:
            # Server-side prepared statements get generic plans that ignore the IN-list values.
            connect_args: dict[str, Any] = {"prepare_threshold": None}
            if self.schema:
                if not re.fullmatch(r"[a-z_][a-z0-9_]*", self.schema):
                    raise ValueError(f"invalid schema name {self.schema!r}")
                connect_args["options"] = f"-c search_path={self.schema}"
            self.write_engine = create_engine(
                self.url,
                connect_args=connect_args,
                pool_size=8,
                max_overflow=8,
                pool_pre_ping=True,
                **common,
            )
            self.read_engine = self.write_engine

    @staticmethod
    def _sqlite_engine(settings: Settings, *, immediate: bool, **kwargs: Any) -> Engine:
        engine = create_engine(
            settings.database_url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=NullPool if ":memory:" in settings.database_url else None,
            **kwargs,
        )
        synchronous = settings.sqlite_synchronous.upper()
        if synchronous not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(
                f"RELEVO_SQLITE_SYNCHRONOUS must be NORMAL, FULL or EXTRA, not {synchronous}"
            )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control away from the sqlite3 module; we emit BEGIN ourselves.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute(f"PRAGMA cache_size={CACHE_KIB}")
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    @contextmanager
    def write(self, derived: bool = False) -> Iterator[Connection]:
        """A write transaction, committed when the block ends without an exception.

        ``derived``: the transaction only writes what can be recomputed from the event log
        (computed profiles with their checkpoint). On SQLite its commit skips the fsync: the
        next durable commit's fsync of the WAL covers it, and if power fails first, profiles
        and checkpoint roll back together and are recomputed.
        """
        if not self.is_sqlite:
            with self.write_engine.begin() as conn:
                yield conn
            return
        with self.write_lock(), self.write_engine.connect() as conn:
            relaxed = derived and self._synchronous in {"FULL", "EXTRA"}
            if relaxed:
                self._set_synchronous(conn, "NORMAL")
            if derived:
                # Its commit does not checkpoint under the lock (see checkpoint_wal), and its
                # thousands of profile rows fit in the page cache (not spilled to the WAL and
                # read back while it holds the lock).
                self._pragma(conn, "wal_autocheckpoint=0")
                self._pragma(conn, f"cache_size={DERIVED_CACHE_KIB}")
            try:
                with conn.begin():
                    yield conn
            finally:
                if relaxed:
                    self._set_synchronous(conn, self._synchronous)
                if derived:
                    self._pragma(conn, f"wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
                    self._pragma(conn, f"cache_size={CACHE_KIB}")
        if derived:
            self._checkpoint_soon()

    def checkpoint_wal(self) -> None:
        """Copy the WAL into the database file, mostly outside the write lock (SQLite only).

        SQLite's own checkpoint runs in the commit that takes the WAL past 1,000 pages, under
        the write lock every writer queues for: each materializer step (thousands of profile
        pages) and every few ingest commits copied pages into the database file and fsynced it
        there. Here the bulk of it runs beside the writers, then the pages they added meanwhile
        are copied under the lock, so that the next writer starts the WAL from its beginning
        again (a WAL never checkpointed to its end never restarts, and grows). The
        materializer's transactions have it run in a thread of their process
        (``_checkpoint_soon``); a commit past ``WAL_AUTOCHECKPOINT_PAGES`` checkpoints itself
        when none runs.
        """
        if not self.is_sqlite:
            return
        with self.write_engine.connect() as conn:
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None
            # Each pass copies what the WAL held when it began; the next one, what the writers
            # added meanwhile: a few passes leave little for the one under the lock.
            previous = 0
            for _ in range(4):
                frames = dbapi.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
                if frames - previous <= 1000:
                    break
                previous = frames
            with self.write_lock():
                dbapi.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    def _checkpoint_soon(self) -> None:
        """Have this process's checkpoint thread run ``checkpoint_wal`` (once a second at most):
        the materializer folds its next step meanwhile instead of waiting for the copy."""
        with self._checkpointer_guard:
            if self._checkpointer is None and not self._closing.is_set():
                self._checkpointer = threading.Thread(
                    target=self._checkpoint_loop, name="relevo-wal-checkpoint", daemon=True
                )
                self._checkpointer.start()
        self._checkpoint_wanted.set()

    def _checkpoint_loop(self) -> None:
        started = -CHECKPOINT_SECONDS
        while True:
            self._checkpoint_wanted.wait()
            self._closing.wait(started + CHECKPOINT_SECONDS - time.monotonic())
            if self._closing.is_set():
                return
            self._checkpoint_wanted.clear()
            started = time.monotonic()
            try:
                self.checkpoint_wal()
            except Exception:
                log.exception("WAL checkpoint failed; retried after the next materializer step")

    @staticmethod
    def _pragma(conn: Connection, pragma: str) -> None:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        dbapi.execute(f"PRAGMA {pragma}")

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """Hold SQLite's write lock across this thread's ``write()`` blocks (PostgreSQL: no-op).

        SQLite's busy handler sleeps with back-off (up to 100 ms) while another process writes;
        queueing on a file lock instead wakes the next writer the moment it is free.
        """
        if not self.is_sqlite or getattr(self._holder, "held", False):
            yield
            return
        with self._thread_lock:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX)
            self._holder.held = True
            try:
                yield
            finally:
                self._holder.held = False
                fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)

    @staticmethod
    def _set_synchronous(conn: Connection, level: str) -> None:
        # On the driver connection, outside any transaction: SQLAlchemy's autobegin would
        # otherwise open one (and SQLite ignores the pragma inside a transaction).
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        dbapi.execute(f"PRAGMA synchronous={level}")

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.read_engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def async_reads_open(self) -> AsyncIterator[None]:
        """PostgreSQL: a pool of async connections for the reads that async routes await
        (relevo.storage.async_reads), open while the block runs on this event loop; SQLite and
        a pool already opened by another block: nothing to do."""
        if self.is_sqlite or self._async_reads is not None:
            yield
            return
        from relevo.storage.async_reads import AsyncReads

        reads = AsyncReads(self.url, self.schema)
        await reads.open()
        self._async_reads = reads
        try:
            yield
        finally:
            self._async_reads = None
            await reads.close()

    @property
    def async_reads(self) -> AsyncReads | None:
        """The open async pool, if it serves the running event loop (its connections belong
        to the loop that opened it); None elsewhere: the caller reads synchronously."""
        reads = self._async_reads
        return reads if reads is not None and reads.serves_this_loop() else None

    def lock_ingest(self, conn: Connection) -> None:
        """Serialise identity resolution (SQLite's BEGIN IMMEDIATE already does)."""
        if not self.is_sqlite:
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:k, :scope)"),
                {"k": INGEST_LOCK, "scope": self.lock_scope},
            )

    @property
    def lock_scope(self) -> int:
        """Second key of Relevo's advisory locks: they are per database, not per schema, so two
        Relevo installations in two schemas of one database must not share them."""
        digest = zlib.crc32((self.schema or "public").encode())
        return digest - 2**32 if digest >= 2**31 else digest  # a signed int4

    def dispose(self) -> None:
        if self.is_sqlite:
            with self._checkpointer_guard:
                self._closing.set()
                self._checkpoint_wanted.set()
            if self._checkpointer is not None:
                self._checkpointer.join(timeout=60)
            self._lock_file.close()
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()
