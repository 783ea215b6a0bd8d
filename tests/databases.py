"""Test databases on both backends, shared by the tests and bench/: settings for a fresh SQLite
file or PostgreSQL schema, dropping it, and waiting for the profile materializer."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from sqlalchemy import create_engine, func, select, text

from relevo.settings import Settings
from relevo.storage import schema as t

PG_URL = os.environ.get("RELEVO_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def make_settings(backend: str, tmp_dir: str, **overrides: Any) -> Settings:
    if backend == "sqlite":
        return Settings(database_url=f"sqlite:///{tmp_dir}/relevo.db", **overrides)
    schema = f"relevo_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    return Settings(database_url=PG_URL, database_schema=schema, **overrides)


def drop_schema(settings: Settings) -> None:
    if settings.database_schema:
        engine = create_engine(settings.database_url)
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{settings.database_schema}" CASCADE'))
        engine.dispose()


def engine_for(settings: Settings) -> Any:
    schema = settings.database_schema
    return create_engine(
        settings.database_url,
        connect_args={"options": f"-c search_path={schema}"} if schema else {},
    )


def wait_for_profiles(engine: Any, timeout: float = 15.0, poll: float = 0.02) -> None:
    """Until the materializer's checkpoint has reached the newest stored event."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            latest = conn.execute(select(func.max(t.events.c.seq))).scalar() or 0
            done = conn.execute(select(t.checkpoints.c.position)).scalar() or 0
        if done >= latest:
            return
        time.sleep(poll)
    raise AssertionError("profiles did not catch up")
