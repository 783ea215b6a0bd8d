"""Event collection: the Segment tracking spec, validated, deduplicated and stored durably.

Errors (each knows its HTTP status, see ``relevo.errors``):
    TrackingError
    ├── PayloadTooLarge   413  batch over 500 KB or one message over 32 KB
    ├── InvalidPayload    400  not JSON, not an object, no batch array, over 10,000 messages
    └── InvalidMessage    400  a single message that breaks the spec or a limit (quarantined)
    Overloaded            503  the writer's queue is full: retry with backoff
    └── StoreUnavailable  503  the database is down, full or locked: retry later

Limits: relevo.tracking.limits. Trust (what a browser key may assert): relevo.tracking.trust.
"""
