"""Event collection: the Segment tracking spec, validated, deduplicated and stored durably.

Errors (each knows its HTTP status, see ``relevo.errors``):
    TrackingError
    ├── PayloadTooLarge   413  batch over 500 KB or one message over 32 KB
    ├── InvalidPayload    400  not JSON, not an object, no batch array
    └── InvalidMessage    400  a single message that breaks the spec (it is quarantined)
"""
