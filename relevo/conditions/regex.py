"""Regular expressions a saved condition may hold, and how they are run, so that no pattern can
slow a request. Python's `re` backtracks and has no timeout, so the bound is set before running:

- a pattern is at most MAX_PATTERN characters, compiles with `re` (warnings count as errors),
  and holds no backreference or conditional group;
- it is applied to the first MAX_TEXT characters of the attribute only;
- its worst case is estimated from its structure and must stay within MAX_STEPS: each repeat
  multiplies the ways a match can be tried by the number of lengths it can take (up to
  MAX_TEXT), each alternation by its number of branches, a repeated group that itself has
  several ways to match grows exponentially, and an unanchored pattern is tried at every start.
  That rejects nested repeats such as `(a+)+$` or `(a|aa)*` and also chains of unbounded
  repeats such as `\\w+\\s*\\w+\\s*=` (polynomial, but seconds on a 1,000-character text), and
  keeps what targeting rules use (`^ping`, `(Mobile|Tablet)`, `-12-25$`, `Chrome/\\d+`,
  `@example\\.com$`); bounded repeats (`\\d{1,5}`) or a leading `^` bring a pattern within.
The estimate counts paths, ignoring that disjoint character sets prune most of them, so it is
conservative: it may refuse a harmless pattern (say so in the message), never admit a slow one.
"""

from __future__ import annotations

import functools
import importlib
import math
import re
import warnings
from typing import Any

MAX_PATTERN = 256
MAX_TEXT = 1_000
MAX_STEPS = 10_000_000  # about 2 ms in the worst case measured on this kind of machine

_parser: Any = importlib.import_module("re._parser")  # the stdlib's own regex parser
_c: Any = importlib.import_module("re._constants")
_CAP = 10**30
_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", _c.MAX_REPEAT)}
_ONE_WAY = {_c.LITERAL, _c.NOT_LITERAL, _c.IN, _c.ANY, _c.AT, _c.CATEGORY}


class UnsafePattern(ValueError):
    """Why a pattern is refused; the message is shown to whoever saved it."""


def _cost(items: Any) -> int:
    """The number of ways a sequence can be tried from one start, saturating at _CAP."""
    total = 1
    for op, av in items:
        if op in _ONE_WAY:
            continue
        if op is _c.BRANCH:
            ways = sum(_cost(branch) for branch in av[1])
        elif op is _c.SUBPATTERN:
            ways = _cost(av[-1])
        elif op in _REPEATS:
            ways = _repeat_cost(av[0], av[1], _cost(av[2]))
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            ways = _cost(av[1])
        elif op is getattr(_c, "ATOMIC_GROUP", None):
            ways = _cost(av)
        elif op in (_c.GROUPREF, _c.GROUPREF_EXISTS, getattr(_c, "GROUPREF_IGNORE", None)):
            raise UnsafePattern("backreferences and conditional groups are not allowed")
        else:
            raise UnsafePattern(f"unsupported construct {str(op).lower()}")
        total = min(_CAP, total * max(1, ways))
    return total


def _repeat_cost(low: int, high: int, body: int) -> int:
    top = max(low, min(high, MAX_TEXT))
    if body <= 1:
        return max(1, top - low + 1)
    if top * math.log(body) > math.log(_CAP):
        return _CAP
    return min(_CAP, sum(int(body**k) for k in range(low, top + 1)))


def _anchored(parsed: Any) -> bool:
    if parsed.state.flags & re.MULTILINE or not parsed.data:
        return False
    op, av = parsed.data[0]
    return bool(op is _c.AT and av in (_c.AT_BEGINNING, _c.AT_BEGINNING_STRING))


def steps(pattern: str) -> int:
    """The estimated worst case of searching a MAX_TEXT text; raises UnsafePattern for a
    construct that has no bound."""
    parsed = _parser.parse(pattern, 0)
    starts = 1 if _anchored(parsed) else MAX_TEXT + 1
    return min(_CAP, starts * _cost(parsed.data))


@functools.lru_cache(maxsize=2048)
def compile_pattern(pattern: str, ignore_case: bool = False) -> re.Pattern[str] | str:
    """The compiled pattern, or why it is refused (a text, never an exception)."""
    if len(pattern) > MAX_PATTERN:
        return f"the pattern is longer than {MAX_PATTERN} characters"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            compiled = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
            estimate = steps(pattern)
    except UnsafePattern as e:
        return str(e)
    except (re.error, Warning, RecursionError, OverflowError, ValueError) as e:
        return f"not a valid regular expression ({e})"
    if estimate > MAX_STEPS:
        return (
            f"the pattern could backtrack for too long on a {MAX_TEXT}-character text (nested "
            "or chained unbounded repeats such as (a+)+ or \\w+\\s*\\w+, or a repeated group "
            "with alternatives); bound the repeats, e.g. \\w{1,30}, or anchor it with ^"
        )
    return compiled


def search(compiled: re.Pattern[str], text: str) -> bool:
    return compiled.search(text if len(text) <= MAX_TEXT else text[:MAX_TEXT]) is not None
