"""How condition operands meet document values: paths, JSON types, equality, ordering,
membership and version strings, as GrowthBook's SDKs define them (see the package docstring for
the few places where the SDKs disagree and which one is followed). Pure; never raises on JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

JSON_TYPES = ("string", "number", "boolean", "array", "object", "null")

_KINDS: dict[type, str] = {
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
    type(None): "null",
}
# A numeric string as JSON writes numbers (with surrounding blanks): no "inf", "nan", "0x1F",
# "1_000" or "", which Python's float() or JavaScript's Number() would also read.
_NUMERIC = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")
_DIGITS = re.compile(r"[0-9]+")
_VERSION_DROP = re.compile(r"^v|\+.*$", re.DOTALL)
_VERSION_SPLIT = re.compile(r"[-.]")


def json_type(value: Any) -> str:
    """GrowthBook's $type names; a missing attribute is "null"; anything not JSON "unknown"."""
    kind = _KINDS.get(type(value))
    if kind is not None:
        return kind
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    for cls, name in ((str, "string"), (list, "array"), (tuple, "array"), (dict, "object")):
        if isinstance(value, cls):
            return name
    return "unknown"


def get_path(document: Any, parts: tuple[str, ...]) -> Any:
    """The value at a dotted path, through objects only; None when any step is missing."""
    current = document
    for part in parts:
        if not isinstance(current, dict):
            return None
        current = current.get(part)
    return current


def is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float or json_type(value) == "number"


def equal(a: Any, b: Any) -> bool:
    """JSON equality: same type and same value, arrays in order, objects by key; 1 == 1.0,
    but true is not 1 and "1" is not 1 (that coercion belongs to $eq and the range operators)."""
    kind = json_type(a)
    if kind != json_type(b):
        return False
    if kind == "array":
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if kind == "object":
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except Exception:
        return False


def to_number(value: Any) -> float | int | None:
    """The number a value stands for when compared with a number, or None: a missing value
    counts as 0 and booleans as 0/1 (as both reference SDKs do), numeric strings as their value.
    """
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if is_number(value):
        return value  # type: ignore[no-any-return]
    if isinstance(value, str) and _NUMERIC.fullmatch(value):
        return float(value)
    return None


def order(a: Any, b: Any) -> int | None:
    """-1, 0 or 1 as GrowthBook's compare(); None when the two cannot be ordered (which makes
    every comparison false): a number against a non-numeric string, an array or an object, or
    two values of different non-numeric types."""
    if is_number(a) is not is_number(b):
        a, b = to_number(a), to_number(b)
        if a is None or b is None:
            return None
    elif not is_number(a):
        kind = json_type(a)
        if kind != json_type(b) or kind not in ("string", "boolean"):
            return None
    if a != a or b != b:  # NaN orders with nothing
        return None
    try:
        return 1 if a > b else -1 if a < b else 0
    except Exception:
        return None


def loose_equal(a: Any, b: Any) -> bool:
    """$eq: numeric when exactly one side is a number (so "8" $eq 8 as "8" $gte 8 and $lte 8),
    JSON equality otherwise."""
    if is_number(a) is not is_number(b):
        return order(a, b) == 0
    return equal(a, b)


def fold(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


_TRUE, _FALSE = object(), object()  # keys that keep true/false apart from 1/0 in a set


def _key(value: Any) -> Any:
    if value is True:
        return _TRUE
    if value is False:
        return _FALSE
    hash(value)  # raises TypeError for arrays and objects, which are looked up one by one
    return value


class Members:
    """A list as GrowthBook's isIn reads it, indexed once: `value in list`, or, when the value
    is itself an array, whether the two share an element. JSON equality; `casefold` compares
    strings ignoring case ($ini, $nini)."""

    __slots__ = ("_casefold", "_keys", "_others")

    def __init__(self, values: Iterable[Any], *, casefold: bool = False) -> None:
        self._casefold = casefold
        self._keys: set[Any] = set()
        self._others: list[Any] = []
        for value in values:
            value = fold(value) if casefold else value
            try:
                self._keys.add(_key(value))
            except TypeError:
                self._others.append(value)

    def has(self, value: Any) -> bool:
        if self._casefold:
            value = fold(value)
        try:
            if _key(value) in self._keys:
                return True
        except TypeError:
            pass
        return any(equal(value, other) for other in self._others)

    def meets(self, value: Any) -> bool:
        if isinstance(value, list):
            return any(self.has(v) for v in value)
        return self.has(value)


def padded_version(value: Any) -> str:
    """GrowthBook's paddedVersionString: "v1.2.3-rc.1+build" -> parts padded so that plain
    string order is version order; a release sorts after its pre-releases ("~")."""
    if isinstance(value, bool) or not (isinstance(value, str) or is_number(value)):
        text = "0"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value) or "0"
    parts = _VERSION_SPLIT.split(_VERSION_DROP.sub("", text))
    if len(parts) == 3:
        parts.append("~")
    return "-".join(p.rjust(5, " ") if _DIGITS.fullmatch(p) else p for p in parts)


def show(value: Any, budget: int = 60) -> str:
    """A short JSON-like rendering for reasons, bounded however large the value is."""
    text = _render(value, 3)
    return text if len(text) <= budget else text[: budget - 3] + "..."


def _render(value: Any, depth: int) -> str:
    kind = json_type(value)
    if kind == "string":
        return json.dumps(value[:80], ensure_ascii=False)
    if kind in ("number", "boolean", "null"):
        return json.dumps(value) if kind != "number" else repr(value)
    if kind == "array":
        if depth == 0:
            return "[...]"
        items = [_render(v, depth - 1) for v in list(value)[:6]]
        return "[" + ", ".join(items[:5]) + (", ...]" if len(items) > 5 else "]")
    if kind == "object":
        if depth == 0:
            return "{...}"
        keys = list(value)[:6]
        items = [f"{_render(str(k), 0)}: {_render(value[k], depth - 1)}" for k in keys]
        return "{" + ", ".join(items[:5]) + (", ...}" if len(items) > 5 else "}")
    return f"<{type(value).__name__}>"
