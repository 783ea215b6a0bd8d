"""Durations as conditions write them ("30s", "15m", "12h", "7d", "2w"), for extensions such
as a behaviour operator's ``within``."""

from __future__ import annotations

import re

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"([1-9][0-9]{0,5})([smhdw])")
MAX_DURATION_MS = 3_660 * 86_400_000  # ten years


def parse_duration(text: object) -> int:
    """Milliseconds; ValueError with a message fit for an API answer otherwise."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f'expected a duration such as "30s", "15m", "12h", "7d" or "2w", got {text!r}'
        )
    ms = int(match[1]) * _UNIT_MS[match[2]]
    if ms > MAX_DURATION_MS:
        raise ValueError(f"a duration is at most ten years, got {text!r}")
    return ms
