"""Errors of the recommendation API.

RelevoError (relevo.errors)
├── UnknownStrategy (400)     the strategy name is not one of relevo.recs.strategies
└── IdentityNotAllowed (403)  the public write key asked about someone else than its visitor
"""

from __future__ import annotations

from relevo.errors import RelevoError


class UnknownStrategy(RelevoError):
    status_code = 400
    code = "unknown_strategy"


class IdentityNotAllowed(RelevoError):
    status_code = 403
    code = "forbidden"
