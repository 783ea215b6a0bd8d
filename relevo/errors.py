"""The root of Relevo's exception tree. Each error knows its HTTP status and a stable code;
the API turns any of them into one JSON shape: ``{"error": {"code": ..., "message": ...}}``.

    RelevoError
    ├── NotFound (404)          relevo.profiles: unknown identity
    ├── AuthError (401)         relevo.workspaces: bad or missing key
    ├── Forbidden (403)         relevo.api.auth: a key that may not do this
    ├── ConflictError (409)     relevo.workspaces: name taken
    ├── RateLimited (429)       relevo.api.ratelimit: a key or client IP over its limit
    ├── Overloaded (503)        relevo.tracking: writer queue full, retry later
    │   └── StoreUnavailable    the database is down, full or locked: retry later
    └── TrackingError (400)     relevo.tracking: PayloadTooLarge 413, InvalidPayload, InvalidMessage
"""

from __future__ import annotations

from typing import Any


class RelevoError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(RelevoError):
    status_code = 404
    code = "not_found"


class AuthError(RelevoError):
    status_code = 401
    code = "unauthorized"


class Forbidden(RelevoError):
    status_code = 403
    code = "forbidden"


class ConflictError(RelevoError):
    status_code = 409
    code = "conflict"


class Overloaded(RelevoError):
    status_code = 503
    code = "overloaded"


class StoreUnavailable(Overloaded):
    """The event store cannot commit now (connection lost or refused, disk full, locked, timed
    out); the request was not stored and may be retried as it is. Data the database refuses is
    not this: that message is quarantined with the database's reason."""

    code = "store_unavailable"


class TrackingError(RelevoError):
    code = "invalid_request"


class PayloadTooLarge(TrackingError):
    status_code = 413
    code = "payload_too_large"


class InvalidPayload(TrackingError):
    code = "invalid_payload"


class InvalidMessage(TrackingError):
    code = "invalid_message"
