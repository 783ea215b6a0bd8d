"""Key generation and hashing. Secret keys are stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class Workspace:
    id: int
    name: str
    write_key: str


@dataclass(frozen=True)
class NewWorkspace:
    workspace: Workspace
    secret_key: str  # shown once, never stored in clear


def new_write_key() -> str:
    return "wk_" + secrets.token_urlsafe(24)


def new_secret_key() -> str:
    return "sk_" + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
