"""Evaluating a condition against one document (a profile, an event's properties, a product)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relevo.conditions.compiler import Compiler
from relevo.conditions.condition import Condition
from relevo.conditions.extensions import Answer
from relevo.conditions.groups import SavedGroups
from relevo.conditions.outcome import Outcome


def evaluate(
    condition: Any,
    document: Any,
    *,
    saved_groups: SavedGroups | Mapping[str, Any] | None = None,
    extensions: Mapping[str, Answer] | None = None,
) -> Outcome:
    """Whether `document` matches `condition`, and why. Never raises, whatever either is: a
    malformed condition (or part of one) does not match, and the reason says what is wrong.

    `condition` is condition JSON or a `Condition` from `validate` (compiled once: faster, and
    extension operands as the extension's validator kept them). `saved_groups` maps group ids to
    their values ($inGroup); `extensions` maps extension operators to the callables answering
    them for this document (see relevo.conditions.extensions)."""
    try:
        if isinstance(condition, Condition):
            compiled = condition
        else:
            lenient = Compiler(strict=False, extensions=dict.fromkeys(extensions or ()))
            compiled = lenient.compile(condition)
        return compiled.evaluate(document, saved_groups=saved_groups, extensions=extensions)
    except Exception as e:
        return Outcome(False, f"$: could not be evaluated ({type(e).__name__})")
