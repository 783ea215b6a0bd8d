"""The conditions package's one error: a condition refused when it is saved.

    RelevoError (relevo.errors)
    └── InvalidCondition (400)   validate(): the message starts with the JSON path of the
                                 offending part, e.g. ``$.and[2].price.$gte: expected a number
                                 or string, got an object``

Evaluation never raises: a malformed condition evaluates to False with a reason.
"""

from __future__ import annotations

from relevo.errors import RelevoError


class InvalidCondition(RelevoError):
    code = "invalid_condition"

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}", path=path)
        self.path = path
        self.problem = problem
