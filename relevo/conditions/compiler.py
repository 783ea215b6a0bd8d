"""From condition JSON to a `Condition`, in one of two modes sharing every rule:

- strict (`validate`): the first problem raises `InvalidCondition` with the JSON path of the
  offending part;
- lenient (`evaluate` on a raw condition): a malformed part becomes a part that never matches,
  with the problem as its reason, where GrowthBook's SDKs answer false. It never raises.

Strict mode also refuses what GrowthBook would quietly read as never matching or as an
attribute: an unknown "$" key at condition level (GrowthBook reads `{"$groups": ...}` as an
attribute named "$groups"), an object mixing operators and field names, operands of the wrong
type, and anything over the limits below.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Collection, Mapping
from typing import Any

from relevo.conditions import checks, nodes
from relevo.conditions.condition import Condition
from relevo.conditions.errors import InvalidCondition
from relevo.conditions.extensions import Extension
from relevo.conditions.regex import compile_pattern
from relevo.conditions.values import JSON_TYPES, json_type

MAX_DEPTH = 32  # nested objects and arrays
MAX_PARTS = 5_000  # objects, arrays and values in one condition
MAX_STRING = 2_048
MAX_FIELD = 256

LOGICAL = ("$and", "$or", "$nor", "$not")
COMPARISONS = ("$eq", "$ne", "$lt", "$lte", "$gt", "$gte")
VERSIONS = ("$veq", "$vne", "$vlt", "$vlte", "$vgt", "$vgte")
LISTS = ("$in", "$nin", "$ini", "$nini")
REGEXES = ("$regex", "$regexi", "$notRegex", "$notRegexi")
GROUPS = ("$inGroup", "$notInGroup")
OPERATORS = (
    *COMPARISONS,
    *LISTS,
    "$all",
    "$alli",
    "$elemMatch",
    "$size",
    "$exists",
    "$type",
    "$not",
    *REGEXES,
    *VERSIONS,
    *GROUPS,
)
_SIMPLE_KEY = re.compile(r"[A-Za-z0-9_$@:\-.]+")


@functools.lru_cache(maxsize=4096)
def step(path: str, key: str) -> str:
    """The JSON path of a key under `path`: logical operators without their "$"
    (``$.and[2]``), fields and operators as written (``$.price.$gte``)."""
    if key in LOGICAL:
        return f"{path}.{key[1:]}"
    return f"{path}.{key}" if _SIMPLE_KEY.fullmatch(key) else f"{path}[{_quote(key)}]"


def op_step(path: str, op: str) -> str:
    """The JSON path of an operator of a value condition: ``$.name.$not``."""
    return f"{path}.{op}" if _SIMPLE_KEY.fullmatch(op) else f"{path}[{_quote(op)}]"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def kind_of(value: Any) -> str:
    kind = json_type(value)
    return {"array": "an array", "object": "an object", "null": "null"}.get(
        kind, f"a {kind}" if kind != "unknown" else f"a {type(value).__name__}"
    )


def _oversized(condition: Any, root: str, strict: bool) -> tuple[str, str] | None:
    """The first part over a limit (or, strictly, not JSON): (path, problem). Iterative, so a
    condition of any depth is measured without recursion."""
    if not strict and _within_limits(condition):
        return None
    stack: list[tuple[Any, int, str]] = [(condition, 1, root)]
    parts = 0
    while stack:
        value, depth, path = stack.pop()
        parts += 1
        if parts > MAX_PARTS:
            return root, f"the condition has more than {MAX_PARTS} parts"
        if depth > MAX_DEPTH:
            return path, f"the condition is nested deeper than {MAX_DEPTH} levels"
        if isinstance(value, dict):
            for key, item in reversed(value.items()):
                if strict and not isinstance(key, str):
                    return path, f"keys are strings, got {kind_of(key)}"
                stack.append((item, depth + 1, step(path, key) if strict else path))
        elif isinstance(value, list):
            for i in range(len(value) - 1, -1, -1):
                stack.append((value[i], depth + 1, f"{path}[{i}]" if strict else path))
        elif strict:
            kind = json_type(value)
            if kind == "unknown":
                return path, f"not a JSON value: {kind_of(value)}"
            if kind == "string" and len(value) > MAX_STRING:
                return path, f"a string is at most {MAX_STRING} characters"
            if kind == "number" and not math.isfinite(value):
                return path, "not a finite number"
    return None


def _within_limits(condition: Any) -> bool:
    """The lenient reading's quick measure: no paths, no types."""
    if not isinstance(condition, dict | list):
        return True
    stack: list[tuple[Any, int]] = [(condition, 1)]
    parts = 0
    while stack:
        value, depth = stack.pop()
        parts += 1
        items = value.values() if isinstance(value, dict) else value
        if items and depth >= MAX_DEPTH:
            return False
        for item in items:
            if isinstance(item, dict | list):
                stack.append((item, depth + 1))
            else:
                parts += 1
        if parts > MAX_PARTS:
            return False
    return True


