"""Saved groups (GrowthBook's ``$inGroup`` / ``$notInGroup``): named lists of values, such as
the ids of a customer file, that conditions refer to by name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from relevo.conditions.values import Members


class SavedGroups:
    """Groups indexed once, for evaluating many conditions or documents against them; a plain
    mapping of lists is accepted too, and indexed per evaluation."""

    __slots__ = ("_members",)

    def __init__(self, groups: Mapping[str, Iterable[Any] | None]) -> None:
        self._members = {name: members_of(values) for name, values in groups.items()}

    def members(self, name: str) -> Members | None:
        return self._members.get(name)


def members_of(values: Any) -> Members:
    """A group's members; anything but a list (or set) counts as empty, as `group or []`."""
    if isinstance(values, list | tuple | set | frozenset):
        return Members(values)
    return Members(())
