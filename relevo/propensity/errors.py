"""Errors of the propensity models.

RelevoError (relevo.errors)
└── PropensityError (400)
    └── InvalidCustomerSummary (400)  a summary or an orders table the models cannot use:
                                      negative counts, recency after T, non-positive spend...

A fit that does not converge is not an error: the fit result says so (``converged``, ``message``)
and the caller decides.
"""

from __future__ import annotations

from relevo.errors import RelevoError


class PropensityError(RelevoError):
    status_code = 400
    code = "propensity_error"


class InvalidCustomerSummary(PropensityError):
    code = "invalid_customer_summary"
