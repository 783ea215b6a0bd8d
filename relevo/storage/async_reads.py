"""PostgreSQL reads that an async route awaits, so that waiting for the database's answer never
holds the event loop (and every other request of the worker) the way a blocking driver call does.

One pool of psycopg's own async connections per app, opened and closed by its lifespan on the
loop that serves it. The connections are in autocommit: a read is one statement and one round
trip, without the BEGIN, ROLLBACK and pre-ping that the SQLAlchemy pool adds around a checkout.
Statements are prepared by the server after a few runs (psycopg's default), which the hot
reads repeat thousands of times a second. SQLite has nothing to wait for over a network: its
reads stay synchronous, and this module is not used there.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import make_url

log = logging.getLogger(__name__)

POOL_SIZE = 4  # per worker process: reads are short, the event loop issues them one by one
APPLICATION_NAME = "relevo-async-reads"  # how these connections show in pg_stat_activity


def conninfo(database_url: str) -> str:
    """The libpq URL of a SQLAlchemy ``postgresql+psycopg://`` URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class AsyncReads:
    def __init__(self, database_url: str, schema: str | None, size: int = POOL_SIZE) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        # The schema name was checked by Database (a plain identifier).
        options = {"options": f"-c search_path={schema}"} if schema else {}
        self._pool = AsyncConnectionPool(
            conninfo(database_url),
            min_size=1,
            max_size=size,
            kwargs={"autocommit": True, "application_name": APPLICATION_NAME, **options},
            open=False,
            # A database that does not answer fails the request (503) rather than holding it.
            timeout=5.0,
            name=APPLICATION_NAME,
        )

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._pool.open()

    def serves_this_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:  # no loop runs in this thread
            return False

    async def close(self) -> None:
        await self._pool.close()

    async def one(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row of ``sql`` (pyformat parameters), or None. A connection the server
        closed meanwhile (a restart) fails once and the read is retried on a fresh one."""
        rows = await self._read(sql, params, first=True)
        return rows[0] if rows else None

    async def all(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Every row of ``sql``, retried once as ``one``."""
        return await self._read(sql, params, first=False)

    async def _read(self, sql: str, params: dict[str, Any], first: bool) -> list[tuple[Any, ...]]:
        for attempt in (1, 2):
            try:
                async with self._pool.connection() as conn:
                    cursor = await conn.execute(sql, params)
                    if first:
                        row = await cursor.fetchone()
                        return [] if row is None else [tuple(row)]
                    return [tuple(r) for r in await cursor.fetchall()]
            except psycopg.OperationalError as error:
                if attempt == 2:
                    raise
                log.info("an async read's connection failed (%s); retrying once", error)
        raise AssertionError("unreachable")
