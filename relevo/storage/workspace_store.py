"""Workspaces and key lookups, with a short in-process cache for the ingest hot path."""

from __future__ import annotations

import re
import time

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from relevo.errors import ConflictError, NotFound, RelevoError
from relevo.storage import schema as t
from relevo.storage.database import Database
from relevo.workspaces.keys import (
    NewWorkspace,
    Workspace,
    hash_secret,
    new_secret_key,
    new_write_key,
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_CACHE_SECONDS = 30.0


class WorkspaceStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._by_write_key: dict[str, tuple[float, Workspace | None]] = {}
        self._by_secret: dict[str, tuple[float, Workspace | None]] = {}

    def create(self, name: str) -> NewWorkspace:
        if not _NAME.match(name):
            raise RelevoError(
                "workspace name must be 1-100 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit"
            )
        write_key, secret = new_write_key(), new_secret_key()
        try:
            with self.db.write() as conn:
                workspace_id = conn.execute(
                    insert(t.workspaces)
                    .values(
                        name=name,
                        write_key=write_key,
                        secret_key_hash=hash_secret(secret),
                        created_at=int(time.time() * 1000),
                    )
                    .returning(t.workspaces.c.id)
                ).scalar_one()
        except IntegrityError as error:
            raise ConflictError(f"a workspace named {name!r} already exists") from error
        return NewWorkspace(Workspace(workspace_id, name, write_key), secret)

    def rotate_secret(self, name: str) -> NewWorkspace:
        workspace = self.by_name(name)
        secret = new_secret_key()
        with self.db.write() as conn:
            conn.execute(
                update(t.workspaces)
                .where(t.workspaces.c.id == workspace.id)
                .values(secret_key_hash=hash_secret(secret))
            )
        self._by_secret.clear()
        return NewWorkspace(workspace, secret)

    def by_name(self, name: str) -> Workspace:
        found = self._one(t.workspaces.c.name == name)
        if found is None:
            raise NotFound(f"no workspace named {name!r}; create it with `relevo workspace create`")
        return found

    def list(self) -> list[Workspace]:
        c = t.workspaces.c
        with self.db.read() as conn:
            rows = conn.execute(select(c.id, c.name, c.write_key).order_by(c.id))
            return [Workspace(*r) for r in rows]

    def by_write_key(self, write_key: str) -> Workspace | None:
        return self._cached(self._by_write_key, write_key, t.workspaces.c.write_key == write_key)

    def by_secret(self, secret: str) -> Workspace | None:
        hashed = hash_secret(secret)
        return self._cached(self._by_secret, hashed, t.workspaces.c.secret_key_hash == hashed)

    def _cached(
        self, cache: dict[str, tuple[float, Workspace | None]], key: str, condition: object
    ) -> Workspace | None:
        now = time.monotonic()
        hit = cache.get(key)
        # Unknown keys are re-checked soon: a workspace created a moment ago must work at once.
        if hit is not None and now - hit[0] < (_CACHE_SECONDS if hit[1] else 1.0):
            return hit[1]
        found = self._one(condition)
        if len(cache) > 10_000:
            cache.clear()  # bounded: bad keys sent in a loop must not grow memory
        cache[key] = (now, found)
        return found

    def _one(self, condition: object) -> Workspace | None:
        c = t.workspaces.c
        with self.db.read() as conn:
            row = conn.execute(select(c.id, c.name, c.write_key).where(condition)).first()  # type: ignore[arg-type]
        return Workspace(*row) if row else None
