"""The identities a Segment message carries, normalised so the same person matches."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any

from relevo.storable import replace_unstorable

ANONYMOUS_ID = "anonymous_id"
USER_ID = "user_id"
EMAIL = "email"
PHONE = "phone"
STANDARD_KINDS = (ANONYMOUS_ID, USER_ID, EMAIL, PHONE)

Identity = tuple[str, str]

_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_MAX_VALUE = 255


def normalise_email(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    if "@" not in email or len(email) > _MAX_VALUE or email.startswith("@"):
        return None
    return email


def normalise_phone(value: object) -> str | None:
    """Digits only, keeping a leading + (E.164 style), so '+44 20 7946-0000' == '+442079460000'."""
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    digits = re.sub(r"\D", "", value)
    if len(digits) < 6:
        return None
    return ("+" if value.strip().startswith("+") else "") + digits


def normalise_kind(kind: str) -> str | None:
    kind = kind.strip().lower().replace("-", "_").replace(" ", "_")
    if kind in ("userid", "user"):
        return USER_ID
    if kind in ("anonymousid", "anonymous"):
        return ANONYMOUS_ID
    return kind if _KIND_RE.match(kind) else None


def message_identities(message: Mapping[str, Any]) -> list[Identity]:
    """Identities in a validated message, strongest first, without duplicates."""
    found: list[Identity] = []
    user_id = message.get("userId")
    if user_id:
        found.append((USER_ID, str(user_id)))
    anonymous_id = message.get("anonymousId")
    if anonymous_id:
        found.append((ANONYMOUS_ID, str(anonymous_id)))
    previous_id = message.get("previousId")
    if message.get("type") == "alias" and previous_id:
        # Resolved against known user ids by storage; an unknown previous id is an anonymous id.
        found.append((ANONYMOUS_ID, str(previous_id)))
    traits = message.get("traits") if message.get("type") == "identify" else None
    found += _traits_and_external_ids(traits, message.get("context"))
    return list(dict.fromkeys(i for i in found if 0 < len(i[1]) <= _MAX_VALUE))


def _traits_and_external_ids(traits: Any, context: Any) -> list[Identity]:
    """The e-mail and phone of ``traits`` and ``context.traits``, and ``context.externalIds``;
    whatever is not of the expected shape names nothing."""
    found: list[Identity] = []
    sources = [traits]
    if isinstance(context, Mapping):
        sources.append(context.get("traits"))
        external_ids = context.get("externalIds")
        if isinstance(external_ids, list):
            for external in external_ids:
                if isinstance(external, Mapping):
                    found.extend(_external_identity(external))
    for source in sources:
        if not isinstance(source, Mapping):
            continue
        email = normalise_email(source.get("email"))
        if email:
            found.append((EMAIL, email))
        phone = normalise_phone(source.get("phone"))
        if phone:
            found.append((PHONE, phone))
    return found


def _external_identity(external: Mapping[str, Any]) -> list[Identity]:
    raw_kind, raw_id = external.get("type"), external.get("id")
    if not isinstance(raw_kind, str) or not isinstance(raw_id, str | int) or raw_id == "":
        return []
    kind = normalise_kind(raw_kind)
    if kind is None or kind in (USER_ID, ANONYMOUS_ID):
        return []  # only the userId/anonymousId fields set those: one of each per message
    if kind == EMAIL:
        email = normalise_email(raw_id)
        return [(EMAIL, email)] if email else []
    if kind == PHONE:
        phone = normalise_phone(raw_id)
        return [(PHONE, phone)] if phone else []
    return [(kind, str(raw_id))]


def normalise_lookup(kind: str, value: str) -> Identity | None:
    """The identity an API caller means by ``/profiles/{kind}/{value}``."""
    value = replace_unstorable(value)  # as stored: see relevo.storable
    normal_kind = normalise_kind(kind)
    if normal_kind is None:
        return None
    if normal_kind == EMAIL:
        email = normalise_email(value)
        return (EMAIL, email) if email else None
    if normal_kind == PHONE:
        phone = normalise_phone(value)
        return (PHONE, phone) if phone else None
    return (normal_kind, value)


def _text_id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = replace_unstorable(str(value))
    return text if 0 < len(text) <= _MAX_VALUE else None


def raw_identities(raw: Any) -> list[Identity]:
    """Every identity an arbitrary (possibly invalid) message names, for finding quarantined
    messages by any identity kind. Lenient where ``message_identities`` is strict; never raises.
    ``previousId`` may be an anonymous id or an old user id: it is listed as both."""
    if not isinstance(raw, Mapping):
        return []
    found: list[Identity] = []
    for key, kinds in (
        ("userId", (USER_ID,)),
        ("anonymousId", (ANONYMOUS_ID,)),
        ("previousId", (ANONYMOUS_ID, USER_ID)),
    ):
        value = _text_id(raw.get(key))
        if value is not None:
            found.extend((kind, value) for kind in kinds)
    found += _traits_and_external_ids(raw.get("traits"), raw.get("context"))
    return list(dict.fromkeys(i for i in found if 0 < len(i[1]) <= _MAX_VALUE))


def suppression_hash(key: str, identity: Identity) -> str:
    """The keyed hash kept of a suppressed identity: without the key, the stored hashes reveal
    nothing, yet a later message naming the identity is recognised."""
    return hmac.new(
        key.encode(), f"{identity[0]}:{identity[1]}".encode(), hashlib.sha256
    ).hexdigest()


def suppression_hashes(key: str, identities: Iterable[Identity]) -> list[str]:
    return [suppression_hash(key, i) for i in identities]
