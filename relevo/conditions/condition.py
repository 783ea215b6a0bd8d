"""A compiled condition: validated (or leniently read) once, evaluated many times."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relevo.conditions.extensions import Answer
from relevo.conditions.groups import SavedGroups
from relevo.conditions.nodes import Part, Run, describe
from relevo.conditions.outcome import Outcome


class Condition:
    """`source` is the condition as written (what to store and show back); `saved_groups` the
    group ids it refers to and `extension_uses` its (extension name, kept operand) pairs, so that
    deleting a group can report what depends on it and a caller can fetch what answers need."""

    __slots__ = ("_root", "extension_uses", "saved_groups", "source")

    def __init__(
        self,
        source: Any,
        root: Part,
        saved_groups: frozenset[str],
        extension_uses: tuple[tuple[str, Any], ...],
    ) -> None:
        self.source = source
        self._root = root
        self.saved_groups = saved_groups
        self.extension_uses = extension_uses

    def evaluate(
        self,
        document: Any,
        *,
        saved_groups: SavedGroups | Mapping[str, Any] | None = None,
        extensions: Mapping[str, Answer] | None = None,
    ) -> Outcome:
        """Never raises: whatever the document, the outcome is a bool and a reason."""
        run = Run(saved_groups, extensions)
        try:
            matched = self._root.test(document, run)
        except Exception as e:
            return Outcome(False, f"$: could not be evaluated ({type(e).__name__})")
        last = run.last
        return Outcome(matched, lambda: describe(last, matched))

    def matches(
        self,
        document: Any,
        *,
        saved_groups: SavedGroups | Mapping[str, Any] | None = None,
        extensions: Mapping[str, Answer] | None = None,
    ) -> bool:
        """`evaluate(...).matched` without writing the reason."""
        try:
            return self._root.test(document, Run(saved_groups, extensions))
        except Exception:
            return False

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"
