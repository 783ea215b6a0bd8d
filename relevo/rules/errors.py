"""The rules package's one error: a rule refused when it is saved.

    RelevoError (relevo.errors)
    └── InvalidRule (400)   parse_rule(): the message names the field, e.g.
                            ``condition.all.0.value: price lte: value must be a finite number``

Applying rules to a request never raises: a rule that cannot be applied is skipped, and the
trace says why (relevo.rules.engine).
"""

from __future__ import annotations

from relevo.errors import RelevoError


class InvalidRule(RelevoError):
    code = "invalid_rule"
