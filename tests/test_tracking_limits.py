"""Every field has a limit, checked at the edge the same way on SQLite and PostgreSQL
(relevo.tracking.limits): a single call over one gets a 400 naming the field and the limit, a
batch quarantines that message alone and stores the others. Bodies are capped while they are
read; the quarantine keeps a bounded number of rows per request."""

from __future__ import annotations

import asyncio
import gzip
import random
import zlib
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from relevo.api.routes import tracking as tracking_routes
from relevo.errors import InvalidPayload, PayloadTooLarge
from relevo.storage import schema as t
from relevo.tracking import limits, messages
from relevo.tracking.ingest import read_body
from relevo.tracking.messages import TrackedMessage, validate_message
from relevo.tracking.values import UnstorableNumber, quarantine_text
from tests.conftest import Api

_ROUTES = Path(tracking_routes.__file__).read_text()
_READS_STREAMING = "read_body(" in _ROUTES
_CAPS_THE_QUARANTINE = "quarantine_in_full(" in _ROUTES
waits_for_streaming = pytest.mark.xfail(
    not _READS_STREAMING,
    reason="waits for relevo/api/routes/tracking.py to read bodies with ingest.read_body",
    strict=True,
)
waits_for_quarantine_cap = pytest.mark.xfail(
    not _CAPS_THE_QUARANTINE,
    reason="waits for relevo/api/routes/tracking.py to submit ingest.quarantine_in_full(rejected)",
    strict=True,
)


def _post(api: Api, path: str, body: str | bytes) -> Any:
    content = body.encode("utf-8", "backslashreplace") if isinstance(body, str) else body
    return api.client.post(path, content=content, headers=api.server_auth)


def _quarantine(api: Api) -> list[dict[str, Any]]:
    with api.services.db.read() as conn:
        rows = conn.execute(
            select(
                t.quarantine.c.position,
                t.quarantine.c.reason,
                t.quarantine.c.message_id,
                t.quarantine.c.payload,
            )
            .where(t.quarantine.c.workspace_id == api.keys.workspace.id)
            .order_by(t.quarantine.c.id)
        )
        return [dict(r._mapping) for r in rows]


def _good(n: int) -> dict[str, Any]:
    return {"type": "track", "event": "Good", "userId": f"good-{n}", "messageId": f"good-{n}"}


LONG = "x" * 300


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("messageId", {"type": "track", "event": "E", "userId": "u", "messageId": LONG}),
        ("event", {"type": "track", "event": LONG, "userId": "u"}),
        ("userId", {"type": "track", "event": "E", "userId": LONG}),
        ("anonymousId", {"type": "page", "anonymousId": LONG}),
        ("previousId", {"type": "alias", "userId": "u", "previousId": LONG}),
        ("groupId", {"type": "group", "userId": "u", "groupId": LONG}),
        ("name", {"type": "page", "anonymousId": "a", "name": LONG}),
    ],
)
def test_a_300_character_field_in_a_batch_is_quarantined_and_the_rest_stored(
    api: Api, field: str, message: dict[str, Any]
) -> None:
    result = api.batch([_good(1), message, _good(2)])
    assert result["accepted"] == 2
    [rejected] = result["rejected"]
    assert rejected["index"] == 1
    assert field in rejected["reason"] and "over the limit of 255 characters" in rejected["reason"]
    assert api.stored_counts() == (2, 1)
    [row] = _quarantine(api)
    assert (row["position"], row["reason"]) == (1, rejected["reason"])
    assert row["message_id"] is None or len(row["message_id"]) <= 255


