"""The value-level parts of a compiled condition: each `check`s one attribute value against
one operator ($gt, $in, $regex, $elemMatch ...) or against a value it must equal, and records
itself in the `Run` as the part that decided."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from relevo.conditions.nodes import Part, Run, describe
from relevo.conditions.regex import search
from relevo.conditions.values import (
    Members,
    equal,
    json_type,
    loose_equal,
    order,
    padded_version,
    show,
)


class AllOps(Part):
    """Several operators on one value, all of which must hold: {"$gt": 30, "$lt": 60}."""

    __slots__ = ("checks",)

    def __init__(self, where: str, checks: tuple[Part, ...]) -> None:
        super().__init__(where)
        self.checks = checks

    def check(self, value: Any, run: Run) -> bool:
        return all(part.check(value, run) for part in self.checks)


class Equals(Part):
    __slots__ = ("casefold", "operand")

    def __init__(self, where: str, operand: Any, casefold: bool = False) -> None:
        super().__init__(where)
        self.operand = operand.lower() if casefold and isinstance(operand, str) else operand
        self.casefold = casefold and isinstance(operand, str)

    def check(self, value: Any, run: Run) -> bool:
        operand = self.operand
        kind = type(operand)
        if self.casefold:
            result = isinstance(value, str) and value.lower() == operand
        elif kind is str:
            result = isinstance(value, str) and value == operand
        elif operand is None or kind is bool:
            result = value is operand
        else:
            result = equal(value, operand)
        run.last = (self, value, result)
        return result

    def explain(self, detail: Any, result: bool) -> str:
        verb = "equals" if result else "does not equal"
        case = " (ignoring case)" if self.casefold else ""
        return f"{self.where}: {show(detail)} {verb} {show(self.operand)}{case}"


_ORDERED: dict[str, Callable[[int | None], bool]] = {
    "$lt": lambda o: o == -1,
    "$lte": lambda o: o == -1 or o == 0,
    "$gt": lambda o: o == 1,
    "$gte": lambda o: o == 1 or o == 0,
}
_SYMBOLS = {"$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">="}


def _phrase(op: str, result: bool) -> str:
    if op in ("$eq", "$ne"):
        return "equals" if result is (op == "$eq") else "does not equal"
    return f"{'is' if result else 'is not'} {_SYMBOLS[op]}"


_VERSIONS: dict[str, Callable[[str, str], bool]] = {
    "$veq": lambda a, b: a == b,
    "$vne": lambda a, b: a != b,
    "$vlt": lambda a, b: a < b,
    "$vlte": lambda a, b: a <= b,
    "$vgt": lambda a, b: a > b,
    "$vgte": lambda a, b: a >= b,
}


class Compare(Part):
    __slots__ = ("_holds", "op", "operand")

    def __init__(self, where: str, op: str, operand: Any) -> None:
        super().__init__(where)
        self.op = op
        self.operand = operand
        if op in _ORDERED:
            holds = _ORDERED[op]
            self._holds: Callable[[Any], bool] = lambda v: holds(order(v, operand))
        elif op == "$eq":
            self._holds = lambda v: loose_equal(v, operand)
        else:
            self._holds = lambda v: not loose_equal(v, operand)

    def check(self, value: Any, run: Run) -> bool:
        result = self._holds(value)
        run.last = (self, value, result)
        return result

    def explain(self, detail: Any, result: bool) -> str:
        return f"{self.where}: {show(detail)} {_phrase(self.op, result)} {show(self.operand)}"


class Version(Part):
    __slots__ = ("_holds", "op", "operand", "padded")

    def __init__(self, where: str, op: str, operand: Any) -> None:
        super().__init__(where)
        self.op = op
        self.operand = operand
        self.padded = padded_version(operand)
        self._holds = _VERSIONS[op]

    def check(self, value: Any, run: Run) -> bool:
        result = self._holds(padded_version(value), self.padded)
        run.last = (self, value, result)
        return result

    def explain(self, detail: Any, result: bool) -> str:
        phrase = _phrase("$" + self.op[2:], result)
        return f"{self.where}: version {show(detail)} {phrase} {show(self.operand)}"


class In(Part):
    __slots__ = ("members", "negate", "op", "operand")

    def __init__(self, where: str, op: str, operand: list[Any]) -> None:
        super().__init__(where)
        self.op = op
        self.operand = operand
        self.members = Members(operand, casefold=op in ("$ini", "$nini"))
        self.negate = op in ("$nin", "$nini")

    def check(self, value: Any, run: Run) -> bool:
        result = self.members.meets(value) is not self.negate
        run.last = (self, value, result)
        return result

    def explain(self, detail: Any, result: bool) -> str:
        inside = result is not self.negate
        verb = (
            ("shares an element with" if inside else "shares nothing with")
            if isinstance(detail, list)
            else ("is in" if inside else "is not in")
        )
        case = " (ignoring case)" if self.op.endswith("i") else ""
        return f"{self.where}: {show(detail)} {verb} {show(self.operand)}{case}"


class InGroup(Part):
    __slots__ = ("group", "negate")

    def __init__(self, where: str, group: str, negate: bool) -> None:
        super().__init__(where)
        self.group = group
        self.negate = negate

    def check(self, value: Any, run: Run) -> bool:
        members = run.group(self.group)
        inside = members is not None and members.meets(value)
        result = inside is not self.negate
        run.last = (self, (value, members is not None), result)
        return result

    def explain(self, detail: Any, result: bool) -> str:
        value, known = detail
        if not known:
            return f"{self.where}: saved group {self.group!r} is unknown here"
        inside = result is not self.negate
        verb = "is in" if inside else "is not in"
        return f"{self.where}: {show(value)} {verb} saved group {self.group!r}"


class Regex(Part):
    __slots__ = ("compiled", "negate", "pattern")

    def __init__(self, where: str, op: str, compiled: re.Pattern[str]) -> None:
        super().__init__(where)
        self.compiled = compiled
        self.pattern = compiled.pattern
        self.negate = op.startswith("$not")

    def check(self, value: Any, run: Run) -> bool:
        found = isinstance(value, str) and search(self.compiled, value)
        result = found is not self.negate
        run.last = (self, value, result)
        return result

    def explain(self, detail: Any, result: bool) -> str:
        case = "i" if self.compiled.flags & re.IGNORECASE else ""
        if not isinstance(detail, str):
            return f"{self.where}: {show(detail)} is not a string, so no /{self.pattern}/{case}"
        verb = "matches" if result is not self.negate else "does not match"
        return f"{self.where}: {show(detail)} {verb} /{self.pattern}/{case}"


class ElemMatch(Part):
    """Some element satisfies `inner`: a value condition, or a condition on element objects."""

    __slots__ = ("inner", "on_values")

    def __init__(self, where: str, inner: Part, on_values: bool) -> None:
        super().__init__(where)
        self.inner = inner
        self.on_values = on_values

    def check(self, value: Any, run: Run) -> bool:
        if isinstance(value, list):
            for i, item in enumerate(value):
                if self.inner.check(item, run) if self.on_values else self.inner.test(item, run):
                    run.last = (self, (i, run.last), True)
                    return True
        run.last = (self, value, False)
        return False

    def explain(self, detail: Any, result: bool) -> str:
        if result:
            index, inner = detail
            return f"{self.where}: element [{index}] matches ({describe(inner, True)})"
        if not isinstance(detail, list):
            return f"{self.where}: {show(detail)} is not an array"
        return f"{self.where}: no element of {show(detail)} matches"


class AllItems(Part):
    """$all / $alli: every item of the operand is matched by some element of the value."""

    __slots__ = ("items",)

    def __init__(self, where: str, items: tuple[Part, ...]) -> None:
        super().__init__(where)
        self.items = items

    def check(self, value: Any, run: Run) -> bool:
        if not isinstance(value, list):
            run.last = (self, (value, None), False)
            return False
        for index, item in enumerate(self.items):
            if not any(item.check(element, run) for element in value):
                run.last = (self, (value, index), False)
                return False
        run.last = (self, (value, None), True)
        return True

    def explain(self, detail: Any, result: bool) -> str:
        value, index = detail
        if result:
            return f"{self.where}: {show(value)} holds every item of $all"
        if index is None:
            return f"{self.where}: {show(value)} is not an array"
        return f"{self.where}: no element of {show(value)} matches $all[{index}]"


class Size(Part):
    __slots__ = ("inner",)

    def __init__(self, where: str, inner: Part) -> None:
        super().__init__(where)
        self.inner = inner

    def check(self, value: Any, run: Run) -> bool:
        if not isinstance(value, list):
            run.last = (self, value, False)
            return False
        return self.inner.check(len(value), run)

    def explain(self, detail: Any, result: bool) -> str:
        return f"{self.where}: {show(detail)} is not an array, so it has no $size"


class Exists(Part):
    __slots__ = ("wanted",)

    def __init__(self, where: str, wanted: bool) -> None:
        super().__init__(where)
        self.wanted = wanted

    def check(self, value: Any, run: Run) -> bool:
        result = (value is not None) is self.wanted
        run.last = (self, value, result)
        return result

    def explain(self, detail: Any, result: bool) -> str:
        if detail is None:
            return f"{self.where}: missing (or null)"
        return f"{self.where}: exists ({show(detail)})"


class Type(Part):
    __slots__ = ("name",)

    def __init__(self, where: str, name: Any) -> None:
        super().__init__(where)
        self.name = name

    def check(self, value: Any, run: Run) -> bool:
        result = bool(json_type(value) == self.name)
        run.last = (self, value, result)
        return result

    def explain(self, detail: Any, result: bool) -> str:
        kind = json_type(detail)
        if result:
            return f"{self.where}: {show(detail)} is of type {kind}"
        return f"{self.where}: {show(detail)} is of type {kind}, not {show(self.name)}"
