"""Validating a condition when it is saved."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from relevo.conditions.compiler import Compiler
from relevo.conditions.condition import Condition
from relevo.conditions.extensions import Extension


def validate(
    condition: Any,
    extensions: Iterable[Extension] | Mapping[str, Extension] | None = None,
    *,
    known_groups: Collection[str] | None = None,
    root: str = "$",
) -> Condition:
    """The compiled condition, or `InvalidCondition` (400) whose message starts with the JSON
    path of the first offending part (``$.and[2].price.$gte: expected a number or string, got
    an object``). `extensions` are the extension operators the condition may use, each checked
    by its own validator; `known_groups`, when given, are the saved group ids it may name;
    `root` names the condition in messages (e.g. "where")."""
    return Compiler(
        strict=True, extensions=registry(extensions), known_groups=known_groups
    ).compile(condition, root)


def registry(
    extensions: Iterable[Extension] | Mapping[str, Extension] | None,
) -> dict[str, Extension | None]:
    if extensions is None:
        return {}
    if isinstance(extensions, Mapping):
        return {name: spec for name, spec in extensions.items()}
    return {spec.name: spec for spec in extensions}
