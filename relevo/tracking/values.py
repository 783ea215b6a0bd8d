"""JSON values as both databases can hold them: the limits of ``relevo.tracking.limits`` checked
anywhere in a message, the characters neither database stores replaced, and the text of a
quarantined message, which must be storable whatever the message held.

Nothing here raises on any input: a value that breaks a limit is reported as a reason that names
where it is (``properties.items[2].price: ...``), so the caller can quarantine that message alone.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from relevo import storable
from relevo.tracking.limits import MAX_DEPTH, MAX_INTEGER, MAX_KEY_CHARS, MIN_INTEGER

_CUT_DEPTH = 200  # quarantine text: below orjson's own limit of 254 nested levels
_REPLACE_DEPTH = 2 * MAX_DEPTH  # a message's own limit, with room for the batch around it


class UnstorableNumber:
    """A number JSON can write but Relevo cannot store (``NaN``, ``Infinity``, ``1e400``, an
    integer beyond 64 bits), as the second parser of a body found it: it keeps the text it was
    sent as, so the message can be quarantined as it came."""

    __slots__ = ("problem", "text")

    def __init__(self, text: str, problem: str) -> None:
        self.text = text
        self.problem = problem

    def __str__(self) -> str:
        return self.text


def parse_int(text: str) -> int | UnstorableNumber:
    """``json.loads(parse_int=...)``: integers outside signed 64 bits stay text (Python would
    refuse to convert one of over 4,300 digits; orjson turns those beyond 64 bits into floats)."""
    if len(text) <= 20:  # a sign and 19 digits at most for a signed 64-bit integer
        value = int(text)
        if MIN_INTEGER <= value <= MAX_INTEGER:
            return value
    return UnstorableNumber(text, f"integer {_clip(text)} is outside the signed 64-bit range")


def parse_float(text: str) -> float | UnstorableNumber:
    value = float(text)
    if math.isfinite(value):
        return value
    return UnstorableNumber(
        text, f"number {_clip(text)} is beyond a double's range; numbers must be finite"
    )


def parse_constant(name: str) -> UnstorableNumber:
    return UnstorableNumber(name, f"{name} is not a finite number; numbers must be finite")


def replace_unstorable(value: Any) -> Any:
    """``relevo.storable.replace_unstorable`` down to a message's nesting limit, with room for
    the batch around it (deeper values break that limit, and ``quarantine_text`` stores them)."""
    return storable.replace_unstorable(value, _REPLACE_DEPTH)


class _Problem:
    """A broken limit and where it is; the path is collected on the way back up."""

    __slots__ = ("path", "what")

    def __init__(self, what: str) -> None:
        self.what = what
        self.path: list[str] = []

    def at(self, step: str) -> _Problem:
        self.path.append(step)
        return self

    def describe(self) -> str:
        where = "".join(reversed(self.path)).lstrip(".")
        if len(where) > 120:
            where = where[:120] + "..."
        return f"{where}: {self.what}" if where else self.what


def find_problem(message: dict[str, Any]) -> str | None:
    """The first value of ``message`` that breaks a limit (key length, nesting, numbers), as a
    reason naming where it is and the limit; None when every value is within the limits."""
    problem = _check_object(message, 1)
    return None if problem is None else problem.describe()


# On the ingest hot path (every message, every value): exact type tests, the common cases first.
def _check_object(value: dict[Any, Any], depth: int) -> _Problem | None:
    if depth > MAX_DEPTH:
        return _Problem(_too_deep())
    for key, item in value.items():
        if type(key) is not str:
            return _Problem(f"keys must be strings, not {type(key).__name__}")
        if len(key) > MAX_KEY_CHARS:
            return _Problem(
                f"key {_shorten(key)} is {len(key):,} characters, over the limit of "
                f"{MAX_KEY_CHARS} characters per key"
            )
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is int and MIN_INTEGER <= item <= MAX_INTEGER:
            continue
        if kind is float and math.isfinite(item):
            continue
        if kind is dict:
            problem = _check_object(item, depth + 1)
        elif kind is list:
            problem = _check_array(item, depth + 1)
        else:
            problem = _check_value(item, depth + 1)
        if problem is not None:
            return problem.at(_key_step(key))
    return None


def _check_array(value: list[Any], depth: int) -> _Problem | None:
    if depth > MAX_DEPTH:
        return _Problem(_too_deep())
    for position, item in enumerate(value):
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is int and MIN_INTEGER <= item <= MAX_INTEGER:
            continue
        if kind is float and math.isfinite(item):
            continue
        if kind is dict:
            problem = _check_object(item, depth + 1)
        elif kind is list:
            problem = _check_array(item, depth + 1)
        else:
            problem = _check_value(item, depth + 1)
        if problem is not None:
            return problem.at(f"[{position}]")
    return None


def _check_value(value: Any, depth: int) -> _Problem | None:
    """Any value other than a string, a bool, None or a number within the limits."""
    if isinstance(value, dict):
        return _check_object(value, depth)
    if isinstance(value, list):
        return _check_array(value, depth)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if MIN_INTEGER <= value <= MAX_INTEGER:
            return None
        return _Problem(f"integer {_clip(_int_text(value))} is outside the signed 64-bit range")
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return _Problem(f"{value!r} is not a finite number; numbers must be finite")
    if isinstance(value, UnstorableNumber):
        return _Problem(value.problem)
    return None  # a string or another type: orjson writes it or says it cannot


def _too_deep() -> str:
    return (
        f"objects and arrays nested more than {MAX_DEPTH} levels deep "
        "(the message itself counts as one)"
    )


def _key_step(key: str) -> str:
    return f".{key}" if key.isidentifier() and len(key) <= 40 else f"[{_shorten(key)}]"


def _shorten(text: str, keep: int = 40) -> str:
    """``text`` for a reason: quoted, at most ``keep`` characters, NUL, surrogates and other
    invisible characters escaped (a reason is stored and sent back as JSON)."""
    if len(text) <= keep:
        return repr(text)
    return f"{text[:keep]!r}..."


def _clip(number: str, keep: int = 40) -> str:
    return number if len(number) <= keep else f"{number[:keep]}... ({len(number):,} characters)"


def describe_value(value: Any) -> str:
    """A short, storable description of a value of any type, for a reason."""
    if isinstance(value, str):
        return _shorten(value)
    if value is None or isinstance(value, bool | float):
        return repr(value)
    if isinstance(value, int):
        return _clip(_int_text(value))
    if isinstance(value, UnstorableNumber):
        return _clip(value.text)
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"


def _int_text(value: int) -> str:
    # Python refuses to write an integer of over 4,300 digits as text.
    return (
        str(value)
        if value.bit_length() < 10_000
        else f"<an integer of {value.bit_length():,} bits>"
    )


def quarantine_text(raw: Any) -> str:
    """The text a quarantined message is stored as: a string as it came, anything else as JSON.

    Whatever the databases or JSON cannot hold is made storable, never dropped: NUL and lone
    surrogates become U+FFFD, numbers out of range are kept as their text, objects nested more
    than 200 levels deep are cut there (marked). Never raises.
    """
    try:
        if isinstance(raw, str):
            return str(replace_unstorable(raw))
        try:
            return orjson.dumps(raw, default=_text_of).decode()
        except (orjson.JSONEncodeError, RecursionError):
            return orjson.dumps(_storable(raw, 1), default=_text_of).decode()
    except Exception:  # defence in depth: the quarantine is the last place a message can go
        return f"<a {type(raw).__name__} that could not be written as text>"


def _text_of(value: Any) -> str:
    """orjson's ``default``: anything it cannot encode itself, as text."""
    if isinstance(value, UnstorableNumber):
        return value.text
    try:
        return str(replace_unstorable(str(value)))
    except Exception:
        return f"<a {type(value).__name__}>"


def _storable(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return replace_unstorable(value)
    if isinstance(value, dict | list | tuple):
        if depth > _CUT_DEPTH:
            return f"<nested deeper than {_CUT_DEPTH} levels: cut here>"
        if isinstance(value, dict):
            return {
                replace_unstorable(k if isinstance(k, str) else _text_of(k)): _storable(
                    v, depth + 1
                )
                for k, v in value.items()
            }
        return [_storable(v, depth + 1) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else _int_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    return _text_of(value)
