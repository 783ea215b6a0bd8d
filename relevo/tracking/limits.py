r"""The limits of the tracking API, in one place: the parser and the validator enforce them, the
README and the OpenAPI document quote them.

A limit is checked at the edge, the same way on SQLite and on PostgreSQL, before anything reaches
the database: a single call that breaks one gets a 400 naming the field and the limit (and the
message is quarantined); in a batch only the offending message is quarantined with that reason,
the others are stored.

==========================  =======================  ============================================
what                        limit                    over it
==========================  =======================  ============================================
request body, batch         500 KB (after gzip)      413, nothing stored
request body, one message   32 KB (after gzip)       413, nothing stored
one message of a batch      32 KB                    quarantined
messages in one batch       10,000                   400, nothing stored
messageId, anonymousId,     255 characters           quarantined (400 for a single call); an
userId, previousId,                                  integer id must fit in 64 bits, so its
groupId                                              decimal string always fits
event (track), name         255 characters           quarantined
(page, screen)
object keys, anywhere       255 characters           quarantined
(properties, traits,
context ...)
nesting of objects and      32 levels, the message   quarantined
arrays                      itself counting as one
integers                    signed 64-bit            quarantined
                            (-2**63 .. 2**63-1)
other numbers               finite (no NaN,          quarantined
                            Infinity, 1e400)
context.externalIds         an array of objects;     quarantined
                            ``type`` a kind as in
                            ``[a-z][a-z0-9_]{0,39}``
                            (lower-cased, ``-`` and
                            space read as ``_``),
                            ``id`` a non-empty
                            string or integer of at
                            most 255 characters
timestamp, after clock-     years 0001 to 9999       quarantined
skew correction
strings                     the message size         (see above)
NUL, lone UTF-16            replaced by U+FFFD       stored (neither database can hold them)
surrogates (``"\ud800"``)
body nesting                what the JSON parser     400, nothing stored
                            takes: 1,024 levels
                            (about 900 when the
                            body needs the second
                            parser, see below)
rejected messages stored    100 per request          the rest are reported by index and reason
in full                                              in the answer, and quarantined as one
                                                     summary entry (how many, counts per reason)
==========================  =======================  ============================================

A body is parsed with orjson. JSON that orjson refuses but Python's ``json`` reads (``NaN``,
``Infinity``, numbers beyond 64 bits or a double's range, lone surrogate escapes) is parsed again
with ``json``, so that only the message holding such a value is quarantined, not its batch. A body
that is not JSON at all is a 400 naming the problem.
"""

from __future__ import annotations

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_MESSAGES = 10_000

ID_FIELDS = ("messageId", "anonymousId", "userId", "previousId", "groupId")
MAX_ID_CHARS = 255
NAME_FIELDS = ("event", "name")
MAX_NAME_CHARS = 255
MAX_KEY_CHARS = 255
MAX_DEPTH = 32

MIN_INTEGER = -(2**63)
MAX_INTEGER = 2**63 - 1

EXTERNAL_ID_KIND_PATTERN = "[a-z][a-z0-9_]{0,39}"  # relevo.identity.identities.normalise_kind
MAX_EXTERNAL_ID_CHARS = 255

MIN_TIMESTAMP_MS = -62_135_596_800_000  # 0001-01-01T00:00:00Z
MAX_TIMESTAMP_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z

MAX_BODY_DEPTH = 1024  # orjson's own limit; see the module docstring

QUARANTINED_IN_FULL_PER_REQUEST = 100
