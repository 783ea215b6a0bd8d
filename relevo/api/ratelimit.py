"""Rate limits on the public endpoints, per source key and per client IP.

Limits are written in the notation of the ``limits`` library: ``"2000/second"``, several joined
by ``;`` (``"100/second;3000/minute"``), or ``""`` for none. A refused request raises
:class:`RateLimited` (429); the app's error handler turns its ``retry_after`` into the
``Retry-After`` header, on which Segment's SDKs back off.

Where the counters live:

- **Redis** (``redis_url`` set): one set of counters shared by every worker process and every
  server of the installation, under ``<prefix>:``, so several installations can share one Redis.
  Keys and IPs are stored only as short hashes, never the key itself.
- **No Redis**: each of the ``workers`` processes counts alone and allows its share of the limit
  (limit // workers, at least 1). The kernel spreads connections over the workers only roughly,
  so one client may be refused a little before it reaches the whole limit.
- **Redis unreachable or failing**: the check falls back to the per-process share, so the limit
  still holds approximately and no request fails because of Redis. Redis is tried again after
  ``redis_retry_seconds``; the switch is logged once as a warning (and again at most once a
  minute while it lasts), the recovery once.

The strategy is the sliding window counter (see ``bench/rate_limits.py`` for the costs measured
against the fixed and the moving window): constant memory per counter, no double burst at a
window boundary, and a refused request does not count against the client.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import redis
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import STRATEGIES, RateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry

from relevo.errors import RelevoError

log = logging.getLogger(__name__)

DEFAULT_STRATEGY = "sliding-window-counter"
REDIS_SCHEMES = ("redis", "rediss", "unix")
_OUTAGE_LOG_SECONDS = 60.0


class RateLimited(RelevoError):
    status_code = 429
    code = "rate_limited"


def parse_limits(value: str, *, setting: str) -> list[RateLimitItem]:
    """The limits of a setting, shortest window first; ``[]`` for an empty string.

    Raises ValueError naming the setting, for a pydantic field validator to pass on.
    """
    text = value.strip()
    if not text:
        return []
    try:
        items = parse_many(text)
    except ValueError:
        raise ValueError(
            f"{setting}: cannot read the rate limit {value!r}; write it like '2000/second' or "
            "'100/second;3000/minute' (amount/[n ]second|minute|hour|day), or '' for no limit"
        ) from None
    for item in items:
        if item.amount < 1:
            raise ValueError(
                f"{setting}: {item} would refuse every request; use an amount of at least 1, "
                "or '' for no limit"
            )
    return sorted(items, key=lambda item: item.get_expiry())


def check_limit_setting(value: str, setting: str) -> str:
    """For a pydantic ``field_validator``: the value unchanged if :func:`parse_limits` reads it."""
    parse_limits(value, setting=setting)
    return value


def check_redis_url(value: str | None, setting: str) -> str | None:
    """For a pydantic ``field_validator``: ``None``/``""`` (no Redis) or a Redis URL."""
    if not value:
        return None
    if urlsplit(value).scheme not in REDIS_SCHEMES:
        raise ValueError(
            f"{setting}: {_redacted(value)!r} is not a Redis URL; write it like "
            "'redis://host:6379/0' (or rediss://, unix://), or leave it empty for no Redis"
        )
    try:
        redis.ConnectionPool.from_url(value)
    except ValueError as error:
        raise ValueError(f"{setting}: {_redacted(value)!r}: {error}") from None
    return value


class _MemoryCounters(MemoryStorage):
    """``limits``' in-memory storage, its expired counters dropped inline once a second.

    The library's own storage starts a new thread (a 10 ms ``threading.Timer``) for that at
    nearly every hit once requests come more often than every 10 ms: ~180 us of CPU per request
    and a thread start that every request handler and the ingest writer waited on for the
    interpreter lock. Counts and limits are the library's, unchanged: a counter past its expiry
    reads as zero when it is next read, and the sweep here only frees the memory of the ones
    nobody reads again.
    """

    SWEEP_SECONDS = 1.0

    def __init__(self) -> None:
        super().__init__()
        self._next_sweep = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the library's (private) one
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.SWEEP_SECONDS
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _Scope:
    name: str  # "key" or "ip", also the namespace of its counters
    shared: list[RateLimitItem]  # the whole limits, counted in Redis
    share: list[RateLimitItem]  # this process's share, counted in memory


class RateLimits:
    """The rate limits of one process; ``check`` is safe to call from several threads.

    ``workers`` is the number of server processes, for the per-process share used without Redis
    (and while Redis is unreachable). ``prefix`` namespaces the Redis keys.
    """

    def __init__(
        self,
        *,
        redis_url: str | None,
        per_key: str,
        per_ip: str,
        workers: int = 1,
        prefix: str = "relevo",
        strategy: str = DEFAULT_STRATEGY,
        redis_timeout_seconds: float = 0.25,
        redis_retry_seconds: float = 5.0,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
        self._scopes = {
            name: _Scope(name, items, [_share(item, workers) for item in items])
            for name, items in (
                ("ip", parse_limits(per_ip, setting="rate_limit_per_ip")),
                ("key", parse_limits(per_key, setting="rate_limit_per_key")),
            )
        }
        self.enabled = any(scope.shared for scope in self._scopes.values())
        self.workers = workers
        self._local: RateLimiter = STRATEGIES[strategy](_MemoryCounters())
        self._redis: RateLimiter | None = None
        self._pool: redis.ConnectionPool | None = None
        self._redis_url = _redacted(redis_url or "")
        if redis_url and self.enabled:
            # No retries and short timeouts: a Redis outage must cost a request milliseconds,
            # not redis-py's default three retries with backoff.
            self._pool = redis.ConnectionPool.from_url(
                redis_url,
                socket_connect_timeout=redis_timeout_seconds,
                socket_timeout=redis_timeout_seconds,
                retry=Retry(NoBackoff(), 0),
            )
            storage = RedisStorage(redis_url, connection_pool=self._pool, key_prefix=prefix)
            self._redis = STRATEGIES[strategy](storage)
        self._retry_seconds = redis_retry_seconds
        self._lock = threading.Lock()
        self._down_until = 0.0  # monotonic; while in the future, Redis is not tried
        self._down_since: float | None = None
        self._logged_at = 0.0

    @property
    def shared(self) -> bool:
        """Whether the counters are currently the shared ones in Redis."""
        return self._redis is not None and self._down_since is None

    def check(self, key_id: str, client_ip: str | None) -> None:
        """Count one request of this key from this IP; raise RateLimited if over a limit.

        The IP is counted first, so a client refused by its own limit does not use up the key's
        limit shared by every visitor. ``client_ip`` None (a Unix socket) skips the IP limit.
        """
        if not self.enabled:
            return
        if client_ip is not None:
            bucket = _ip_bucket(client_ip)
            self._count(self._scopes["ip"], bucket, f"IP {bucket}")
        self._count(self._scopes["key"], key_id, f"key {_key_prefix(key_id)}")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.disconnect()

    def _count(self, scope: _Scope, identity: str, who: str) -> None:
        if not scope.shared:
            return
        counter = _counter_id(identity)
        limiter = self._live_redis()
        if limiter is not None:
            try:
                refusal = _refusal(limiter, scope.shared, scope.name, counter, who)
            except redis.RedisError as error:
                self._redis_failed(error)
            else:
                self._redis_ok()
                if refusal is not None:
                    raise refusal
                return
        refusal = _refusal(self._local, scope.share, scope.name, counter, who)
        if refusal is not None:
            raise refusal

    def _live_redis(self) -> RateLimiter | None:
        if self._redis is None or time.monotonic() < self._down_until:
            return None
        return self._redis

    def _redis_failed(self, error: redis.RedisError) -> None:
        now = time.monotonic()
        with self._lock:
            self._down_until = now + self._retry_seconds
            first = self._down_since is None
            if first:
                self._down_since = now
            if first or now - self._logged_at >= _OUTAGE_LOG_SECONDS:
                self._logged_at = now
                log.warning(
                    "rate limits: Redis at %s %s (%s: %s); each process enforces its share "
                    "(1/%d of each limit) until it answers, tried again every %g s",
                    self._redis_url,
                    "is unreachable" if first else "is still unreachable",
                    type(error).__name__,
                    error,
                    self.workers,
                    self._retry_seconds,
                )

    def _redis_ok(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            if self._down_since is None:
                return
            outage = time.monotonic() - self._down_since
            self._down_since = None
        log.warning(
            "rate limits: Redis at %s answers again after %.0f s; limits are shared again",
            self._redis_url,
            outage,
        )


def _refusal(
    limiter: RateLimiter,
    items: list[RateLimitItem],
    scope: str,
    counter: str,
    who: str,
) -> RateLimited | None:
    """Count one request against each limit; the error for the first that refuses it."""
    # Shortest window first: when a longer one refuses, the request has used up a unit of the
    # shorter windows only, and those come back soon.
    for item in items:
        if limiter.hit(item, scope, counter):
            continue
        reset = limiter.get_window_stats(item, scope, counter).reset_time
        retry_after = min(max(1, math.ceil(reset - time.time())), item.get_expiry())
        return RateLimited(
            f"rate limit of {_describe(item)} per {scope} exceeded for {who}; "
            f"retry after {retry_after} s",
            retry_after=retry_after,
            limit=_describe(item),
            scope=scope,
        )
    return None


def _share(item: RateLimitItem, workers: int) -> RateLimitItem:
    return type(item)(max(1, item.amount // workers), item.multiples, item.namespace)


def _describe(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return (
        f"{item.amount}/{unit}"
        if item.multiples == 1
        else f"{item.amount}/{item.multiples} {unit}s"
    )


def _key_prefix(key_id: str) -> str:
    # A public identifier ("source:12") is shown whole; anything as long as a key is cut short.
    return key_id if len(key_id) <= 16 else key_id[:6] + "..."


def _counter_id(identity: str) -> str:
    # A hash, so Redis never holds a key (secret or not) or a visitor's IP in clear.
    return hashlib.blake2b(identity.encode(), digest_size=12).hexdigest()


@lru_cache(maxsize=65536)
def _ip_bucket(client_ip: str) -> str:
    """The address a limit counts: an IPv6 client by its /64 (one subscriber gets a whole /64
    and can pick any address in it), an IPv4-mapped IPv6 address as IPv4."""
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return client_ip  # not an address (a test client's name): counted as it is
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return parts._replace(netloc=user + netloc).geturl()
