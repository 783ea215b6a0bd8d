"""Text as both databases can hold it, for every edge that takes text from outside."""

from __future__ import annotations

import re
from typing import Any

UNSTORABLE_CHARS = re.compile("[\x00\ud800-\udfff]")
DEFAULT_DEPTH = 64


def replace_unstorable(value: Any, max_depth: int = DEFAULT_DEPTH) -> Any:
    """``value`` with NUL characters and lone UTF-16 surrogates (valid JSON escapes such as
    ``"\\ud800"``, which no UTF-8 text can hold) replaced by U+FFFD, in keys and values:
    PostgreSQL cannot store either, and both backends must keep the same data (and find it by
    the same lookup).

    Objects and arrays nested deeper than ``max_depth`` are left as they are (a body may nest
    1,024 levels, past Python's recursion limit): whatever holds them breaks a nesting limit.
    """
    return _replaced(value, 0, max_depth)


def _replaced(value: Any, depth: int, max_depth: int) -> Any:
    if isinstance(value, str):
        return UNSTORABLE_CHARS.sub("\ufffd", value)
    if depth >= max_depth:
        return value
    if isinstance(value, dict):
        return {
            _replaced(k, depth, max_depth): _replaced(v, depth + 1, max_depth)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_replaced(v, depth + 1, max_depth) for v in value]
    return value
