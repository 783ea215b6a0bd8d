"""The direct read of a message's fields (relevo.tracking.wire) agrees with the pydantic model on
every message it reads, and validation answers the same with it as without it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relevo.tracking import messages
from relevo.tracking.messages import (
    MESSAGE_TYPES,
    SegmentMessage,
    _fields_of,
    validate_message,
)
from relevo.tracking.wire import iso_ms, read_fields

RECEIVED_AT = 1_796_130_232_980


def _iso(moment: datetime, digits: int, zone: str) -> str:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{moment.microsecond:06d}"[:digits]
    return f"{moment.year:04d}" + text[text.index("-") :] + zone


moments = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
plain_times = st.builds(_iso, moments, st.integers(0, 6), st.sampled_from(["Z", ""]))
# What the direct read must leave to the model: other separators, zones, precisions, numbers,
# impossible dates and times, text that is no time at all.
odd_times = st.one_of(
    st.builds(_iso, moments, st.integers(7, 9), st.sampled_from(["Z", ""])),
    st.builds(
        lambda m, zone: m.isoformat() + zone, moments, st.sampled_from(["+02:00", "-0530", "z"])
    ),
    st.builds(lambda m: m.isoformat(sep=" "), moments),
    st.sampled_from(
        [
            "2026-02-30T10:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T12:00:60Z",
            "0000-01-01T00:00:00Z",
            "2026-12-01T12:00:00.Z",
            "2026-12-01T12:00:00,5Z",
            "\uff12026-12-01T12:00:00Z",  # a full-width digit
            "2026-12-01",
            "",
            "now",
        ]
    ),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
)
ids = st.one_of(
    st.none(), st.text(max_size=8), st.integers(-(2**63), 2**63 - 1), st.booleans(), st.floats()
)
objects = st.one_of(
    st.none(),
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
    st.lists(st.integers(), max_size=2),
    st.text(max_size=3),
)
names = st.one_of(st.none(), st.text(max_size=8), st.integers(), st.booleans())


@st.composite
def raw_messages(draw: st.DrawFn) -> dict[str, Any]:
    raw: dict[str, Any] = {"type": draw(st.sampled_from(MESSAGE_TYPES))}
    for field in ("messageId", "event", "name"):
        if draw(st.booleans()):
            raw[field] = draw(names)
    for field in ("anonymousId", "userId", "previousId", "groupId"):
        if draw(st.booleans()):
            raw[field] = draw(ids)
    for field in ("context", "properties", "traits", "integrations"):
        if draw(st.booleans()):
            raw[field] = draw(objects)
    for field in ("timestamp", "originalTimestamp", "sentAt"):
        if draw(st.booleans()):
            raw[field] = draw(st.none() | plain_times | odd_times)
    return raw


@settings(max_examples=600, deadline=None)
@given(raw_messages())
def test_the_direct_read_agrees_with_the_model(raw: dict[str, Any]) -> None:
    direct = read_fields(raw)
    try:
        model = _fields_of(SegmentMessage.model_validate(raw))
    except ValueError:  # pydantic's ValidationError: the model refuses it
        assert direct is None
        return
    if direct is not None:
        assert direct == model


@settings(max_examples=600, deadline=None)
@given(moments, st.integers(0, 6), st.sampled_from(["Z", ""]))
def test_times_read_as_datetime_reads_them(moment: datetime, digits: int, zone: str) -> None:
    text = _iso(moment, digits, zone)
    parsed = SegmentMessage.model_validate({"type": "track", "timestamp": text}).timestamp
    assert parsed is not None
    assert iso_ms(text) == int(parsed.timestamp() * 1000)


def test_the_plain_shape_is_read_directly() -> None:
    """The shapes SDKs send do take the direct path (else it would save nothing)."""
    raw = {
        "type": "track",
        "event": "Product Viewed",
        "anonymousId": "a-1",
        "userId": 42,
        "messageId": "m-1",
        "timestamp": "2026-12-01T12:00:00.123Z",
        "sentAt": "2026-12-01T12:00:01Z",
        "context": {"page": {"url": "https://shop.example/"}},
        "properties": {"price": 12.5},
    }
    fields = read_fields(raw)
    assert fields is not None
    moment = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert fields.timestamp == int((moment + timedelta(milliseconds=123)).timestamp() * 1000)
    assert fields.sentAt == int((moment + timedelta(seconds=1)).timestamp() * 1000)
    assert fields.userId == 42


@settings(max_examples=400, deadline=None)
@given(raw_messages())
def test_validation_answers_the_same_without_the_direct_read(raw: dict[str, Any]) -> None:
    if raw.get("messageId") in (None, ""):
        raw["messageId"] = "m-1"  # else an id drawn at random (uuid4) for each
    fast = validate_message(raw, RECEIVED_AT, index=3)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(messages, "read_fields", lambda _raw: None)
        slow = validate_message(raw, RECEIVED_AT, index=3)
    assert fast == slow
