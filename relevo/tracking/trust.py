"""What a source may assert: a pure step between validation and storage.

Messages from a server source, the secret key or an import are trusted as sent. A browser key
is public, so of the identities its message names only the visitor's own ``anonymousId`` and
the ones it proves (relevo.identity.proofs) take part in identity resolution; every other one
(a userId, ``context.traits.email``, ``context.externalIds``, an alias's ``previousId``) is a
claim: stored with the message and visible server-side, never a link between profiles. A group
call through a browser key is a claim too (kind ``group``): it never makes the visitor a member
of the account.

Proof fields are credentials, not data about the person: they are removed from the stored
message (the ``rlv`` link parameter from its URLs too). A valid e-mail-link token also records
an ``Email Link Clicked`` event.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from relevo.encoded import EncodedJson
from relevo.identity.claims import Claim
from relevo.identity.identities import ANONYMOUS_ID, EMAIL, USER_ID, Identity, normalise_email
from relevo.identity.proofs import (
    LINK_PARAMETER,
    token_fingerprint,
    user_hash_matches,
    verify_identity_token,
    verify_link_token,
)
from relevo.tracking.messages import TrackedMessage
from relevo.workspaces.keys import TrustKeys

EMAIL_LINK_CLICKED = "Email Link Clicked"
GROUP = "group"  # the claim kind of a browser key's group call
PROOF_FIELDS = ("userHash", "identityToken", "linkToken")


@dataclass(frozen=True)
class TrustPolicy:
    trusted: bool
    keys: TrustKeys | None
    now_s: float


@dataclass(frozen=True)
class Untrusted:
    """A public-key message left with no identity of its own to store it under."""

    reason: str


def _without_link_parameter(url: Any) -> tuple[Any, str | None]:
    if not isinstance(url, str) or f"{LINK_PARAMETER}=" not in url:
        return url, None
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, None
    query = parse_qsl(parts.query, keep_blank_values=True)
    token = next((v for k, v in query if k == LINK_PARAMETER), None)
    if token is None:
        return url, None
    kept = urlencode([(k, v) for k, v in query if k != LINK_PARAMETER])
    return urlunsplit(parts._replace(query=kept)), token


def _take_proofs(payload: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The payload without proof fields (None when it had none) and the proofs found."""
    proofs: dict[str, Any] = {}
    context = payload.get("context")
    relevo = context.get("relevo") if isinstance(context, dict) else None
    page = context.get("page") if isinstance(context, dict) else None
    properties = payload.get("properties")
    page_url, page_token = _without_link_parameter(
        page.get("url") if isinstance(page, dict) else None
    )
    property_url, property_token = _without_link_parameter(
        properties.get("url") if isinstance(properties, dict) else None
    )
    if not isinstance(relevo, dict) and page_token is None and property_token is None:
        return None, proofs
    payload = dict(payload)
    if isinstance(context, dict):
        context = dict(context)
        payload["context"] = context
        if isinstance(relevo, dict):
            proofs.update((k, relevo[k]) for k in PROOF_FIELDS if k in relevo)
            rest = {k: v for k, v in relevo.items() if k not in PROOF_FIELDS}
            if rest:
                context["relevo"] = rest
            else:
                del context["relevo"]
        if page_token is not None:
            context["page"] = {**page, "url": page_url}  # type: ignore[dict-item]
    if property_token is not None:
        payload["properties"] = {**properties, "url": property_url}  # type: ignore[dict-item]
    link = proofs.get("linkToken") or page_token or property_token
    if link is not None:
        proofs["linkToken"] = link
    return payload, proofs


def _proven(
    message: TrackedMessage, proofs: dict[str, Any], policy: TrustPolicy
) -> tuple[set[Identity], str]:
    """Identities the proofs establish, and the reason the rest stay claims."""
    keys = policy.keys
    if keys is None or not ("userHash" in proofs or "identityToken" in proofs):
        return set(), "unverified"
    proven: set[Identity] = set()
    failure = "unverified"
    if "userHash" in proofs:
        if message.user_id and user_hash_matches(
            keys.identity_secret, message.user_id, proofs["userHash"]
        ):
            proven.add((USER_ID, message.user_id))
        else:
            failure = "bad_user_hash"
    if "identityToken" in proofs:
        result = verify_identity_token(keys.identity_secret, proofs["identityToken"], policy.now_s)
        if result.failure is not None:
            failure = result.failure
        if result.user_id:
            proven.add((USER_ID, result.user_id))
        email = normalise_email(result.email)
        if email:
            proven.add((EMAIL, email))
    return proven, failure


