"""Workspaces, their sources and keys (Segment's model).

    browser source   public write key, in every page: its links between identities are claims
    server source    write-only key kept on the shop's servers: trusted
    secret key       one per workspace, admin and reads: trusted

Write keys and the secret key are stored as SHA-256 hashes (a browser key also in clear: it is
public, and the shop needs to look it up to put it in its pages).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from enum import StrEnum


class KeyKind(StrEnum):
    BROWSER = "browser"
    SERVER = "server"
    SECRET = "secret"


SOURCE_KINDS = (KeyKind.BROWSER, KeyKind.SERVER)
_PREFIX = {KeyKind.BROWSER: "wk_", KeyKind.SERVER: "swk_", KeyKind.SECRET: "sk_"}


@dataclass(frozen=True)
class Workspace:
    id: int
    name: str


@dataclass(frozen=True)
class Source:
    id: int
    workspace_id: int
    name: str
    kind: KeyKind
    key_hint: str
    public_key: str | None = None  # browser sources only
    # Browser sources only: the origins of the pages that may use the key (relevo.workspaces.
    # origins); none until set.
    allowed_origins: tuple[str, ...] = ()


@dataclass(frozen=True)
class Principal:
    """Who is calling: a workspace and the kind of key that proved it."""

    workspace: Workspace
    kind: KeyKind
    source: Source | None = None

    @property
    def trusted(self) -> bool:
        """Links between identities made with this key merge profiles (server and secret)."""
        return self.kind is not KeyKind.BROWSER

    @property
    def key_id(self) -> str:
        """Names the key (for rate limits and logs) without revealing it."""
        if self.source is not None:
            return f"source:{self.source.id}"
        return f"secret:{self.workspace.id}"


@dataclass(frozen=True)
class TrustKeys:
    """A workspace's HMAC keys (see relevo.identity.proofs)."""

    identity_secret: str = field(repr=False)
    link_secret: str = field(repr=False)
    suppression_key: str = field(repr=False)


@dataclass(frozen=True)
class NewSource:
    source: Source
    key: str  # shown once; only its hash is stored (a browser key is public anyway)


@dataclass(frozen=True)
class NewWorkspace:
    workspace: Workspace
    write_key: str  # the browser source's key: public, for pages
    server_write_key: str  # the server source's key: for server-side SDKs and imports
    secret_key: str  # shown once, never stored in clear
    identity_secret: str  # for the shop's backend to sign user hashes and identity tokens


def new_key(kind: KeyKind) -> str:
    return _PREFIX[kind] + secrets.token_urlsafe(32 if kind is KeyKind.SECRET else 24)


def new_hmac_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_hint(key: str) -> str:
    return key[:12]
