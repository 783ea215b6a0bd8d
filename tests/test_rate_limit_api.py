"""Rate limits through HTTP, counted in the real Redis: per write key on every public endpoint,
per client IP for browser keys; 429 with Retry-After, which Segment's SDKs back off on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from relevo.api.ratelimit import RateLimits
from tests.conftest import Api


@pytest.fixture
def limited(api: Api) -> Iterator[Api]:
    original = api.services.rate_limits
    api.services.rate_limits = RateLimits(
        redis_url=api.services.settings.redis_url,
        per_key="4/minute",
        per_ip="2/minute",
        prefix=f"relevo-test-{uuid.uuid4().hex[:8]}",
    )
    assert api.services.rate_limits.shared  # counted in Redis, shared by every worker
    try:
        yield api
    finally:
        api.services.rate_limits.close()
        api.services.rate_limits = original


def test_a_browser_key_is_limited_per_client_ip(limited: Api) -> None:
    message = {"event": "E", "anonymousId": "visitor"}
    codes = [
        limited.client.post("/v1/track", json=message, headers=limited.write_auth).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]
    refused = limited.client.post("/v1/track", json=message, headers=limited.write_auth)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    error = refused.json()["error"]
    assert error["code"] == "rate_limited" and "per ip" in error["message"]
    # Recommendations with the same public key count against the same limits.
    recs = limited.client.post(
        "/v1/recommendations", json={"strategy": "trending"}, headers=limited.write_auth
    )
    assert recs.status_code == 429


def test_a_server_key_is_limited_per_key_not_per_ip(limited: Api) -> None:
    message = {"event": "E", "userId": "backend-user"}
    codes = [
        limited.client.post("/v1/track", json=message, headers=limited.server_auth).status_code
        for _ in range(5)
    ]
    assert codes == [200, 200, 200, 200, 429]
    # The secret key (the shop's own reads) is not limited.
    for _ in range(6):
        assert limited.client.get("/healthz").status_code == 200
        answer = limited.client.post(
            "/v1/recommendations", json={"strategy": "trending"}, headers=limited.secret_auth
        )
        assert answer.status_code == 200