@pytest.mark.parametrize("field", ["messageId", "event", "userId"])
def test_a_single_call_with_a_300_character_field_is_a_400_naming_it(api: Api, field: str) -> None:
    message = {"event": "E", "userId": "u", field: LONG}
    response = api.client.post("/v1/track", json=message, headers=api.server_auth)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_message"
    assert field in error["message"] and "255" in error["message"]
    assert "quarantined" in error["message"]
    assert api.stored_counts() == (0, 1)


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def test_keys_nesting_and_numbers_have_limits(api: Api) -> None:
    base = '{"type":"track","event":"E","userId":"u","properties":%s}'
    cases = {
        # properties is the second level: 31 more objects in it make 32 levels in all.
        orjson.dumps(_nested(31)).decode(): None,
        orjson.dumps(_nested(32)).decode(): "nested more than 32 levels",
        orjson.dumps({"k" * 255: 1}).decode(): None,
        orjson.dumps({"k" * 256: 1}).decode(): "over the limit of 255 characters per key",
        '{"n":9223372036854775807,"m":-9223372036854775808}': None,
        '{"n":9223372036854775808}': "properties.n: integer 9223372036854775808 is outside",
        '{"n":-9223372036854775809}': "outside the signed 64-bit range",
        '{"n":123456789012345678901234567890}': "outside the signed 64-bit range",
        '{"n":18446744073709551615}': "outside the signed 64-bit range",
        '{"x":[1,{"y":1e400}]}': "properties.x[1].y: number 1e400",
        '{"n":-1e400}': "-1e400",
        '{"n":NaN}': "NaN",
        '{"n":Infinity}': "Infinity",
        '{"n":-Infinity}': "-Infinity",
        '{"n":1e-400,"z":-0,"f":1.5e308}': None,
    }
    bodies = [base % properties for properties in cases]
    result = _post(api, "/v1/batch", '{"batch":[' + ",".join(bodies) + "]}").json()
    reasons = {r["index"]: r["reason"] for r in result["rejected"]}
    for index, expected in enumerate(cases.values()):
        if expected is None:
            assert index not in reasons, reasons[index]
        else:
            assert expected in reasons[index], reasons[index]
    assert result["accepted"] == sum(1 for e in cases.values() if e is None)
    assert api.stored_counts() == (result["accepted"], len(reasons))


def test_a_single_call_with_a_number_out_of_range_is_a_400_naming_where(api: Api) -> None:
    response = _post(api, "/v1/track", '{"event":"E","userId":"u","properties":{"p":NaN}}')
    assert response.status_code == 400, response.text
    assert "properties.p: NaN" in response.json()["error"]["message"]
    assert api.stored_counts() == (0, 1)
    assert "NaN" in _quarantine(api)[0]["payload"]  # the message as it came


def test_lone_surrogates_are_replaced_like_nul_on_both_backends(api: Api) -> None:
    body = (
        '{"batch":[{"type":"identify","userId":"s\\ud800","traits":{"n\\udc00":"a\\udfffb",'
        '"pair":"\\ud83d\\ude00","nul":"c\\u0000"}}],"writeKey":"\\ud800"}'
    )
    result = _post(api, "/v1/batch", body).json()
    assert result["accepted"] == 1, result
    profile = api.profile("user_id", "s\ufffd")
    assert profile["traits"] == {"n\ufffd": "a\ufffdb", "pair": "\U0001f600", "nul": "c\ufffd"}


@pytest.mark.parametrize("key", ["\\u0000", "\\ud800", "k\\u0000" * 1000])
def test_an_unstorable_write_key_in_the_body_is_a_401(api: Api, key: str) -> None:
    body = '{"writeKey":"%s","event":"E","anonymousId":"a"}' % key  # noqa: UP031
    response = api.client.post("/v1/track", content=body.encode())
    assert response.status_code == 401, response.text


def test_duplicate_keys_keep_the_last_value_whichever_parser_reads_the_body(api: Api) -> None:
    message = '{"type":"track","event":"E","userId":"dup","messageId":"%s","properties":%s}'
    plain = message % ("d1", '{"a":1,"a":2}')
    # NaN elsewhere in the body sends the whole body to the second parser.
    lenient = message % ("d2", '{"a":1,"a":2}')
    needs_second_parser = message % ("d3", '{"n":NaN}')
    _post(api, "/v1/batch", '{"batch":[' + plain + "]}")
    result = _post(api, "/v1/batch", '{"batch":[' + f"{lenient},{needs_second_parser}" + "]}")
    assert result.json()["accepted"] == 1
    events = api.get("/v1/profiles/user_id/dup/events")["events"]
    assert [e["message"]["properties"] for e in events] == [{"a": 2}, {"a": 2}]


