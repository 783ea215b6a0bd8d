"""The compiled parts of a condition. Condition-level parts (here) `test` a document;
value-level parts (relevo.conditions.checks) `check` one attribute value. Each records in the
`Run` the part that decided last, so the reason of an outcome is written once, at the end, and
only when asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relevo.conditions.extensions import Answer
from relevo.conditions.groups import SavedGroups, members_of
from relevo.conditions.outcome import Outcome
from relevo.conditions.values import Members, get_path

Last = tuple["Part", Any, bool]


class Run:
    """One evaluation: the caller's saved groups and extension answers, and what decided."""

    __slots__ = ("answers", "groups", "indexed", "last")

    def __init__(
        self,
        saved_groups: SavedGroups | Mapping[str, Any] | None,
        answers: Mapping[str, Answer] | None,
    ) -> None:
        self.groups = saved_groups if saved_groups is not None else {}
        self.answers = answers if answers is not None else {}
        self.indexed: dict[str, Members | None] = {}
        self.last: Last | None = None

    def group(self, name: str) -> Members | None:
        if isinstance(self.groups, SavedGroups):
            return self.groups.members(name)
        if name not in self.indexed:
            known = name in self.groups
            self.indexed[name] = members_of(self.groups[name]) if known else None
        return self.indexed[name]


def describe(last: Last | None, matched: bool) -> str:
    if last is None:
        return "matched" if matched else "did not match"
    part, detail, result = last
    return part.explain(detail, result)


class Part:
    __slots__ = ("where",)

    def __init__(self, where: str) -> None:
        self.where = where

    def explain(self, detail: Any, result: bool) -> str:
        return f"{self.where}: {'matched' if result else 'did not match'}"

    def test(self, document: Any, run: Run) -> bool:
        raise NotImplementedError

    def check(self, value: Any, run: Run) -> bool:
        raise NotImplementedError


class Never(Part):
    """A part that cannot be satisfied: a malformed operand, an unknown operator."""

    __slots__ = ("why",)

    def __init__(self, where: str, why: str) -> None:
        super().__init__(where)
        self.why = why

    def test(self, document: Any, run: Run) -> bool:
        run.last = (self, None, False)
        return False

    def check(self, value: Any, run: Run) -> bool:
        return self.test(value, run)

    def explain(self, detail: Any, result: bool) -> str:
        return f"{self.where}: {self.why}"


# Condition level ------------------------------------------------------------------------------


class AllOf(Part):
    __slots__ = ("children",)

    def __init__(self, where: str, children: tuple[Part, ...]) -> None:
        super().__init__(where)
        self.children = children

    def test(self, document: Any, run: Run) -> bool:
        for child in self.children:
            if not child.test(document, run):
                return False
        run.last = (self, None, True)
        return True

    def explain(self, detail: Any, result: bool) -> str:
        n = len(self.children)
        return f"{self.where}: " + ("empty, matches everything" if not n else f"all {n} matched")


class AnyOf(Part):
    __slots__ = ("children",)

    def __init__(self, where: str, children: tuple[Part, ...]) -> None:
        super().__init__(where)
        self.children = children

    def test(self, document: Any, run: Run) -> bool:
        if not self.children:
            run.last = (self, None, True)
            return True
        for child in self.children:
            if child.test(document, run):
                return True
        run.last = (self, run.last, False)
        return False

    def explain(self, detail: Any, result: bool) -> str:
        if result:
            return f"{self.where}: empty, matches everything"
        return f"{self.where}: no alternative matched (last: {describe(detail, False)})"


class NoneOf(Part):
    __slots__ = ("children",)

    def __init__(self, where: str, children: tuple[Part, ...]) -> None:
        super().__init__(where)
        self.children = children

    def test(self, document: Any, run: Run) -> bool:
        for child in self.children:
            if child.test(document, run):
                run.last = (self, run.last, False)
                return False
        # GrowthBook's $nor is "not $or", and an empty $or matches: so an empty $nor does not.
        run.last = (self, None, bool(self.children))
        return bool(self.children)

    def explain(self, detail: Any, result: bool) -> str:
        if result:
            return f"{self.where}: none of {len(self.children)} matched"
        if detail is None:
            return f"{self.where}: empty, matches nothing"
        return f"{self.where}: one matched: {describe(detail, True)}"


class Not(Part):
    """$not of a condition (condition level) or of a value condition (value level)."""

    __slots__ = ("inner",)

    def __init__(self, where: str, inner: Part) -> None:
        super().__init__(where)
        self.inner = inner

    def test(self, document: Any, run: Run) -> bool:
        result = not self.inner.test(document, run)
        run.last = (self, run.last, result)
        return result

    def check(self, value: Any, run: Run) -> bool:
        result = not self.inner.check(value, run)
        run.last = (self, run.last, result)
        return result

    def explain(self, detail: Any, result: bool) -> str:
        return f"{self.where}: not ({describe(detail, not result)})"


class Field(Part):
    __slots__ = ("first", "inner", "key", "rest")

    def __init__(self, where: str, key: str, inner: Part) -> None:
        super().__init__(where)
        self.key = key
        self.first, *rest = key.split(".")
        self.rest = tuple(rest)
        self.inner = inner

    def test(self, document: Any, run: Run) -> bool:
        value = document.get(self.first) if isinstance(document, dict) else None
        if self.rest:
            value = get_path(value, self.rest)
        return self.inner.check(value, run)


class Extension(Part):
    __slots__ = ("name", "operand")

    def __init__(self, where: str, name: str, operand: Any) -> None:
        super().__init__(where)
        self.name = name
        self.operand = operand

    def test(self, document: Any, run: Run) -> bool:
        answer = run.answers.get(self.name)
        if answer is None:
            run.last = (self, f"no answer for {self.name} was given to this evaluation", False)
            return False
        try:
            got = answer(self.operand, document)
        except Exception as e:
            run.last = (self, f"{self.name} could not be answered ({type(e).__name__}: {e})", False)
            return False
        if isinstance(got, Outcome):
            run.last = (self, got.reason, got.matched is True)
            return got.matched is True
        if isinstance(got, bool):
            run.last = (self, None, got)
            return got
        run.last = (self, f"{self.name} answered a {type(got).__name__}, not a bool", False)
        return False

    def explain(self, detail: Any, result: bool) -> str:
        if detail is None:
            return f"{self.where}: {'holds' if result else 'does not hold'}"
        return f"{self.where}: {detail}"
