"""The fields of a Segment message that validation reads, taken straight from the parsed JSON when
they have the plain shape nearly every client sends: strings, objects, and times written as
``YYYY-MM-DDTHH:MM:SS[.ffffff][Z]``.

This is the hot path of ingest (every message); the pydantic model of ``relevo.tracking.messages``
was a tenth of a worker's CPU per message. ``read_fields`` answers None for anything else (an
integer id, a number or another format for a time, a value of the wrong type), and the caller
then validates with the model, which accepts or describes the problem as it always did; for the
shapes read here, both give the same fields (tests/test_tracking_wire.py compares them).
"""

from __future__ import annotations

import functools
from datetime import date, time
from typing import Any, NamedTuple

_EPOCH_DAY = date(1970, 1, 1).toordinal()


class MessageFields(NamedTuple):
    """What validation reads of a message; times in milliseconds since the epoch, UTC."""

    type: str
    messageId: str | None
    anonymousId: str | int | None
    userId: str | int | None
    previousId: str | int | None
    groupId: str | int | None
    event: str | None
    name: str | None
    timestamp: int | None
    originalTimestamp: int | None
    sentAt: int | None
    context: dict[str, Any] | None


def read_fields(raw: dict[str, Any]) -> MessageFields | None:
    """The fields of ``raw`` (whose ``type`` is one of the message types) when every one of them
    has the plain shape; None when any needs the model to read or to refuse it."""
    get = raw.get
    kind, message_id, event, name = get("type"), get("messageId"), get("event"), get("name")
    if (
        type(kind) is not str
        or (message_id is not None and type(message_id) is not str)
        or (event is not None and type(event) is not str)
        or (name is not None and type(name) is not str)
    ):
        return None
    anonymous_id, user_id = get("anonymousId"), get("userId")
    previous_id, group_id = get("previousId"), get("groupId")
    for value in (anonymous_id, user_id, previous_id, group_id):
        if value is not None and type(value) is not str and type(value) is not int:
            return None
    context = get("context")
    for value in (context, get("properties"), get("traits"), get("integrations")):
        if value is not None and type(value) is not dict:
            return None
    times: list[int | None] = []
    for value in (get("timestamp"), get("originalTimestamp"), get("sentAt")):
        if value is None:
            times.append(None)
            continue
        ms = iso_ms(value) if type(value) is str else None
        if ms is None:
            return None
        times.append(ms)
    return MessageFields(
        kind,
        message_id,
        anonymous_id,
        user_id,
        previous_id,
        group_id,
        event,
        name,
        times[0],
        times[1],
        times[2],
        context,
    )


@functools.lru_cache(maxsize=4096)
def iso_ms(text: str) -> int | None:
    """Milliseconds since the epoch of ``YYYY-MM-DDTHH:MM:SS[.f to .ffffff][Z]`` (no zone: UTC,
    as Segment reads it), computed as ``int(datetime.timestamp() * 1000)`` would be; None for any
    other text, an impossible date or time included. Remembered: a request's messages mostly
    share their times."""
    size = len(text)
    if text[size - 1 : size] == "Z":
        size -= 1
    if size < 19 or not text.isascii():
        return None
    seconds = _epoch_seconds(text[:19])
    if seconds is None:
        return None
    micros = 0
    if size > 19:
        fraction = text[20:size]
        if text[19] != "." or not 1 <= len(fraction) <= 6 or not fraction.isdigit():
            return None
        micros = int(fraction) * 10 ** (6 - len(fraction))
    # datetime.timestamp() divides the microseconds since the epoch by 10**6 (rounded once).
    return int((seconds * 1_000_000 + micros) / 1_000_000 * 1000)


@functools.lru_cache(maxsize=4096)
def _epoch_seconds(text: str) -> int | None:
    """``YYYY-MM-DDTHH:MM:SS`` as seconds since the epoch; a request's messages mostly share
    their second, so each is read once."""
    if (
        text[4] != "-"
        or text[7] != "-"
        or text[10] != "T"
        or text[13] != ":"
        or text[16] != ":"
        or not (text[:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:]).isdigit()
    ):
        return None
    try:
        day = date(int(text[:4]), int(text[5:7]), int(text[8:10])).toordinal() - _EPOCH_DAY
        moment = time(int(text[11:13]), int(text[14:16]), int(text[17:19]))
    except ValueError:
        return None
    return day * 86_400 + moment.hour * 3600 + moment.minute * 60 + moment.second