@pytest.mark.parametrize(
    ("external_ids", "expected"),
    [
        ([{"type": "loyalty_card", "id": "LC-1"}], None),
        ([{"type": "Loyalty Card", "id": 12345}], None),
        ({"type": "loyalty_card", "id": "x"}, "context.externalIds must be an array"),
        (["LC-1"], "context.externalIds[0] must be an object"),
        ([{"type": "9lives", "id": "x"}], "context.externalIds[0].type must be an identity kind"),
        ([{"type": "k" * 41, "id": "x"}], "context.externalIds[0].type"),
        ([{"type": "card", "id": ""}], "context.externalIds[0].id must be a non-empty"),
        ([{"type": "card", "id": True}], "context.externalIds[0].id must be a non-empty"),
        ([{"type": "card", "id": "x" * 256}], "over the limit of 255 characters per id"),
    ],
)
def test_external_ids_must_be_well_formed(
    api: Api, external_ids: Any, expected: str | None
) -> None:
    message = {
        "type": "track",
        "event": "E",
        "userId": "u",
        "context": {"externalIds": external_ids},
    }
    result = api.batch([message])
    if expected is None:
        assert (result["accepted"], result["rejected"]) == (1, [])
    else:
        assert expected in result["rejected"][0]["reason"]


def test_timestamps_must_fall_in_years_0001_to_9999(api: Api) -> None:
    result = api.batch(
        [
            {"type": "track", "event": "E", "userId": "u", "timestamp": "0001-01-01T00:00:00Z"},
            {
                "type": "track",
                "event": "E",
                "userId": "u",
                "timestamp": "0001-01-01T00:00:00+05:00",
            },
            {
                "type": "track",
                "event": "E",
                "userId": "u",
                "timestamp": "0001-01-01T00:00:00Z",
                "sentAt": "9999-01-01T00:00:00Z",
            },
        ]
    )
    assert result["accepted"] == 1
    assert [r["index"] for r in result["rejected"]] == [1, 2]
    assert "after the clock-skew correction" in result["rejected"][1]["reason"]
    assert api.get("/v1/profiles/user_id/u/events")["events"][0]["timestamp"].startswith("0001-")


@given(st.integers(limits.MIN_TIMESTAMP_MS, limits.MAX_TIMESTAMP_MS))
def test_stored_times_are_iso_8601_to_the_millisecond_in_utc(ms: int) -> None:
    """The text of ``timestamp`` and ``receivedAt`` (formatted once per second of time and
    remembered) is what datetime writes, the year always in four digits."""
    moment = datetime(1, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms - limits.MIN_TIMESTAMP_MS)
    expected = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    expected = f"{moment.year:04d}" + expected[expected.index("-") :]
    assert messages._iso(ms) == messages._iso(ms) == expected


def test_a_batch_over_10000_messages_is_a_400_naming_the_limit(api: Api) -> None:
    body = '{"batch":[' + ",".join(["0"] * (limits.MAX_BATCH_MESSAGES + 1)) + "]}"
    response = _post(api, "/v1/batch", body)
    assert response.status_code == 400
    assert "10,000" in response.json()["error"]["message"]
    assert api.stored_counts() == (0, 0)


@waits_for_quarantine_cap
def test_the_quarantine_keeps_100_messages_of_a_request_and_a_summary(api: Api) -> None:
    batch: list[Any] = [_good(1), *range(150), {"type": "fly", "userId": "u"}]
    batch += [{"type": "track", "userId": "u"}] * 99 + [_good(2)]
    result = api.batch(batch)
    assert result["accepted"] == 2
    assert [r["index"] for r in result["rejected"]] == list(range(1, len(batch) - 1))
    rows = _quarantine(api)
    assert len(rows) == limits.QUARANTINED_IN_FULL_PER_REQUEST + 1
    summary = rows[-1]
    assert summary["position"] is None
    assert summary["reason"].startswith("150 more rejected messages of this request")
    counts = {r["reason"]: r["count"] for r in orjson.loads(summary["payload"])["reasons"]}
    assert counts == {
        "a message must be a JSON object, got int": 50,
        "type must be one of track, identify, page, screen, group, alias; got 'fly'": 1,
        "track needs an event name in 'event'": 99,
    }


