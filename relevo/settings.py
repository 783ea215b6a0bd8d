"""Typed settings, read from ``RELEVO_*`` environment variables.

Built by the app factory and the CLI, never at import time, so tests can run several
configurations in one process.
"""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from relevo.api.ratelimit import check_limit_setting, check_redis_url

DEFAULT_DATABASE_URL = "sqlite:///relevo.db"


class Settings(BaseSettings):
    # hide_input_in_errors: a rejected Redis or database URL may hold a password.
    model_config = SettingsConfigDict(
        env_prefix="RELEVO_", extra="forbid", hide_input_in_errors=True
    )

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL: sqlite:///path.db (embedded) or postgresql+psycopg://...",
    )
    database_schema: str | None = Field(
        None, description="PostgreSQL schema to use (tests give each run its own)."
    )
    sqlite_synchronous: str = Field(
        "FULL", description="SQLite PRAGMA synchronous; FULL survives power loss, not only kill -9."
    )
    session_timeout_minutes: int = Field(30, ge=1, description="Inactivity that ends a session.")
    lapsed_after_days: int = Field(
        300, ge=1, description="A customer with no order for this long is 'lapsed' (~10 months)."
    )
    interest_half_life_days: float = Field(
        30.0, gt=0, description="Half-life of the time decay of category and brand interest."
    )
    max_anonymous_ids_per_profile: int = Field(
        200, ge=1, description="Merge guard: a profile never absorbs more anonymous ids than this."
    )
    ingest_max_batch_messages: int = Field(
        2000, ge=1, description="Group commit: at most this many messages per transaction."
    )
    ingest_max_pending_requests: int = Field(
        256, ge=1, description="Back-pressure: requests waiting for the writer before 503."
    )
    materializer_interval_seconds: float = Field(
        0.05, gt=0, description="How often the profile materializer polls the event log."
    )
    materializer_chunk_events: int = Field(20000, ge=1, description="Events per materializer step.")
    run_materializer: bool = Field(
        True,
        description="Run the profile materializer and the audience job inside the API process "
        "(of several processes, one holds each lease).",
    )

    quarantine_retention_days: float = Field(
        30.0, gt=0, description="Quarantined (invalid) messages are deleted after this long."
    )

    models_dir: str = Field(
        "relevo-models",
        description="Folder of trained recommendation models (versioned; `relevo train` writes).",
    )
    models_check_seconds: float = Field(
        2.0, gt=0, description="How often a server looks for a newer model version to swap in."
    )
    recs_history_events: int = Field(
        50, ge=1, description="Latest product events of the visitor read per recommendation."
    )

    redis_url: str | None = Field(
        None,
        description="Redis shared by all workers and servers (rate-limit counters): "
        "redis://host:6379/0. Unset: each process enforces its share, limit / workers.",
    )
    rate_limit_per_key: str = Field(
        "3000/second",
        description="Requests per write key (limits notation, e.g. '100/second;3000/minute'; "
        "'' for none). The secret key is not limited.",
    )
    rate_limit_per_ip: str = Field(
        "1000/second",
        description="Requests per client IP made with a browser key (IPv6: per /64); '' for none.",
    )
    workers: int = Field(
        1, ge=1, description="Worker processes (set by `relevo serve --workers`): the share."
    )
    webhook_allow_private: bool = Field(
        False,
        description="Allow audience webhooks to loopback, private, link-local and other "
        "non-public addresses (an on-premise receiver); off, such URLs are refused (SSRF).",
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1,::1",
        description="Proxies whose X-Forwarded-For is believed for the client IP (never '*').",
    )

    @field_validator("rate_limit_per_key", "rate_limit_per_ip")
    @classmethod
    def _limits(cls, value: str, info: ValidationInfo) -> str:
        return check_limit_setting(value, f"RELEVO_{str(info.field_name).upper()}")

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        return check_redis_url(value, "RELEVO_REDIS_URL")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
