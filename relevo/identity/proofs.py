"""Proofs that a visitor is who a public-key message says: pure functions, no I/O.

A message sent with a browser key may carry, in ``context.relevo``:

    userHash        hex HMAC-SHA256 of the userId, keyed with the workspace's identity secret
                    (as Intercom's ``user_hash``): the shop's backend prints it in the page of a
                    logged-in customer. It proves the userId.
    identityToken   a short-lived JWT (HS256, the identity secret) with ``sub`` = userId, an
                    optional ``email`` and ``exp`` at most 24 hours ahead. It proves both.
    linkToken       an e-mail-link token issued by ``POST /v1/identity-links``; equally the
                    ``rlv`` query parameter of the page URL. It proves the visitor is the
                    profile the e-mail was sent to.

Tokens carry no personal data in clear (an e-mail-link token names an internal profile id) and
grant identification only, never a read.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import jwt
from itsdangerous import BadSignature, URLSafeSerializer

MAX_IDENTITY_TOKEN_SECONDS = 24 * 3600
MAX_LINK_DAYS = 365
LINK_PARAMETER = "rlv"
_LINK_SALT = "relevo.email-link"
_JWT_LEEWAY_SECONDS = 30


def user_hash(identity_secret: str, user_id: str) -> str:
    return hmac.new(identity_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def user_hash_matches(identity_secret: str, user_id: str, given: object) -> bool:
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(user_hash(identity_secret, user_id), given.strip().lower())


@dataclass(frozen=True)
class ProvenIdentity:
    user_id: str | None = None
    email: str | None = None
    failure: str | None = None  # why the token proves nothing


def identity_token(
    identity_secret: str, user_id: str, email: str | None = None, ttl_seconds: int = 3600
) -> str:
    """What a shop's backend does (any JWT library will do): for tests, docs and the CLI."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": user_id, "iat": now, "exp": now + ttl_seconds}
    if email:
        claims["email"] = email
    return jwt.encode(claims, identity_secret, algorithm="HS256")


def verify_identity_token(identity_secret: str, token: object, now_s: float) -> ProvenIdentity:
    if not isinstance(token, str) or not token:
        return ProvenIdentity(failure="malformed_identity_token")
    try:
        claims = jwt.decode(
            token,
            identity_secret,
            algorithms=["HS256"],  # never "none", never an algorithm the token chooses
            options={"require": ["exp", "sub"], "verify_exp": False},
        )
    except jwt.InvalidSignatureError:
        return ProvenIdentity(failure="bad_identity_token_signature")
    except jwt.PyJWTError:
        return ProvenIdentity(failure="malformed_identity_token")
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or expires + _JWT_LEEWAY_SECONDS < now_s:
        return ProvenIdentity(failure="expired_identity_token")
    if expires > now_s + MAX_IDENTITY_TOKEN_SECONDS + _JWT_LEEWAY_SECONDS:
        return ProvenIdentity(failure="identity_token_lives_too_long")
    subject, email = claims.get("sub"), claims.get("email")
    return ProvenIdentity(
        user_id=subject if isinstance(subject, str) and subject else None,
        email=email if isinstance(email, str) and email else None,
    )


def _link_serializer(link_secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(link_secret, salt=_LINK_SALT)


def link_token(link_secret: str, profile_id: int, expires_at_s: int) -> str:
    return str(_link_serializer(link_secret).dumps({"p": profile_id, "x": expires_at_s}))


@dataclass(frozen=True)
class LinkProof:
    profile_id: int | None
    failure: str | None = None


def verify_link_token(link_secret: str, token: object, now_s: float) -> LinkProof:
    if not isinstance(token, str) or not token or len(token) > 512:
        return LinkProof(None, "malformed_link_token")
    try:
        payload = _link_serializer(link_secret).loads(token)
    except BadSignature:
        return LinkProof(None, "bad_link_token_signature")
    if not isinstance(payload, dict):
        return LinkProof(None, "malformed_link_token")
    profile, expires = payload.get("p"), payload.get("x")
    if not isinstance(profile, int) or not isinstance(expires, int):
        return LinkProof(None, "malformed_link_token")
    if expires < now_s:
        return LinkProof(None, "expired_link_token")
    return LinkProof(profile)


def token_fingerprint(token: str) -> str:
    """Names a token in stored events and claims without storing the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]
