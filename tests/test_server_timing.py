"""Every answer says how long Relevo spent on it (Server-Timing) and carries back the
caller's X-Request-ID, when it is a plain token, so answers can be paired with requests."""

from __future__ import annotations

import re

from tests.conftest import Api


def test_every_answer_has_its_server_time(api: Api) -> None:
    for response in (
        api.client.get("/healthz"),
        api.client.get("/v1/no-such-endpoint"),
        api.client.get("/v1/audiences", headers=api.write_auth),  # a 403
    ):
        assert re.fullmatch(r"app;dur=\d+\.\d{3}", response.headers["server-timing"])


def test_a_request_id_comes_back_on_its_answer(api: Api) -> None:
    sent = "1733090000.123456-abc_DEF:7"
    response = api.client.get("/healthz", headers={"X-Request-ID": sent})
    assert response.headers["x-request-id"] == sent
    assert "x-request-id" not in api.client.get("/healthz").headers


def test_a_request_id_that_is_not_a_plain_token_is_not_echoed(api: Api) -> None:
    for sent in ("two words", "x" * 129, "<script>", "a;b=c"):
        response = api.client.get("/healthz", headers={"X-Request-ID": sent})
        assert response.status_code == 200
        assert "x-request-id" not in response.headers, sent
