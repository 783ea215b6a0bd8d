"""What evaluating a condition answers: whether it matched, and why."""

from __future__ import annotations

from collections.abc import Callable


class Outcome:
    """`reason` names the part that decided, e.g. ``$.and[1].price: 12 is not >= 50``. It may
    be given as a callable, written the first time it is read: most callers never read it."""

    __slots__ = ("_reason", "matched")

    def __init__(self, matched: bool, reason: str | Callable[[], str]) -> None:
        self.matched = matched
        self._reason = reason

    @property
    def reason(self) -> str:
        if not isinstance(self._reason, str):
            try:
                self._reason = self._reason()
            except Exception as e:
                self._reason = f"(the reason could not be written: {type(e).__name__})"
        return self._reason

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Outcome):
            return NotImplemented
        return (self.matched, self.reason) == (other.matched, other.reason)

    def __hash__(self) -> int:
        return hash((self.matched, self.reason))

    def __repr__(self) -> str:
        return f"Outcome(matched={self.matched!r}, reason={self.reason!r})"