@waits_for_quarantine_cap
def test_a_batch_of_10000_invalid_entries_makes_101_quarantine_rows(api: Api) -> None:
    body = '{"batch":[' + ",".join(["1"] * limits.MAX_BATCH_MESSAGES) + "]}"
    result = _post(api, "/v1/batch", body).json()
    assert len(result["rejected"]) == limits.MAX_BATCH_MESSAGES
    assert api.stored_counts() == (0, limits.QUARANTINED_IN_FULL_PER_REQUEST + 1)


def test_a_message_nested_far_past_the_limit_is_quarantined_alone(api: Api) -> None:
    good = orjson.dumps(_good(1)).decode()
    deep = '{"type":"track","event":"E","userId":"u","p":%s}'
    # orjson reads 1,000 levels; the second parser (here for NaN) fewer, but 500 still.
    for levels, leaf in [(1000, '"\\u0000"'), (500, '[NaN,"\\ud800"]')]:
        nested = "[" * levels + leaf + "]" * levels
        response = _post(api, "/v1/batch", '{"batch":[' + good + "," + deep % nested + "]}")
        result = response.json()
        assert response.status_code == 200, result
        assert result["accepted"] + result["duplicates"] == 1
        [rejected] = result["rejected"]
        assert rejected["index"] == 1 and "nested more than 32 levels" in rejected["reason"]
    assert api.stored_counts() == (1, 2)
    assert all(row["payload"].startswith('{"type":"track"') for row in _quarantine(api))


def test_a_body_that_is_not_json_is_a_400_naming_the_problem(api: Api) -> None:
    for body, expected in [
        (b'{"batch": [', "not valid JSON"),
        (b'{"batch": [\xed\xa0\x80]}', "not valid JSON"),  # a surrogate as raw bytes: not UTF-8
        (b'{"batch": [' + b"[" * 3000 + b"]" * 3000 + b"]}", "nested too deeply"),
        (b'{"batch": [{"a": NaN} + ]}', "not valid JSON"),
    ]:
        response = _post(api, "/v1/batch", body)
        assert response.status_code == 400, response.text
        assert expected in response.json()["error"]["message"]
    assert api.stored_counts() == (0, 0)


def test_validation_never_raises_and_quarantine_text_always_encodes() -> None:
    deep: list[Any] = []
    for _ in range(3000):
        deep = [deep]
    nasty: list[Any] = [
        {1: 2},
        {"type": "track", "event": "E", "userId": "u", "p": object()},
        {"type": "track", "event": "E", "userId": "u", "p": deep},
        {"type": "track", "event": "E", "userId": "u", "p": float("nan")},
        {"type": "track", "event": "E", "userId": "u", "p": 10**5000},
        {"type": "track", "event": "E", "userId": "u", "p": 2**64},
        {"type": "track", "event": "E", "userId": "u", "p": UnstorableNumber("1e400", "big")},
        {"type": "track", "event": "\ud800", "userId": "\udfff\x00", "messageId": "\ud800"},
        {"type": "\ud800" * 100, "userId": "u"},
        {"type": ["x"] * 10_000, "userId": "u"},
        {"type": "track", "event": "E", "userId": "u", "timestamp": "9999-12-31T23:59:59-23:00"},
        "\ud800",
        b"bytes",
    ]
    for raw in nasty:
        result = validate_message(raw, 1_700_000_000_000)
        if isinstance(result, TrackedMessage):
            orjson.loads(str(result.payload_json))
            continue
        for text in (result.reason, quarantine_text(result.raw)):
            assert "\x00" not in text
            text.encode("utf-8")  # no lone surrogate
        for column in (result.message_id, result.anonymous_id, result.user_id):
            assert column is None or len(column) <= 255


