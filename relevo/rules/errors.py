"""The rules package's errors: a rule, or an account's terms, refused when saved.

    RelevoError (relevo.errors)
    ├── InvalidRule (400)   parse_rule(): the message names the field, e.g.
    │                       ``condition.all.0.value: price lte: value must be a finite number``
    └── InvalidTerms (400)  relevo.rules.account_terms: names the price or the CSV line, e.g.
                            ``line 3.price: 'cheap' is not a price like '15.00 USD'``

Applying rules to a request never raises: a rule that cannot be applied is skipped, and the
trace says why (relevo.rules.engine).
"""

from __future__ import annotations

from relevo.errors import RelevoError


class InvalidRule(RelevoError):
    code = "invalid_rule"


class InvalidTerms(RelevoError):
    code = "invalid_terms"
