"""The events a decision records about a visitor, as tracked messages for the event writer:
``Experience Viewed`` (an exposure) and the feedback of a decision token (``Experience
Impression``, ``Clicked``, ``Dismissed``, ``Submitted``). All are system events
(relevo.profiles.state.SYSTEM_EVENTS): in the timeline, moving no behaviour counter, session
or last-seen. Their messageId comes from what they report, so a repeat is a duplicate.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import orjson

from relevo.encoded import EncodedJson
from relevo.errors import RelevoError
from relevo.identity.identities import ANONYMOUS_ID, USER_ID, Identity
from relevo.tracking.messages import TrackedMessage, validate_message

EXPERIENCE_VIEWED = "Experience Viewed"
FEEDBACK_EVENTS = {
    "impression": "Experience Impression",
    "click": "Experience Clicked",
    "dismiss": "Experience Dismissed",
    "submit": "Experience Submitted",
    "conversion": "Experience Converted",
}


def message_id(*parts: str) -> str:
    text = ":".join(parts)
    if len(text) <= 200:
        return text
    return "relevo-" + hashlib.sha256(text.encode()).hexdigest()[:40]


def system_message(
    identity: Identity,
    event: str,
    message_id: str,
    properties: dict[str, Any],
    now_ms: int,
    traits: dict[str, Any] | None = None,
) -> TrackedMessage:
    """A track message (an identify one with ``traits``) of the visitor named by ``identity``:
    an anonymous id or user id as Segment names them, any other kind (an e-mail, a phone, a
    loyalty card) as the message's one external id."""
    kind, value = identity
    raw: dict[str, Any] = {"messageId": message_id}
    if traits is None:
        raw.update(type="track", event=event, properties=properties)
    else:
        raw.update(type="identify", traits=traits)
    if kind == USER_ID:
        raw["userId"] = value
    elif kind == ANONYMOUS_ID:
        raw["anonymousId"] = value
    else:
        raw["anonymousId"] = value  # replaced below: validation asks for one of the two
    result = validate_message(raw, now_ms, max_bytes=None)
    if not isinstance(result, TrackedMessage):
        raise RelevoError(f"the {event} event could not be recorded: {result.reason}")
    if kind in (USER_ID, ANONYMOUS_ID):
        return result
    payload = {k: v for k, v in result.payload.items() if k != "anonymousId"}
    payload["context"] = {"externalIds": [{"type": kind, "id": value}]}
    return dataclasses.replace(
        result,
        anonymous_id=None,
        identities=[identity],
        payload=payload,
        payload_json=EncodedJson(orjson.dumps(payload).decode()),
    )
