"""Claimed identities: a link a public (browser) key asserts without proof.

A claim is stored with the message that made it and shown server-side, but never links the
visitor to another profile and is never read back through a public key.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Claim:
    kind: str  # an identity kind (user_id, email, ...) or "email_link" for a rejected link token
    value: str
    reason: str  # why it is only a claim: "unverified", "bad_signature", "expired", ...
