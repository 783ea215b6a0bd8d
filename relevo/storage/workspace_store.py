"""Workspaces, sources and key lookups, with a short in-process cache for the hot paths.

Lookups are cached for half a second (hits and misses alike), so a key created, rotated or
revoked takes effect in every worker process within a second, while a busy worker still asks
the database about a key at most twice a second.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from relevo.errors import ConflictError, NotFound, RelevoError
from relevo.storage import schema as t
from relevo.storage.database import Database
from relevo.workspaces.keys import (
    SOURCE_KINDS,
    KeyKind,
    NewSource,
    NewWorkspace,
    Principal,
    Source,
    TrustKeys,
    Workspace,
    hash_secret,
    key_hint,
    new_hmac_secret,
    new_key,
)
from relevo.workspaces.origins import normalise_origins

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
CACHE_SECONDS = 0.5
_CACHE_LIMIT = 10_000
TRUST_KEY_COLUMNS = ("identity_secret", "link_secret")
T = TypeVar("T")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _origins(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


_SOURCE = t.sources.c
# The columns a Source is read from, in the order _source_from takes them.
_SOURCE_COLUMNS = (
    _SOURCE.id,
    _SOURCE.workspace_id,
    _SOURCE.name,
    _SOURCE.kind,
    _SOURCE.key_hint,
    _SOURCE.public_key,
    _SOURCE.allowed_origins,
)


def _source_from(row: Any) -> Source:
    return Source(row[0], row[1], row[2], KeyKind(row[3]), row[4], row[5], _origins(row[6]))


def _check_name(name: str, what: str) -> None:
    if not _NAME.match(name):
        raise RelevoError(
            f"{what} name must be 1-100 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )


class _Cache:
    """Bounded memo with a short time to live: bad keys sent in a loop must not grow memory."""

    def __init__(self) -> None:
        self._entries: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any, load: Callable[[], T]) -> T:
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]  # type: ignore[no-any-return]
        value = load()
        if len(self._entries) >= _CACHE_LIMIT:
            self._entries.clear()
        self._entries[key] = (now, value)
        return value

    def clear(self) -> None:
        self._entries.clear()


class WorkspaceStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._keys = _Cache()
        self._trust = _Cache()

    # -- workspaces -------------------------------------------------------------------------
    def create(self, name: str) -> NewWorkspace:
        _check_name(name, "workspace")
        secret, identity_secret = new_key(KeyKind.SECRET), new_hmac_secret()
        try:
            with self.db.write() as conn:
                workspace_id = conn.execute(
                    insert(t.workspaces)
                    .values(
                        name=name,
                        secret_key_hash=hash_secret(secret),
                        identity_secret=identity_secret,
                        link_secret=new_hmac_secret(),
                        suppression_key=new_hmac_secret(),
                        created_at=_now_ms(),
                    )
                    .returning(t.workspaces.c.id)
                ).scalar_one()
                browser = self._insert_source(conn, workspace_id, "browser", KeyKind.BROWSER)
                server = self._insert_source(conn, workspace_id, "server", KeyKind.SERVER)
        except IntegrityError as error:
            raise ConflictError(f"a workspace named {name!r} already exists") from error
        self._keys.clear()
        return NewWorkspace(
            Workspace(workspace_id, name), browser.key, server.key, secret, identity_secret
        )

    def rotate_secret(self, name: str) -> tuple[Workspace, str]:
        """A new secret key; the old one stops working (in every worker within a second)."""
        workspace = self.by_name(name)
        secret = new_key(KeyKind.SECRET)
        with self.db.write() as conn:
            conn.execute(
                update(t.workspaces)
                .where(t.workspaces.c.id == workspace.id)
                .values(secret_key_hash=hash_secret(secret))
            )
        self._keys.clear()
        return workspace, secret

    def rekey(self, name: str) -> NewWorkspace:
        """New keys for the standard sources and the secret key (the demo's re-runs)."""
        workspace, secret = self.rotate_secret(name)
        keys = {}
        existing = {source.name for source in self.sources(name)}
        for source_name, kind in (("browser", KeyKind.BROWSER), ("server", KeyKind.SERVER)):
            keys[kind] = (
                self.rotate_source(name, source_name)
                if source_name in existing
                else self.create_source(name, source_name, kind)
            ).key
        return NewWorkspace(
            workspace,
            keys[KeyKind.BROWSER],
            keys[KeyKind.SERVER],
            secret,
            self.identity_secret(name),
        )

    def rotate_trust_key(self, name: str, column: str) -> str:
        """A new identity secret (user hashes and identity tokens signed with the old one are
        claims from now on) or link secret (every e-mail-link token issued so far is revoked)."""
        if column not in TRUST_KEY_COLUMNS:
            raise ValueError(f"not a rotatable key: {column}")
        workspace = self.by_name(name)
        value = new_hmac_secret()
        with self.db.write() as conn:
            conn.execute(
                update(t.workspaces)
                .where(t.workspaces.c.id == workspace.id)
                .values({column: value})
            )
        self._trust.clear()
        return value

    def identity_secret(self, name: str) -> str:
        return self.trust_keys(self.by_name(name).id).identity_secret

    def by_name(self, name: str) -> Workspace:
        c = t.workspaces.c
        with self.db.read() as conn:
            row = conn.execute(select(c.id, c.name).where(c.name == name)).first()
        if row is None:
            raise NotFound(f"no workspace named {name!r}; create it with `relevo workspace create`")
        return Workspace(row.id, row.name)

    def all(self) -> list[Workspace]:
        c = t.workspaces.c
        with self.db.read() as conn:
            return [Workspace(*r) for r in conn.execute(select(c.id, c.name).order_by(c.id))]

    def trust_keys(self, workspace_id: int) -> TrustKeys:
        def load() -> TrustKeys:
            c = t.workspaces.c
            with self.db.read() as conn:
                row = conn.execute(
                    select(c.identity_secret, c.link_secret, c.suppression_key).where(
                        c.id == workspace_id
                    )
                ).one()
            return TrustKeys(*row)

        return self._trust.get(workspace_id, load)

    # -- sources ------------------------------------------------------------------------------
    def _insert_source(
        self,
        conn: Connection,
        workspace_id: int,
        name: str,
        kind: KeyKind,
        origins: tuple[str, ...] = (),
    ) -> NewSource:
        key = new_key(kind)
        public = key if kind is KeyKind.BROWSER else None
        source_id = conn.execute(
            insert(t.sources)
            .values(
                workspace_id=workspace_id,
                name=name,
                kind=kind.value,
                key_hash=hash_secret(key),
                key_hint=key_hint(key),
                public_key=public,
                allowed_origins=list(origins) if kind is KeyKind.BROWSER else None,
                created_at=_now_ms(),
            )
            .returning(t.sources.c.id)
        ).scalar_one()
        source = Source(source_id, workspace_id, name, kind, key_hint(key), public, origins)
        return NewSource(source, key)

    def create_source(
        self, workspace_name: str, name: str, kind: KeyKind, origins: tuple[str, ...] = ()
    ) -> NewSource:
        if kind not in SOURCE_KINDS:
            raise RelevoError(f"a source is 'browser' or 'server', not {kind!r}")
        _check_name(name, "source")
        if origins and kind is not KeyKind.BROWSER:
            raise RelevoError("only a browser source has allowed origins")
        allowed = normalise_origins(origins)
        workspace = self.by_name(workspace_name)
        try:
            with self.db.write() as conn:
                created = self._insert_source(conn, workspace.id, name, kind, allowed)
        except IntegrityError as error:
            raise ConflictError(
                f"workspace {workspace_name!r} already has a source named {name!r}"
            ) from error
        self._keys.clear()
        return created

    def sources(self, workspace_name: str) -> list[Source]:
        workspace = self.by_name(workspace_name)
        c = t.sources.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(*_SOURCE_COLUMNS).where(c.workspace_id == workspace.id).order_by(c.id)
            )
            return [_source_from(r) for r in rows]

    def _source(self, workspace_name: str, name: str) -> Source:
        found = [s for s in self.sources(workspace_name) if s.name == name]
        if not found:
            raise NotFound(f"workspace {workspace_name!r} has no source named {name!r}")
        return found[0]

    def set_origins(self, workspace_name: str, name: str, origins: tuple[str, ...]) -> Source:
        """Replace a browser source's allowed origins (every worker follows within a second)."""
        source = self._source(workspace_name, name)
        if source.kind is not KeyKind.BROWSER:
            raise RelevoError(
                f"source {name!r} is a server source: only browser sources have origins"
            )
        allowed = normalise_origins(origins)
        with self.db.write() as conn:
            conn.execute(
                update(t.sources)
                .where(t.sources.c.id == source.id)
                .values(allowed_origins=list(allowed))
            )
        self._keys.clear()
        return dataclasses.replace(source, allowed_origins=allowed)

    def rotate_source(self, workspace_name: str, name: str) -> NewSource:
        """A new key for the source; the old one stops working within a second everywhere."""
        source = self._source(workspace_name, name)
        key = new_key(source.kind)
        public = key if source.kind is KeyKind.BROWSER else None
        with self.db.write() as conn:
            conn.execute(
                update(t.sources)
                .where(t.sources.c.id == source.id)
                .values(
                    key_hash=hash_secret(key),
                    key_hint=key_hint(key),
                    public_key=public,
                    rotated_at=_now_ms(),
                )
            )
        self._keys.clear()
        rotated = dataclasses.replace(source, key_hint=key_hint(key), public_key=public)
        return NewSource(rotated, key)

    # -- authentication ---------------------------------------------------------------------
    def by_write_key(self, key: str) -> Principal | None:
        """The source a write key belongs to (browser or server), or None."""
        hashed = hash_secret(key)

        def load() -> Principal | None:
            s, w = t.sources.c, t.workspaces.c
            with self.db.read() as conn:
                row = conn.execute(
                    select(*_SOURCE_COLUMNS, w.name)
                    .join(t.workspaces, w.id == s.workspace_id)
                    .where(s.key_hash == hashed)
                ).first()
            if row is None:
                return None
            source = _source_from(row)
            return Principal(Workspace(row[1], row[7]), source.kind, source)

        return self._keys.get(("write", hashed), load)

    def browser_origins(self) -> frozenset[str]:
        """Every origin some browser source allows: what a CORS preflight, which carries no
        key, can be answered from (the request that follows is checked against its own
        source). Cached like the keys."""

        def load() -> frozenset[str]:
            s = t.sources.c
            with self.db.read() as conn:
                rows = conn.execute(
                    select(s.allowed_origins).where(s.kind == KeyKind.BROWSER.value)
                ).scalars()
                return frozenset(origin for value in rows for origin in _origins(value))

        return self._keys.get(("origins",), load)

    def by_secret(self, secret: str) -> Principal | None:
        hashed = hash_secret(secret)

        def load() -> Principal | None:
            c = t.workspaces.c
            with self.db.read() as conn:
                row = conn.execute(select(c.id, c.name).where(c.secret_key_hash == hashed)).first()
            return None if row is None else Principal(Workspace(*row), KeyKind.SECRET)

        return self._keys.get(("secret", hashed), load)
