"""The Segment HTTP Tracking API: auth, limits, quarantine, idempotency, timestamps."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import func, select

from relevo.storage import schema as t
from tests.conftest import Api


def _quarantined(api: Api) -> list[dict[str, object]]:
    with api.services.db.read() as conn:
        rows = conn.execute(
            select(t.quarantine.c.position, t.quarantine.c.reason).where(
                t.quarantine.c.workspace_id == api.keys.workspace.id
            )
        )
        return [dict(r._mapping) for r in rows]


def _stored(api: Api) -> int:
    with api.services.db.read() as conn:
        return int(
            conn.execute(
                select(func.count()).where(t.events.c.workspace_id == api.keys.workspace.id)
            ).scalar_one()
        )


def test_write_key_as_basic_user_or_in_body(api: Api) -> None:
    api.send("track", event="Signed Up", anonymousId="a1")
    response = api.client.post(
        "/v1/track",
        json={"event": "Signed Up", "anonymousId": "a2", "writeKey": api.keys.write_key},
    )
    assert response.status_code == 200
    assert _stored(api) == 2
    events = api.get("/v1/profiles/anonymous_id/a2/events")["events"]
    assert "writeKey" not in events[0]["message"]


def test_bad_or_missing_key_is_401_with_message(api: Api) -> None:
    missing = api.client.post("/v1/track", json={"event": "X", "anonymousId": "a"})
    assert missing.status_code == 401
    assert "write key" in missing.json()["error"]["message"]
    wrong = api.client.post(
        "/v1/track",
        json={"event": "X", "anonymousId": "a"},
        headers={"Authorization": "Basic Zm9vOg=="},
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "unauthorized"


def test_unknown_paths_and_methods_get_the_common_error_shape(api: Api) -> None:
    unknown = api.client.post("/v1/trak", json={})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    assert "/v1/trak" in unknown.json()["error"]["message"]
    wrong_method = api.client.get("/v1/track")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in wrong_method.json()["error"]["message"]
    assert "POST" in wrong_method.headers["allow"]


def test_the_secret_key_cannot_be_used_to_write(api: Api) -> None:
    before = _stored(api)
    secret = {"Authorization": f"Bearer {api.keys.secret_key}"}
    as_bearer = api.client.post(
        "/v1/track", json={"event": "E", "anonymousId": "s1"}, headers=secret
    )
    assert as_bearer.status_code == 403
    assert "secret key cannot send events" in as_bearer.json()["error"]["message"]
    as_basic = api.client.post(
        "/v1/batch",
        json={"batch": [{"type": "track", "event": "E", "anonymousId": "s2"}]},
        headers=api.basic(api.keys.secret_key),
    )
    assert as_basic.status_code == 401
    assert "secret key" in as_basic.json()["error"]["message"]
    in_body = api.client.post(
        "/v1/track", json={"event": "E", "anonymousId": "s3", "writeKey": api.keys.secret_key}
    )
    assert in_body.status_code == 401
    assert _stored(api) == before


def test_write_keys_cannot_read(api: Api) -> None:
    api.send("identify", userId="u1")
    for key in (api.keys.write_key, api.keys.server_write_key):
        for headers in ({"Authorization": f"Bearer {key}"}, api.basic(key)):
            response = api.client.get("/v1/profiles/user_id/u1", headers=headers)
            assert response.status_code in (401, 403), response.text
            assert response.json()["error"]["message"]


def test_server_key_cannot_ask_for_recommendations(api: Api) -> None:
    response = api.client.post(
        "/v1/recommendations",
        json={"strategy": "trending", "identity": {"kind": "user_id", "value": "u1"}},
        headers=api.server_auth,
    )
    assert response.status_code == 403
    assert "server write key cannot ask for recommendations" in response.json()["error"]["message"]


def test_gzip_body(api: Api) -> None:
    body = gzip.compress(
        json.dumps({"batch": [{"type": "track", "event": "E", "userId": "g"}]}).encode()
    )
    response = api.client.post(
        "/v1/batch",
        content=body,
        headers={**api.server_auth, "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1


def test_unparseable_json_is_400(api: Api) -> None:
    response = api.client.post("/v1/batch", content=b"{oops", headers=api.server_auth)
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]


def test_batch_over_500kb_is_413_naming_the_limit(api: Api) -> None:
    messages = [
        {"type": "track", "event": "E", "userId": "u", "properties": {"x": "y" * 20_000}}
    ] * 30
    response = api.client.post("/v1/batch", json={"batch": messages}, headers=api.server_auth)
    assert response.status_code == 413
    assert "500 KB" in response.json()["error"]["message"]


def test_single_message_over_32kb_is_413(api: Api) -> None:
    response = api.client.post(
        "/v1/track",
        json={"event": "E", "userId": "u", "properties": {"x": "y" * 40_000}},
        headers=api.server_auth,
    )
    assert response.status_code == 413
    assert "32 KB" in response.json()["error"]["message"]


def test_oversized_message_in_batch_is_quarantined_not_the_batch(api: Api) -> None:
    result = api.batch(
        [
            {"type": "track", "event": "Small", "userId": "u"},
            {"type": "track", "event": "Big", "userId": "u", "properties": {"x": "y" * 40_000}},
        ]
    )
    assert result["accepted"] == 1
    assert result["rejected"][0]["index"] == 1
    assert "32 KB" in result["rejected"][0]["reason"]


def test_invalid_messages_are_quarantined_and_reported_by_index(api: Api) -> None:
    result = api.batch(
        [
            {"type": "track", "event": "Good", "userId": "u1"},
            {"type": "track", "event": "No ids"},
            {"type": "track", "userId": "u1"},
            {"type": "identify", "userId": {"nested": 1}},
            {"type": "track", "event": "Bad time", "userId": "u1", "timestamp": "yesterday"},
            {"type": "fly", "userId": "u1"},
            "a string",
            {"type": "alias", "userId": "u1"},
            {"type": "page", "anonymousId": "a9", "properties": "not an object"},
            {"type": "track", "event": "Also good", "anonymousId": "a9"},
        ]
    )
    assert result["accepted"] == 2
    reasons = {r["index"]: r["reason"] for r in result["rejected"]}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert "userId or anonymousId" in reasons[1]
    assert "event name" in reasons[2]
    assert "userId must be a string" in reasons[3]
    assert "timestamp" in reasons[4]
    assert "type must be one of" in reasons[5]
    assert "JSON object" in reasons[6]
    assert "previousId" in reasons[7]
    assert "properties" in reasons[8]
    assert sorted(q["position"] for q in _quarantined(api)) == [1, 2, 3, 4, 5, 6, 7, 8]


def test_invalid_single_message_is_400_and_quarantined(api: Api) -> None:
    response = api.client.post("/v1/identify", json={"traits": {"a": 1}}, headers=api.server_auth)
    assert response.status_code == 400
    assert "quarantined" in response.json()["error"]["message"]
    assert len(_quarantined(api)) == 1


def test_message_id_makes_retries_idempotent(api: Api) -> None:
    message = {
        "type": "track",
        "event": "Order Completed",
        "userId": "u",
        "messageId": "m-1",
        "properties": {"revenue": 10},
    }
    first = api.batch([message, message])
    again = api.batch([message])
    assert (first["accepted"], first["duplicates"]) == (1, 1)
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    assert _stored(api) == 1
    assert api.profile("user_id", "u")["computed"]["orders"] == 1


def test_same_message_id_in_two_workspaces_is_two_events(api: Api) -> None:
    other = api.services.workspaces.create(f"{api.keys.workspace.name}-other")
    message = {"type": "track", "event": "E", "userId": "u", "messageId": "shared"}
    api.batch([message])
    other_api = Api(api.client, api.services, other)
    other_api.batch([message])
    assert _stored(api) == 1 and _stored(other_api) == 1


def test_clock_skew_corrected_with_sent_at(api: Api) -> None:
    now = datetime.now(UTC)
    skew = timedelta(hours=3)  # the device clock is three hours fast
    happened = now + skew - timedelta(seconds=30)
    api.batch(
        [
            {
                "type": "track",
                "event": "E",
                "userId": "skewed",
                "timestamp": happened.isoformat(),
                "sentAt": (now + skew).isoformat(),
            }
        ]
    )
    event = api.get("/v1/profiles/user_id/skewed/events")["events"][0]
    stored = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
    received = datetime.fromisoformat(event["received_at"].replace("Z", "+00:00"))
    assert abs((received - stored).total_seconds() - 30) < 2
    assert event["message"]["originalTimestamp"] == happened.isoformat()


def test_timestamp_without_sent_at_is_honoured(api: Api) -> None:
    api.send("track", event="Old", userId="history", timestamp="2020-05-01T10:00:00Z")
    event = api.get("/v1/profiles/user_id/history/events")["events"][0]
    assert event["timestamp"] == "2020-05-01T10:00:00.000Z"


def test_batch_context_applies_to_each_message(api: Api) -> None:
    api.batch(
        [{"type": "page", "anonymousId": "ctx", "context": {"locale": "sv-SE"}}],
        context={
            "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36",
            "locale": "en-GB",
        },
    )
    message = api.get("/v1/profiles/anonymous_id/ctx/events")["events"][0]["message"]
    assert message["context"]["locale"] == "sv-SE"
    assert "Windows" in message["context"]["userAgent"]


def test_unknown_events_are_stored_and_countable(api: Api) -> None:
    for _ in range(3):
        api.send(
            "track", event="Paywall Shown", anonymousId="reader", properties={"section": "news"}
        )
    count = api.get("/v1/profiles/anonymous_id/reader/event-count", event="Paywall Shown", days=7)
    assert count["count"] == 3
    assert api.profile("anonymous_id", "reader")["computed"]["event_counts"] == {"Paywall Shown": 3}


def test_error_shape_is_the_same_everywhere(api: Api) -> None:
    responses = [
        api.client.post("/v1/batch", content=b"[", headers=api.server_auth),
        api.client.post("/v1/batch", json={"batch": []}),
        api.client.get("/v1/profiles/user_id/none", headers=api.secret_auth),
        api.client.get(
            "/v1/profiles/user_id/x/events", params={"limit": 0}, headers=api.secret_auth
        ),
    ]
    for response in responses:
        body = orjson.loads(response.content)
        assert 400 <= response.status_code < 500
        assert set(body) == {"error"}
        assert isinstance(body["error"]["code"], str) and body["error"]["message"]


def test_nul_characters_are_replaced_not_a_server_error(api: Api) -> None:
    # PostgreSQL cannot store NUL; both backends keep U+FFFD instead, lookups included.
    result = api.batch(
        [
            {
                "type": "track",
                "event": "Odd\x00",
                "userId": "nul\x00user",
                "properties": {"q": "a\x00"},
            },
            {"type": "track", "userId": "\x00"},
        ]
    )
    assert result["accepted"] == 1 and [r["index"] for r in result["rejected"]] == [1]
    event = api.get("/v1/profiles/user_id/nul%00user/events")["events"][0]
    assert event["event"] == "Odd\ufffd"
    assert event["message"]["properties"] == {"q": "a\ufffd"}