class Compiler:
    def __init__(
        self,
        *,
        strict: bool,
        extensions: Mapping[str, Extension | None],
        known_groups: Collection[str] | None = None,
    ) -> None:
        self.strict = strict
        self.extensions = extensions
        self.known_groups = known_groups
        self.groups: set[str] = set()
        self.uses: list[tuple[str, Any]] = []

    def compile(self, condition: Any, root: str = "$") -> Condition:
        problem = _oversized(condition, root, self.strict)
        if problem is not None:
            top: nodes.Part = self.refuse(*problem)
        else:
            top = self.condition(condition, root)
        return Condition(condition, top, frozenset(self.groups), tuple(self.uses))

    def refuse(self, path: str, problem: str) -> nodes.Part:
        if self.strict:
            raise InvalidCondition(path, problem)
        return nodes.Never(path, problem)

    # Condition level: keys are logical operators, extensions or attribute paths -----------

    def condition(self, condition: Any, path: str) -> nodes.Part:
        if not isinstance(condition, dict):
            return self.refuse(path, f"a condition is a JSON object, got {kind_of(condition)}")
        parts = [self.entry(key, value, path) for key, value in condition.items()]
        return parts[0] if len(parts) == 1 else nodes.AllOf(path, tuple(parts))

    def entry(self, key: Any, value: Any, path: str) -> nodes.Part:
        if not isinstance(key, str):
            return self.refuse(path, f"field names are strings, got {kind_of(key)}")
        here = step(path, key)
        if key == "$not":
            return nodes.Not(here, self.condition(value, here))
        if key in LOGICAL:
            if not isinstance(value, list):
                return self.refuse(here, f"expected an array of conditions, got {kind_of(value)}")
            children = tuple(self.condition(c, f"{here}[{i}]") for i, c in enumerate(value))
            kind = {"$and": nodes.AllOf, "$or": nodes.AnyOf, "$nor": nodes.NoneOf}[key]
            return kind(here, children)
        if key in self.extensions:
            spec = self.extensions[key]
            kept = self.extension_operand(spec, value, here)
            self.uses.append((key, kept))
            return nodes.Extension(here, key, kept)
        if self.strict:
            self.check_field(key, here)
        return nodes.Field(here, key, self.value(value, here))

    def extension_operand(self, spec: Extension | None, value: Any, here: str) -> Any:
        if not self.strict or spec is None:
            return value
        try:
            return spec.check(value, here)
        except InvalidCondition:
            raise
        except (ValueError, TypeError) as e:  # e.g. parse_duration's message
            raise InvalidCondition(here, str(e)) from None

    def check_field(self, key: str, here: str) -> None:
        if key.startswith("$"):
            known = ", ".join((*LOGICAL, *self.extensions))
            self.refuse(here, f"unknown operator at condition level; use one of {known}")
        if not key or len(key) > MAX_FIELD or "" in key.split("."):
            self.refuse(here, f"a field is a dotted path of names, at most {MAX_FIELD} long")

    # Value level: an operator object, or a value the attribute must equal ------------------

    def value(self, operand: Any, here: str, casefold: bool = False) -> nodes.Part:
        if isinstance(operand, dict) and operand:
            ops = [k for k in operand if isinstance(k, str) and k.startswith("$")]
            if len(ops) == len(operand):
                each = tuple(self.operator(op, arg, here) for op, arg in operand.items())
                return each[0] if len(each) == 1 else checks.AllOps(here, each)
            if ops and self.strict:
                self.refuse(
                    op_step(here, ops[0]),
                    "an object mixes operators and field names; to test fields of an "
                    "attribute use dotted paths (address.city) or $elemMatch",
                )
        return checks.Equals(here, operand, casefold)

    def operator(self, op: str, arg: Any, here: str) -> nodes.Part:
        at = op_step(here, op)
        if op in COMPARISONS:
            if self.strict and op not in ("$eq", "$ne") and not _orderable(arg):
                return self.refuse(at, f"expected a number or string, got {kind_of(arg)}")
            return checks.Compare(here, op, arg)
        if op in VERSIONS:
            if self.strict and not _orderable(arg):
                return self.refuse(at, f"expected a version string, got {kind_of(arg)}")
            return checks.Version(here, op, arg)
        if op in LISTS:
            if not isinstance(arg, list):
                return self.refuse(at, f"expected an array, got {kind_of(arg)}")
            return checks.In(here, op, arg)
        if op in ("$all", "$alli"):
            if not isinstance(arg, list):
                return self.refuse(at, f"expected an array, got {kind_of(arg)}")
            items = (self.value(a, f"{at}[{i}]", op == "$alli") for i, a in enumerate(arg))
            return checks.AllItems(here, tuple(items))
        if op == "$elemMatch":
            return self.elem_match(arg, here, at)
        if op == "$size":
            if self.strict and not (_is_count(arg) or _is_operators(arg)):
                return self.refuse(at, f"expected a whole number or operators, got {kind_of(arg)}")
            return checks.Size(here, self.value(arg, at))
        if op == "$exists":
            if self.strict and not isinstance(arg, bool):
                return self.refuse(at, f"expected true or false, got {kind_of(arg)}")
            return checks.Exists(here, bool(arg))
        if op == "$type":
            if self.strict and arg not in JSON_TYPES:
                return self.refuse(at, f"expected one of {', '.join(JSON_TYPES)}, got {arg!r}")
            return checks.Type(here, arg)
        if op == "$not":
            return nodes.Not(here, self.value(arg, at))
        if op in REGEXES:
            return self.regex(op, arg, here, at)
        if op in GROUPS:
            return self.group(op, arg, here, at)
        if op in LOGICAL:
            problem = f"{op} combines conditions, not operators: an object of only '$' keys is "
            return self.refuse(at, problem + "a value's operators (name a field under it)")
        return self.refuse(at, f"unknown operator; use one of {', '.join(OPERATORS)}")

    def elem_match(self, arg: Any, here: str, at: str) -> nodes.Part:
        if not isinstance(arg, dict):
            return self.refuse(at, f"expected an object, got {kind_of(arg)}")
        if _is_operators(arg):
            return checks.ElemMatch(here, self.value(arg, at), on_values=True)
        return checks.ElemMatch(here, self.condition(arg, at), on_values=False)

    def regex(self, op: str, arg: Any, here: str, at: str) -> nodes.Part:
        if not isinstance(arg, str):
            return self.refuse(at, f"expected a regular expression (a string), got {kind_of(arg)}")
        compiled = compile_pattern(arg, op.endswith("i"))
        if isinstance(compiled, str):
            return self.refuse(at, compiled)
        return checks.Regex(here, op, compiled)

    def group(self, op: str, arg: Any, here: str, at: str) -> nodes.Part:
        if not isinstance(arg, str) or (self.strict and not arg):
            return self.refuse(at, f"expected a saved group id (a string), got {kind_of(arg)}")
        if self.strict and self.known_groups is not None and arg not in self.known_groups:
            return self.refuse(at, f"no saved group {arg!r}")
        self.groups.add(arg)
        return checks.InGroup(here, arg, negate=op == "$notInGroup")


def _orderable(arg: Any) -> bool:
    return json_type(arg) in ("number", "string")


def _is_count(arg: Any) -> bool:
    return json_type(arg) == "number" and arg >= 0 and float(arg).is_integer()


def _is_operators(arg: Any) -> bool:
    return (
        isinstance(arg, dict)
        and bool(arg)
        and all(isinstance(k, str) and k.startswith("$") for k in arg)
    )