def _link_event(message: TrackedMessage, payload: dict[str, Any], token: str) -> TrackedMessage:
    properties: dict[str, Any] = {"link_id": token_fingerprint(token)}
    page = (
        payload.get("context", {}).get("page") if isinstance(payload.get("context"), dict) else None
    )
    if isinstance(page, dict) and isinstance(page.get("url"), str):
        properties["url"] = page["url"]
    message_id = f"{message.message_id}:email-link"
    if len(message_id) > 255:
        message_id = "relevo-link-" + hashlib.sha256(message_id.encode()).hexdigest()[:32]
    clicked: dict[str, Any] = {
        key: payload[key]
        for key in ("anonymousId", "context", "timestamp", "receivedAt", "originalTimestamp")
        if key in payload
    }
    clicked.update(
        type="track", event=EMAIL_LINK_CLICKED, messageId=message_id, properties=properties
    )
    return dataclasses.replace(
        message,
        message_id=message_id,
        type="track",
        event=EMAIL_LINK_CLICKED,
        user_id=None,
        identities=[i for i in message.identities if i[0] == ANONYMOUS_ID][:1],
        payload=clicked,
        payload_json=EncodedJson(orjson.dumps(clicked).decode()),
        claims=(),
    )


def apply_trust(message: TrackedMessage, policy: TrustPolicy) -> list[TrackedMessage] | Untrusted:
    """The message as the source may assert it (plus an Email Link Clicked event)."""
    cleaned, proofs = _take_proofs(message.payload)
    if cleaned is not None:
        message = dataclasses.replace(
            message, payload=cleaned, payload_json=EncodedJson(orjson.dumps(cleaned).decode())
        )
    claims: list[Claim] = []
    extra: list[TrackedMessage] = []
    linked: int | None = None
    token = proofs.get("linkToken")
    if token is not None and policy.keys is not None:
        link = verify_link_token(policy.keys.link_secret, token, policy.now_s)
        if link.profile_id is not None:
            linked = link.profile_id
            if message.anonymous_id:
                extra.append(_link_event(message, message.payload, str(token)))
        else:
            fingerprint = token_fingerprint(str(token))
            claims.append(Claim("email_link", fingerprint, link.failure or "invalid"))
    if policy.trusted:
        if not claims and linked is None and not extra:
            return [message]
        updated = dataclasses.replace(message, claims=tuple(claims), linked_profile=linked)
        return [updated, *extra]

    proven, failure = _proven(message, proofs, policy)
    # The visitor's own id: its anonymousId (the cookie it holds), or for an alias sent
    # without one, the previousId it says it had.
    own_id = message.anonymous_id or (
        str(message.payload.get("previousId")) if message.type == "alias" else None
    )
    own = {(ANONYMOUS_ID, own_id)} if own_id else set()
    trusted = [i for i in message.identities if i in own or i in proven]
    claims += [
        Claim(kind, value, failure)
        for kind, value in message.identities
        if (kind, value) not in trusted
    ]
    if message.type == "group":
        # Membership of an account (its assortment, its prices) is the shop's to grant: no
        # proof a page can hold covers it, so a public key's group call is always a claim.
        claims.append(Claim(GROUP, str(message.payload.get("groupId")), "unverified"))
    if not trusted and linked is None:
        return Untrusted(
            "a browser key's message needs an anonymousId, or a proof of its userId "
            "(context.relevo.userHash or identityToken); use a server key for server-side calls"
        )
    updated = dataclasses.replace(
        message, identities=trusted, claims=tuple(claims), linked_profile=linked, trusted=False
    )
    return [updated, *extra]
