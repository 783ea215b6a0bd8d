"""Rate limits per source key and per client IP (relevo.api.ratelimit), on the real Redis at
127.0.0.1:6379 (each test under a prefix of its own) and in this process's memory.

Limits are mostly per hour, so no window ends in the middle of a test.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError, field_validator

from relevo.api.app import create_app
from relevo.api.ratelimit import (
    RateLimited,
    RateLimits,
    check_limit_setting,
    check_redis_url,
    parse_limits,
)
from relevo.errors import RelevoError
from relevo.services import Services
from relevo.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/0"
UNREACHABLE = "redis://127.0.0.1:1/0"
SECRET = "sk_" + "s3cr3t" * 7
LOGGER = "relevo.api.ratelimit"

Make = Callable[..., RateLimits]


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    name = f"relevo-test-{uuid.uuid4().hex[:12]}"
    yield name
    keys = list(redis_client.scan_iter(match=f"{name}*"))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture
def make(prefix: str) -> Iterator[Make]:
    """Builds RateLimits (one per simulated worker process) and closes them afterwards."""
    built: list[RateLimits] = []

    def build(**options: Any) -> RateLimits:
        options.setdefault("per_key", "")
        options.setdefault("per_ip", "")
        options.setdefault("prefix", prefix)
        limits = RateLimits(**options)
        built.append(limits)
        return limits

    yield build
    for limits in built:
        limits.close()


@pytest.fixture(params=["memory", "redis"])
def place(request: pytest.FixtureRequest) -> str | None:
    """Where the counters live: None (this process) or the Redis URL."""
    return REDIS_URL if request.param == "redis" else None


def refusal(limits: RateLimits, key_id: str, client_ip: str | None) -> RateLimited:
    with pytest.raises(RateLimited) as raised:
        limits.check(key_id, client_ip)
    return raised.value


def test_the_key_limit_counts_every_ip_of_the_key(make: Make, place: str | None) -> None:
    limits = make(redis_url=place, per_key="3/hour")
    for i in range(3):
        limits.check(SECRET, f"198.51.100.{i}")
    error = refusal(limits, SECRET, "198.51.100.99")
    assert isinstance(error, RelevoError)
    assert (error.status_code, error.code) == (429, "rate_limited")
    assert error.details["scope"] == "key"
    assert error.details["limit"] == "3/hour"
    assert "3/hour per key" in error.message
    assert "sk_s3c..." in error.message and SECRET not in error.message
    assert 1 <= error.details["retry_after"] <= 3600
    limits.check("sk_another", "198.51.100.99")  # another key is not affected


def test_the_ip_limit_counts_every_key_from_the_ip(make: Make, place: str | None) -> None:
    limits = make(redis_url=place, per_ip="2/hour")
    limits.check("source:1", "203.0.113.7")
    limits.check("source:2", "203.0.113.7")
    error = refusal(limits, "source:3", "203.0.113.7")
    assert error.details["scope"] == "ip"
    assert "2/hour per ip exceeded for IP 203.0.113.7" in error.message
    limits.check("source:1", "203.0.113.8")  # another visitor is not affected
    limits.check("source:1", None)  # no address (a Unix socket): no IP limit


def test_key_and_ip_limits_are_independent(make: Make, place: str | None) -> None:
    limits = make(redis_url=place, per_key="3/hour", per_ip="2/hour")
    limits.check("source:1", "203.0.113.1")
    limits.check("source:1", "203.0.113.1")
    assert refusal(limits, "source:1", "203.0.113.1").details["scope"] == "ip"
    # The IP refused that request before the key counted it: the key has one request left.
    limits.check("source:1", "203.0.113.2")
    assert refusal(limits, "source:1", "203.0.113.3").details["scope"] == "key"
    limits.check("source:2", "203.0.113.3")


def test_a_flood_from_one_ip_does_not_use_up_the_key(make: Make, place: str | None) -> None:
    limits = make(redis_url=place, per_key="5/hour", per_ip="1/hour")
    limits.check("source:1", "192.0.2.66")
    for _ in range(20):
        assert refusal(limits, "source:1", "192.0.2.66").details["scope"] == "ip"
    for visitor in range(4):
        limits.check("source:1", f"198.51.100.{visitor}")


def test_an_ipv6_client_is_counted_by_its_64_block(make: Make, place: str | None) -> None:
    limits = make(redis_url=place, per_ip="2/hour")
    limits.check("source:1", "2001:db8:1:2::1")
    limits.check("source:1", "2001:db8:1:2:ffff::9")
    error = refusal(limits, "source:1", "2001:db8:1:2:abcd::1")
    assert "IP 2001:db8:1:2::/64" in error.message
    limits.check("source:1", "2001:db8:1:3::1")  # the next /64: another subscriber
    limits.check("source:1", "::ffff:198.51.100.4")  # IPv4-mapped counts as the IPv4 address
    limits.check("source:1", "198.51.100.4")
    refusal(limits, "source:1", "198.51.100.4")


def test_several_windows_each_hold(make: Make, place: str | None) -> None:
    minute = make(redis_url=place, per_key="5/second;3/minute")
    for _ in range(3):
        minute.check("source:1", None)
    error = refusal(minute, "source:1", None)
    assert error.details["limit"] == "3/minute"
    assert 1 <= error.details["retry_after"] <= 60
    second = make(redis_url=place, per_key="2/second;10/minute")
    second.check("source:2", None)
    second.check("source:2", None)
    error = refusal(second, "source:2", None)
    assert error.details["limit"] == "2/second"
    assert error.details["retry_after"] == 1


def test_retry_after_says_when_a_request_passes_again(make: Make, place: str | None) -> None:
    limits = make(redis_url=place, per_key="2/second")
    error = None
    for _ in range(10):  # a window may end between two requests; one is refused soon anyway
        try:
            limits.check("source:1", None)
        except RateLimited as refused:
            error = refused
            break
    assert error is not None
    assert error.details["retry_after"] == 1
    time.sleep(error.details["retry_after"] + 0.1)
    limits.check("source:1", None)


def test_the_app_answers_429_with_retry_after() -> None:
    app = create_app(Settings(), cast(Services, object()))  # no lifespan: services unused

    @app.get("/limited")
    def limited() -> None:
        limits = RateLimits(redis_url=None, per_key="1/hour", per_ip="")
        limits.check(SECRET, None)
        limits.check(SECRET, None)

    answer = TestClient(app).get("/limited")
    assert answer.status_code == 429
    retry_after = answer.json()["error"]["retry_after"]
    assert answer.headers["retry-after"] == str(retry_after)
    assert int(answer.headers["retry-after"]) >= 1
    assert answer.json()["error"]["code"] == "rate_limited"
    assert SECRET not in answer.text


def test_workers_share_the_counters_through_redis(make: Make) -> None:
    one = make(redis_url=REDIS_URL, per_key="4/hour", per_ip="3/hour", workers=2)
    two = make(redis_url=REDIS_URL, per_key="4/hour", per_ip="3/hour", workers=2)
    assert one.shared and two.shared
    # With Redis the whole limit holds across processes, not a share of it.
    one.check("source:1", "203.0.113.1")
    two.check("source:1", "203.0.113.1")
    one.check("source:1", "203.0.113.2")
    two.check("source:1", "203.0.113.2")
    assert refusal(one, "source:1", "203.0.113.3").details["scope"] == "key"
    assert refusal(two, "source:1", "203.0.113.3").details["scope"] == "key"
    one.check("source:2", "203.0.113.1")
    assert refusal(two, "source:2", "203.0.113.1").details["scope"] == "ip"


def test_installations_sharing_a_redis_do_not_share_counters(make: Make, prefix: str) -> None:
    ours = make(redis_url=REDIS_URL, per_key="1/hour")
    theirs = make(redis_url=REDIS_URL, per_key="1/hour", prefix=f"{prefix}-other")
    ours.check("source:1", None)
    theirs.check("source:1", None)
    refusal(ours, "source:1", None)
    refusal(theirs, "source:1", None)


def test_redis_holds_neither_keys_nor_addresses(
    make: Make, prefix: str, redis_client: redis.Redis
) -> None:
    limits = make(redis_url=REDIS_URL, per_key="10/hour", per_ip="10/hour")
    limits.check(SECRET, "203.0.113.77")
    stored = [key.decode() for key in redis_client.scan_iter(match="*")]
    ours = [key for key in stored if key.startswith(f"{prefix}:")]
    assert len(ours) == 2
    assert not any("s3cr3t" in key or "203.0.113.77" in key for key in stored)


def test_without_redis_each_process_allows_its_share(make: Make) -> None:
    one = make(redis_url=None, per_key="10/hour", workers=3)
    two = make(redis_url=None, per_key="10/hour", workers=3)
    assert not one.shared
    for limits in (one, two):  # each of the 3 processes allows 10 // 3, counted alone
        for _ in range(3):
            limits.check("source:1", None)
        assert refusal(limits, "source:1", None).details["limit"] == "3/hour"
    tiny = make(redis_url=None, per_ip="2/hour", workers=4)
    tiny.check("source:1", "203.0.113.1")  # at least one per process
    refusal(tiny, "source:1", "203.0.113.1")


def test_unreachable_redis_falls_back_to_the_share(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    limits = make(redis_url=UNREACHABLE, per_key="4/hour", workers=2)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        limits.check("source:1", None)
        limits.check("source:1", None)
        error = refusal(limits, "source:1", None)
        for _ in range(20):
            refusal(limits, "source:1", None)
    assert error.details["limit"] == "2/hour"
    assert not limits.shared
    warnings = [r for r in caplog.records if r.name == LOGGER]
    assert len(warnings) == 1  # logged once, not per request
    assert "127.0.0.1:1" in warnings[0].getMessage()
    assert "1/2 of each limit" in warnings[0].getMessage()


def test_shared_counters_return_when_redis_answers_again(
    make: Make, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = make(redis_url=REDIS_URL, per_key="1/hour", workers=2, redis_retry_seconds=0.05)
    other = make(redis_url=REDIS_URL, per_key="1/hour", workers=2)
    pool = cast(redis.ConnectionPool, limits._pool)

    def refuse(*_: object, **__: object) -> redis.Connection:
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        monkeypatch.setattr(pool, "get_connection", refuse)
        limits.check("source:1", None)  # counted in this process only (1 // 2 -> 1)
        assert not limits.shared
        refusal(limits, "source:1", None)
        monkeypatch.undo()
        time.sleep(0.1)
        limits.check("source:2", None)  # Redis is tried again and answers
        assert limits.shared
    other.check("source:1", None)  # the outage's request was not counted in Redis
    refusal(other, "source:2", None)  # the one after it was
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(messages) == 2
    assert "unreachable" in messages[0] and "answers again" in messages[1]


def test_no_limits_means_no_checks(make: Make) -> None:
    limits = make(redis_url=UNREACHABLE, per_key="", per_ip=" ")
    assert not limits.enabled
    for _ in range(100):
        limits.check(SECRET, "203.0.113.1")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2000/second", ["2000 per 1 second"]),
        ("3000/minute; 100/second", ["100 per 1 second", "3000 per 1 minute"]),
        ("10 per 5 minutes", ["10 per 5 minute"]),
        ("", []),
    ],
)
def test_limit_strings_are_read(value: str, expected: list[str]) -> None:
    assert [repr(item) for item in parse_limits(value, setting="rate_limit_per_key")] == expected


@pytest.mark.parametrize("value", ["lots", "100/fortnight", "100/second,", "-1/second", "0/minute"])
def test_bad_limit_strings_are_refused_naming_the_setting(value: str) -> None:
    with pytest.raises(ValueError, match=r"^rate_limit_per_ip: .*(2000/second|at least 1)"):
        parse_limits(value, setting="rate_limit_per_ip")
    with pytest.raises(ValueError, match="rate_limit_per_key"):
        RateLimits(redis_url=None, per_key=value, per_ip="")


def test_the_validators_work_in_a_settings_model() -> None:
    class Limits(BaseModel):
        redis_url: str | None = None
        rate_limit_per_key: str = ""

        @field_validator("rate_limit_per_key")
        @classmethod
        def _limit(cls, value: str) -> str:
            return check_limit_setting(value, "RELEVO_RATE_LIMIT_PER_KEY")

        @field_validator("redis_url")
        @classmethod
        def _redis(cls, value: str | None) -> str | None:
            return check_redis_url(value, "RELEVO_REDIS_URL")

    assert Limits(rate_limit_per_key="100/second;3000/minute").rate_limit_per_key
    assert Limits(redis_url="").redis_url is None
    assert Limits(redis_url=REDIS_URL).redis_url == REDIS_URL
    with pytest.raises(ValidationError, match="RELEVO_RATE_LIMIT_PER_KEY: cannot read"):
        Limits(rate_limit_per_key="2000 a second")
    with pytest.raises(ValidationError, match="RELEVO_REDIS_URL: 'http://u:\\*\\*\\*@cache"):
        Limits(redis_url="http://u:hunter2@cache:6379")
    # The message hides the password; pydantic adds the input unless hide_input_in_errors is set.
    with pytest.raises(ValueError) as raised:
        check_redis_url("http://u:hunter2@cache:6379", "RELEVO_REDIS_URL")
    assert "hunter2" not in str(raised.value)
    with pytest.raises(ValueError, match="RELEVO_REDIS_URL: 'redis://cache:port'"):
        check_redis_url("redis://cache:port", "RELEVO_REDIS_URL")


def test_workers_and_strategy_are_checked() -> None:
    with pytest.raises(ValueError, match="workers must be at least 1"):
        RateLimits(redis_url=None, per_key="1/second", per_ip="", workers=0)
    with pytest.raises(ValueError, match="unknown strategy 'token-bucket'"):
        RateLimits(redis_url=None, per_key="1/second", per_ip="", strategy="token-bucket")
