"""Signed decision tokens: what ties a later impression, click, submit or conversion to the
decision that showed it. Pure: no I/O.

A token is an itsdangerous ``URLSafeSerializer`` signature (HMAC-SHA1 over a key derived with
HMAC-SHA256 from the workspace's ``link_secret``, the secret Relevo alone holds and already signs
e-mail-link tokens with; the ``identity_secret`` is shared with the shop's backend, which could
then forge decisions). It binds the workspace, the decision, the placement, the experience and
variant, the visitor (a keyed hash of the identity the decision was made for: no personal data
in clear) and the time it was issued; it lives ``TOKEN_SECONDS`` (24 h).

    verify(...) -> Verified(claims) | Refused(reason)   reasons: forged_token, expired_token,
                                                          other_visitor (replayed_token is the
                                                          event store's: relevo.decide.feedback)
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

from relevo.identity.identities import Identity

TOKEN_SECONDS = 24 * 3600
MAX_TOKEN_CHARS = 2048
_SALT = "relevo.decision"
_DERIVE = b"relevo decision tokens v1"
_CLOCK_LEEWAY_SECONDS = 60

FORGED = "forged_token"
EXPIRED = "expired_token"
OTHER_VISITOR = "other_visitor"
REPLAYED = "replayed_token"


def token_key(link_secret: str) -> bytes:
    return hmac.new(link_secret.encode(), _DERIVE, hashlib.sha256).digest()


def visitor_hash(key: bytes, identity: Identity) -> str:
    """Names the visitor inside a token without revealing who they are."""
    message = f"{identity[0]}:{identity[1]}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:24]


@dataclass(frozen=True)
class DecisionClaims:
    workspace_id: int
    decision_id: str
    placement: str
    experience_id: str | None
    variant_id: str | None
    visitor: str  # visitor_hash of the decision's identity
    issued_at_s: int


@dataclass(frozen=True)
class Refused:
    reason: str
    claims: DecisionClaims | None = None  # a genuine token's, when it is only too old or not theirs


def _serializer(key: bytes) -> URLSafeSerializer:
    return URLSafeSerializer(key, salt=_SALT)


def sign(key: bytes, claims: DecisionClaims) -> str:
    payload = [
        claims.workspace_id,
        claims.decision_id,
        claims.placement,
        claims.experience_id,
        claims.variant_id,
        claims.visitor,
        claims.issued_at_s,
    ]
    return str(_serializer(key).dumps(payload))


def _claims(payload: object) -> DecisionClaims | None:
    if not isinstance(payload, list) or len(payload) != 7:
        return None
    workspace, decision, placement, experience, variant, visitor, issued = payload
    if not (
        isinstance(workspace, int)
        and isinstance(decision, str)
        and isinstance(placement, str)
        and isinstance(experience, str | None)
        and isinstance(variant, str | None)
        and isinstance(visitor, str)
        and isinstance(issued, int)
        and not isinstance(issued, bool)
    ):
        return None
    return DecisionClaims(workspace, decision, placement, experience, variant, visitor, issued)


def verify(
    key: bytes, workspace_id: int, token: object, visitor: str, now_s: float
) -> DecisionClaims | Refused:
    """The token's claims if this workspace signed it for this visitor less than 24 h ago."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        return Refused(FORGED)
    try:
        payload = _serializer(key).loads(token)
    except BadSignature:
        return Refused(FORGED)  # another workspace's key, or altered
    claims = _claims(payload)
    if claims is None or claims.workspace_id != workspace_id:
        return Refused(FORGED)
    if claims.issued_at_s > now_s + _CLOCK_LEEWAY_SECONDS:
        return Refused(FORGED)
    if now_s - claims.issued_at_s > TOKEN_SECONDS:
        return Refused(EXPIRED, claims)
    if not hmac.compare_digest(claims.visitor, visitor):
        return Refused(OTHER_VISITOR, claims)
    return claims


def fingerprint(token: str) -> str:
    """Names a token in stored events (their messageId) without storing it."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]
