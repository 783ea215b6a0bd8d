"""The second interpreter of a condition: over a table of profiles at once (preview, members,
export), column by column with numpy, where `Condition.matches` judges one document.

A condition's tree is read as the compiler reads it; each leaf (a path and its operators)
becomes a column of the path's values. A leaf whose column is "clean" for its operator (all
numbers or null for a comparison with a number, all strings or null for equality or $in of
strings, all booleans for equality with a boolean, any column for $exists) is a numpy
operation on the column; any other leaf (regex, versions, arrays, mixed types) and every
``$event`` are judged row by row by the per-person interpreter, on that leaf only. A test over
generated conditions and profiles (tests/test_audiences_vectorised.py) pins that both
interpreters give the same members.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from relevo.audiences.behaviour import EventQuery, measure
from relevo.conditions import Condition, validate
from relevo.conditions.extensions import Extension

Mask = npt.NDArray[np.bool_]
_COMPARE = {
    "$eq": np.equal,
    "$ne": np.not_equal,
    "$lt": np.less,
    "$lte": np.less_equal,
    "$gt": np.greater,
    "$gte": np.greater_equal,
}


class Table:
    """A chunk of profiles, row for row: their computed states, and their documents, made
    only when a path of the condition needs them (a behaviour condition reads only the
    counters)."""

    def __init__(
        self,
        documents: Sequence[dict[str, Any]] | Callable[[], Sequence[dict[str, Any]]],
        computed: Sequence[dict[str, Any]],
        now_ms: int,
        timeout_ms: int,
    ) -> None:
        self._documents = documents
        self.computed = computed
        self.now_ms = now_ms
        self.timeout_ms = timeout_ms
        self._columns: dict[str, list[Any]] = {}

    def __len__(self) -> int:
        return len(self.computed)

    @property
    def documents(self) -> Sequence[dict[str, Any]]:
        if callable(self._documents):
            self._documents = self._documents()
        return self._documents

    def column(self, path: str) -> list[Any]:
        found = self._columns.get(path)
        if found is None:
            parts = path.split(".")
            found = []
            for document in self.documents:
                value: Any = document
                for part in parts:
                    value = value.get(part) if isinstance(value, dict) else None
                found.append(value)
            self._columns[path] = found
        return found


@dataclass(frozen=True)
class Needs:
    """What of a profile a condition reads: document paths (then the whole document is made)
    and the event names of its behaviour operators (their counters only)."""

    paths: frozenset[str]
    events: frozenset[str]


def needs(source: Any) -> Needs:
    paths: set[str] = set()
    events: set[str] = set()

    def visit(condition: Any) -> None:
        if not isinstance(condition, dict):
            return
        for key, value in condition.items():
            if key in ("$and", "$or", "$nor") and isinstance(value, list):
                for child in value:
                    visit(child)
            elif key == "$not":
                visit(value)
            elif key == "$event" and isinstance(value, dict):
                events.add(str(value.get("name")))
            elif not key.startswith("$"):
                paths.add(key)

    visit(source)
    return Needs(frozenset(paths), frozenset(events))


def _is_number(value: Any) -> bool:
    return (type(value) is int or type(value) is float) and value == value


def _numbers(values: list[Any]) -> npt.NDArray[np.float64] | None:
    """The column as floats with null as 0 (GrowthBook's reading), or None when unclean."""
    if not all(v is None or _is_number(v) for v in values):
        return None
    return np.array([0.0 if v is None else float(v) for v in values], dtype=np.float64)


def _strings(values: list[Any]) -> bool:
    return all(v is None or type(v) is str for v in values)


class Leaf:
    """One path with one operator (or a plain value), judged over a table."""

    def __init__(self, path: str, op: str | None, arg: Any, extensions: list[Extension]) -> None:
        self.path, self.op, self.arg = path, op, arg
        spec = arg if op is None else {op: arg}
        self.fallback = validate({path: spec}, extensions)

    def mask(self, table: Table) -> Mask:
        values = table.column(self.path)
        found = self._vectorised(values)
        if found is not None:
            return found
        matches = self.fallback.matches
        return np.fromiter(
            (matches(document) for document in table.documents), dtype=np.bool_, count=len(table)
        )

    def _vectorised(self, values: list[Any]) -> Mask | None:
        op, arg = self.op, self.arg
        if op == "$exists" and isinstance(arg, bool):
            present = np.fromiter(
                (v is not None for v in values), dtype=np.bool_, count=len(values)
            )
            return present if arg else ~present
        if op in _COMPARE and _is_number(arg):
            numbers = _numbers(values)
            if numbers is not None:
                return np.asarray(_COMPARE[op](numbers, float(arg)), dtype=np.bool_)
            return None
        if op is None and type(arg) is str and _strings(values):
            return np.array(values, dtype=object) == arg  # type: ignore[no-any-return]
        if op is None and type(arg) is bool and all(type(v) is bool for v in values):
            return np.array(values, dtype=np.bool_) == arg  # type: ignore[no-any-return]
        if op is None and _is_number(arg) and all(_is_number(v) for v in values):
            return np.array(values, dtype=np.float64) == float(arg)  # type: ignore[no-any-return]
        if (
            op in ("$in", "$nin")
            and isinstance(arg, list)
            and all(type(a) is str for a in arg)
            and _strings(values)
        ):
            wanted = set(arg)
            inside = np.fromiter((v in wanted for v in values), dtype=np.bool_, count=len(values))
            return inside if op == "$in" else ~inside
        return None


Node = Callable[[Table], Mask]


class Vectorised:
    """A condition compiled for tables; `mask(table)` says which rows match."""

    def __init__(self, condition: Condition, extensions: Sequence[Extension] = ()) -> None:
        self.extensions = list(extensions)
        self._root = self._condition(condition.source)

    def mask(self, table: Table) -> Mask:
        if len(table) == 0:
            return np.zeros(0, dtype=np.bool_)
        return self._root(table)

    def _condition(self, source: Any) -> Node:
        parts = [self._entry(key, value) for key, value in source.items()]
        return _all(parts)

    def _entry(self, key: str, value: Any) -> Node:
        if key in ("$and", "$or", "$nor"):
            children = [self._condition(c) for c in value]
            if key == "$and":
                return _all(children)
            either = _any(children)
            return either if key == "$or" else (lambda t: ~either(t))
        if key == "$not":
            inner = self._condition(value)
            return lambda t: ~inner(t)
        if key.startswith("$"):
            return self._extension(key, value)
        if isinstance(value, dict) and value and all(k.startswith("$") for k in value):
            return _all([Leaf(key, op, arg, self.extensions).mask for op, arg in value.items()])
        return Leaf(key, None, value, self.extensions).mask

    def _extension(self, key: str, value: Any) -> Node:
        """A behaviour operator: its measure (count, sum, days since) for every row from the
        counters, then its comparison over that column, vectorised like any other."""
        compiled = validate({key: value}, self.extensions)
        query = compiled.extension_uses[0][1] if compiled.extension_uses else None
        if not isinstance(query, EventQuery):
            return lambda table: np.zeros(len(table), dtype=np.bool_)
        comparison = Vectorised(query.test)

        def rows(table: Table) -> Mask:
            now, timeout = table.now_ms, table.timeout_ms
            measured = [{"v": measure(query, c, now, timeout)} for c in table.computed]
            return comparison.mask(Table(measured, table.computed, now, timeout))

        return rows


def _all(nodes: list[Node]) -> Node:
    if len(nodes) == 1:
        return nodes[0]

    def both(table: Table) -> Mask:
        result = np.ones(len(table), dtype=np.bool_)
        for node in nodes:
            result &= node(table)
        return result

    return both


def _any(nodes: list[Node]) -> Node:
    def either(table: Table) -> Mask:
        result = np.zeros(len(table), dtype=np.bool_)
        for node in nodes:
            result |= node(table)
        return result

    return either
