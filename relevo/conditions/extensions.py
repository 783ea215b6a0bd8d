"""Operators whose answer comes from outside the document, such as a behaviour operator
``{"$event": {"name": "Paywall Viewed", "within": "7d", "count": {"$gte": 3}}}`` answered from
per-person counters. They stand where ``$and`` stands: as a key of a condition object.

Two halves, because they live at different times:

- an `Extension` is registered once and passed to ``validate(condition, extensions=[...])``:
  its `check` validates the operand when a condition is saved and returns the operand to keep
  (normalised, e.g. "7d" as milliseconds, a nested ``where`` compiled with ``validate``);
- an `Answer` is supplied by the caller for each evaluation, in
  ``evaluate(..., extensions={"$event": answer})``: it is called with that kept operand and the
  document, and returns a bool or an `Outcome` (whose reason is then the condition's reason).
  An answer that is missing or raises makes that part false, with the reason; it never raises
  to the caller.

``Condition.extension_uses`` lists every (name, operand) a condition holds, so a caller can
fetch what the answers will need (the counters of the events named) before evaluating.
A raw, unvalidated condition passed to `evaluate` hands its operands to the answers as written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from relevo.conditions.outcome import Outcome

Answer = Callable[[Any, Any], "bool | Outcome"]
"""(operand, document) -> whether this part holds for the document."""


@dataclass(frozen=True)
class Extension:
    """`name` starts with "$"; `check(operand, path)` raises `InvalidCondition` (built with that
    path, or a path under it such as ``path + ".within"``) and returns the operand to keep."""

    name: str
    check: Callable[[Any, str], Any]

    def __post_init__(self) -> None:
        if not self.name.startswith("$") or self.name in ("$and", "$or", "$nor", "$not"):
            raise ValueError(f"an extension's name starts with '$' and is new: {self.name!r}")