class _Request:
    """A request whose body arrives in chunks; counts what was read."""

    def __init__(self, chunks: list[bytes], headers: Mapping[str, str]) -> None:
        self.headers = headers
        self._chunks = chunks
        self.read = 0

    async def stream(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            self.read += 1
            yield chunk


def _read(request: _Request, limit: int = 1000) -> bytes:
    return asyncio.run(read_body(request, limit))


def test_read_body_refuses_a_declared_length_over_the_cap_before_reading() -> None:
    request = _Request([b"x" * 100] * 100, {"content-length": "10000"})
    with pytest.raises(PayloadTooLarge):
        _read(request)
    assert request.read == 0


def test_read_body_stops_as_soon_as_the_cap_is_passed() -> None:
    request = _Request([b"x" * 100] * 1000, {})
    with pytest.raises(PayloadTooLarge) as too_large:
        _read(request)
    assert request.read == 11
    assert too_large.value.details["limit_bytes"] == 1000
    assert _read(_Request([b"x" * 100] * 10, {"content-length": "1000"})) == b"x" * 1000


def _chunked(data: bytes, size: int = 100) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_read_body_caps_gzip_both_compressed_and_decompressed() -> None:
    gz = {"content-encoding": "gzip"}
    bomb = gzip.compress(b"\0" * 50_000_000)  # 50 MB of zeros in ~50 KB
    request = _Request(_chunked(bomb, 1000), gz)
    with pytest.raises(PayloadTooLarge):
        _read(request, limit=100_000)
    assert request.read == 1  # the first kilobyte already decompresses past the cap
    incompressible = gzip.compress(random.Random(1).randbytes(990))  # 990 bytes in ~1,013
    assert len(incompressible) > 1000
    with pytest.raises(PayloadTooLarge):
        _read(_Request(_chunked(incompressible), gz), limit=1000)
    body = b'{"batch": []}'
    two_members = gzip.compress(body[:5]) + gzip.compress(body[5:])
    assert _read(_Request(_chunked(two_members, 7), gz)) == body
    assert _read(_Request([body], {"content-encoding": "identity"})) == body


@pytest.mark.parametrize(
    ("chunks", "headers", "expected"),
    [
        ([gzip.compress(b"{}")[:-3]], {"content-encoding": "gzip"}, "incomplete"),
        ([], {"content-encoding": "gzip"}, "incomplete"),
        ([b"not gzip"], {"content-encoding": "gzip"}, "not valid gzip"),
        ([zlib.compress(b"{}")], {"content-encoding": "deflate"}, "unsupported Content-Encoding"),
    ],
)
def test_read_body_names_a_broken_encoding(
    chunks: list[bytes], headers: dict[str, str], expected: str
) -> None:
    with pytest.raises(InvalidPayload) as invalid:
        _read(_Request(chunks, headers))
    assert expected in invalid.value.message


def _call_route(api: Api, headers: list[tuple[bytes, bytes]], chunks: int) -> tuple[int, int]:
    """POST /v1/batch straight through ASGI with a body of ``chunks`` x 64 KB; returns the
    status and how many chunks the server read."""
    read = 0
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b" " * 65536, "more_body": read < chunks}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/batch",
        "raw_path": b"/v1/batch",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    asyncio.run(api.client.app(scope, receive, send))  # type: ignore[arg-type]
    return status, read


@waits_for_streaming
def test_the_batch_route_refuses_a_declared_length_over_500kb_unread(api: Api) -> None:
    status, read = _call_route(api, [(b"content-length", b"104857600")], chunks=40)
    assert (status, read) == (413, 0)


@waits_for_streaming
def test_the_batch_route_stops_reading_a_stream_at_500kb(api: Api) -> None:
    status, read = _call_route(api, [(b"transfer-encoding", b"chunked")], chunks=40)
    assert status == 413 and read == limits.MAX_BATCH_BYTES // 65536 + 1
