"""Lifecycle stage of a profile, judged at a moment (lapsing happens with time, not events)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DAY_MS = 86_400_000


@dataclass(frozen=True)
class LifecycleThresholds:
    lapsed_after_days: int = 300


def lifecycle_stage(computed: dict[str, Any], now_ms: int, thresholds: LifecycleThresholds) -> str:
    orders = int(computed.get("orders", 0))
    if orders == 0:
        return "returning_visitor" if int(computed.get("sessions", 0)) > 1 else "new_visitor"
    last_order = int(computed.get("last_order_at") or 0)
    if now_ms - last_order > thresholds.lapsed_after_days * DAY_MS:
        return "lapsed_customer"
    return "first_time_customer" if orders == 1 else "repeat_customer"
