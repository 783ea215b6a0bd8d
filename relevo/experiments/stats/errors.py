"""What the statistics refuse. Inputs that cannot be analysed (no units, zero variance) are not
errors: the result says so with a reason. These are mistakes of the caller's.

    RelevoError
    └── StatisticsInputError (400)   invalid_statistics
        ├── MismatchedStatistics     the arms of one metric aggregated differently
        └── InvalidAllocation        a bandit's minimum shares or burn-in cannot be met
"""

from __future__ import annotations

from relevo.errors import RelevoError


class StatisticsInputError(RelevoError):
    code = "invalid_statistics"


class MismatchedStatistics(StatisticsInputError):
    code = "mismatched_statistics"


class InvalidAllocation(StatisticsInputError):
    code = "invalid_allocation"
