"""Traits merge last-write-wins by event timestamp; every change is kept as history."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TraitChange:
    trait: str
    old_value: Any
    new_value: Any
    timestamp: int
    message_id: str | None


MAX_TRAITS = 500  # per person; a trait past the cap is counted as overflow, not stored


def apply_traits(
    traits: dict[str, Any],
    trait_times: dict[str, int],
    incoming: dict[str, Any],
    timestamp: int,
    message_id: str | None,
    on_overflow: Callable[[], None] | None = None,
) -> list[TraitChange]:
    """Apply ``incoming`` traits sent at ``timestamp``; older values never overwrite newer."""
    changes = []
    for key, value in incoming.items():
        if key not in traits and len(traits) >= MAX_TRAITS:
            if on_overflow is not None:
                on_overflow()
            continue
        if timestamp < trait_times.get(key, -1):
            continue
        trait_times[key] = timestamp
        if key in traits and traits[key] == value:
            continue
        changes.append(TraitChange(key, traits.get(key), value, timestamp, message_id))
        traits[key] = value
    return changes


PREFERENCE_PREFIXES = ("preferred_", "pref_", "prefers_")


def declared_preferences(traits: dict[str, Any]) -> dict[str, Any]:
    """Zero-party data: what the person told us they like (a 'preferences' object or prefixes)."""
    preferences: dict[str, Any] = {}
    nested = traits.get("preferences")
    if isinstance(nested, dict):
        preferences.update(nested)
    for key, value in traits.items():
        for prefix in PREFERENCE_PREFIXES:
            if key.startswith(prefix) and len(key) > len(prefix):
                preferences[key[len(prefix) :]] = value
    return preferences
