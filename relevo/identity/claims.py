"""Claimed identities: a link a public (browser) key asserts without proof.

A claim is stored with the message that made it and shown server-side, but never links the
visitor to another profile and is never read back through a public key.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Claim:
    # An identity kind (user_id, email, ...), "email_link" for a rejected link token, or "group"
    # for an account a browser key said the visitor belongs to.
    kind: str
    value: str
    reason: str  # why it is only a claim: "unverified", "bad_signature", "expired", ...
