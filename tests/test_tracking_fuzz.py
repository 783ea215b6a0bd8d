"""Arbitrary input never gets a 5xx and nothing is dropped silently: every message of a batch
is either stored or quarantined and reported by its index, the same way on both backends, and
the profile materializer then folds whatever was stored.

The bodies are written as JSON text, not encoded from Python values, so that they can hold what
Python values cannot give orjson: lone surrogate escapes, NaN and Infinity, numbers beyond 64 bits
or a double's range, repeated keys. Strings reach 10,000 characters of any Unicode (NUL, lone
surrogates, bidi controls, astral characters); nesting goes far past the limit.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relevo.tracking.limits import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES
from tests.conftest import Api

_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Python values, encoded by orjson: what a well-behaved client sends.
ints = st.integers(-(2**63), 2**63 - 1)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
ids = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.integers(0, 10**6),
    st.booleans(),
    st.lists(ints, max_size=2),
)
times = st.one_of(
    st.none(),
    st.just("2024-05-01T10:00:00Z"),
    st.text(max_size=12),
    st.integers(-(2**63), 2**63 - 1),
)
messages = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(
                ["track", "identify", "page", "screen", "group", "alias", "bogus", ""]
            )
            | ids,
            "event": st.text(max_size=12) | ids,
            "userId": ids,
            "anonymousId": ids,
            "previousId": ids,
            "groupId": ids,
            "messageId": ids,
            "timestamp": times,
            "sentAt": times,
            "properties": json_values,
            "traits": json_values,
            "context": json_values,
        },
    ),
)


# JSON text, written by hand: what anything else may send.
def now_and_then(
    wild: st.SearchStrategy[str], usual: st.SearchStrategy[str], one_in: int = 5
) -> Any:
    """``wild`` one time in ``one_in``: often enough to be found, rare enough that many
    messages are otherwise valid and reach the database. (Not n == 0: Hypothesis favours the
    bounds of a range; and an example then shrinks towards ``usual``.)"""
    return st.integers(0, one_in - 1).flatmap(lambda n: wild if n == 1 else usual)


special_characters = st.sampled_from(
    [
        *("\x00", "\ud800", "\udbff", "\udc00", "\udfff"),  # NUL, lone surrogates
        *("\u200f", "\u202e", "\u2066", "\ufeff", "\u0301"),  # bidi, BOM, combining
        *("\U0001f600", "\U0010ffff", "\ufffd", "\\", '"', "\n", "a", "ä", "日"),
    ]
)
any_character = st.characters(exclude_categories=()) | special_characters  # surrogates too
short_texts = st.text(any_character, max_size=12)
strings = now_and_then(
    st.tuples(st.text(any_character, min_size=1, max_size=3), st.integers(0, 10_000)).map(
        lambda repeated: (repeated[0] * repeated[1])[:10_000]
    ),
    st.text(any_character, max_size=30),
)
keys = now_and_then(st.integers(250, 300).map(lambda n: "k" * n), short_texts, one_in=20)
raw_numbers = now_and_then(
    st.sampled_from(
        [
            *("1e400", "-1e400", "1e-400", "NaN", "Infinity", "-Infinity", "-0", "1E2", "0.1"),
            *("123456789012345678901234567890", "18446744073709551615", "-9223372036854775809"),
            *("9223372036854775807", "-9223372036854775808", "9223372036854775808"),
        ]
    )
    | st.integers(-(2**70), 2**70).map(str),
    st.integers(-(2**63), 2**63 - 1).map(str)
    | st.floats(allow_nan=False, allow_infinity=False).map(lambda f: json.dumps(f)),
)


@st.composite
def json_strings(draw: st.DrawFn, text: st.SearchStrategy[str] = strings) -> str:
    """A JSON string; non-ASCII characters escaped or raw (lone surrogates always escaped, when
    the body is encoded, by ``backslashreplace``: the one way JSON can carry them)."""
    return json.dumps(draw(text), ensure_ascii=draw(st.booleans()))


def _object(pairs: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{key}:{value}" for key, value in pairs) + "}"


@st.composite
def raw_objects(draw: st.DrawFn, values: st.SearchStrategy[str]) -> str:
    pairs = draw(st.lists(st.tuples(json_strings(keys), values), max_size=4))
    if pairs and draw(st.integers(0, 3)) == 0:  # the same key again, with another value
        pairs.append((pairs[0][0], draw(values)))
    return _object(pairs)


def _deep(levels: int, opener: str) -> str:
    closer = {"[": "]", '{"a":': "}"}[opener]
    return opener * levels + "0" + closer * levels


raw_leaves = now_and_then(
    # Far past the limit of 32; bounded by what the parsers read (see relevo.tracking.limits).
    st.tuples(st.integers(0, 300), st.sampled_from(["[", '{"a":'])).map(lambda d: _deep(*d)),
    st.sampled_from(["null", "true", "false"]) | raw_numbers | json_strings(),
    one_in=20,
)
raw_values = st.recursive(
    raw_leaves,
    lambda inner: (
        st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]")
        | raw_objects(inner)
    ),
    max_leaves=10,
)
raw_ids = now_and_then(
    st.integers(250, 300).map(lambda n: json.dumps("i" * n))
    | st.integers(-(2**64), 2**64).map(str)
    | raw_values,
    json_strings(short_texts) | st.integers(0, 10**6).map(str),
)


@st.composite
def raw_messages(draw: st.DrawFn) -> str:
    """A Segment message as JSON text: mostly the right shape, with anything in its fields."""
    if draw(st.integers(0, 9)) == 0:
        return draw(raw_values)
    kinds = st.sampled_from(["track", "identify", "page", "screen", "group", "alias"])
    fields = {
        "type": now_and_then(raw_values, kinds.map(json.dumps), one_in=10),
        "event": now_and_then(
            st.integers(250, 300).map(lambda n: json.dumps("e" * n)) | raw_values,
            json_strings(short_texts),
        ),
        "name": json_strings(short_texts),
        "userId": raw_ids,
        "anonymousId": raw_ids,
        "previousId": raw_ids,
        "groupId": raw_ids,
        "messageId": now_and_then(raw_ids, json_strings(short_texts)),
        "timestamp": now_and_then(
            raw_values | st.just('"0001-01-01T00:00:00+01:00"'), st.just('"2024-05-01T10:00:00Z"')
        ),
        "sentAt": now_and_then(
            st.just('"9999-12-31T23:59:59Z"'), st.just('"2024-05-01T10:00:05Z"')
        ),
        "properties": raw_objects(raw_values),
        "traits": raw_objects(raw_values),
        "context": raw_objects(raw_values),
    }
    usual = ["type", "event", "anonymousId", "userId"]  # present most of the time
    chosen = [name for name in usual if draw(st.integers(0, 9)) != 1]
    chosen += draw(st.lists(st.sampled_from(sorted(set(fields) - set(usual))), unique=True))
    pairs = [(json.dumps(name), draw(fields[name])) for name in chosen]
    pairs += draw(st.lists(st.tuples(json_strings(keys), raw_values), max_size=2))
    if pairs and draw(st.integers(0, 3)) == 0:  # a field again, with another value
        pairs.append((pairs[0][0], draw(fields.get(json.loads(pairs[0][0]), raw_values))))
    return _object(pairs)


def _encode(text: str) -> bytes:
    # Lone surrogates in raw strings become the JSON escape \udXXX: still valid JSON.
    return text.encode("utf-8", "backslashreplace")


def _auth(api: Api, server: bool) -> dict[str, str]:
    return api.server_auth if server else api.write_auth


def _accounted_for(api: Api, body: bytes, sent: int, server: bool) -> None:
    before = api.stored_counts()
    response = api.client.post("/v1/batch", content=body, headers=_auth(api, server))
    if len(body) > MAX_BATCH_BYTES:
        # Refused whole and said so: the client splits it. Nothing stored.
        assert response.status_code == 413, response.text
        assert api.stored_counts() == before
        return
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (
        answer["accepted"] + answer["duplicates"] + answer["suppressed"] + len(answer["rejected"])
        == sent
    ), answer
    assert sorted(r["index"] for r in answer["rejected"]) == sorted(
        {r["index"] for r in answer["rejected"]}
    )
    events, quarantined = api.stored_counts()
    assert events - before[0] == answer["accepted"]
    # Up to 100 rejected messages per request are quarantined in full (more: one summary).
    assert quarantined - before[1] == len(answer["rejected"])


@_SETTINGS
@given(batch=st.lists(messages, max_size=8), server=st.booleans())
def test_any_batch_is_accounted_for(api: Api, batch: list[object], server: bool) -> None:
    _accounted_for(api, orjson.dumps({"batch": batch}), len(batch), server)


@_SETTINGS
@given(batch=st.lists(raw_messages(), max_size=8), server=st.booleans())
def test_any_json_text_batch_is_accounted_for(api: Api, batch: list[str], server: bool) -> None:
    body = _encode('{"batch":[' + ",".join(batch) + "]}")
    _accounted_for(api, body, len(batch), server)
    api.settle()  # and the profile materializer folds whatever was stored


@_SETTINGS
@given(
    message=raw_messages(),
    kind=st.sampled_from(["track", "identify", "page", "group", "alias"]),
)
def test_any_json_text_message_is_stored_or_refused_with_a_reason(
    api: Api, message: str, kind: str
) -> None:
    body = _encode(message)
    before = api.stored_counts()
    response = api.client.post(f"/v1/{kind}", content=body, headers=api.server_auth)
    events, quarantined = api.stored_counts()
    if response.status_code == 200:
        assert (events, quarantined) == (before[0] + (not response.json()["duplicate"]), before[1])
        return
    assert response.status_code in (400, 413), response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["message"]
    if error["code"] == "invalid_message":  # a message that breaks the spec or a limit
        assert "quarantined" in error["message"]
        assert (events, quarantined) == (before[0], before[1] + 1)
    else:  # not a JSON object, or over 32 KB: refused whole, nothing stored
        assert len(body) > MAX_MESSAGE_BYTES or not message.startswith("{")
        assert (events, quarantined) == before


@_SETTINGS
@given(
    body=st.binary(max_size=200) | json_values.map(orjson.dumps),
    kind=st.sampled_from(["batch", "track", "identify", "alias"]),
)
def test_any_body_gets_a_clear_answer(api: Api, body: bytes, kind: str) -> None:
    response = api.client.post(f"/v1/{kind}", content=body, headers=api.write_auth)
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert response.json()["error"]["message"]
