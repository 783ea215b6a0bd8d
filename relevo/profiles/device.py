"""Device type, OS and browser from a user agent (ua-parser's regexes, cached per string)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ua_parser import parse

_MOBILE_OS = {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS"}


@lru_cache(maxsize=8192)
def parse_user_agent(user_agent: str) -> dict[str, str]:
    result = parse(user_agent)
    browser = result.user_agent.family if result.user_agent else "Other"
    os_name = result.os.family if result.os else "Other"
    device = result.device.family if result.device else "Other"
    lowered = user_agent.lower()
    if device == "Spider" or "bot" in lowered or "crawler" in lowered:
        kind = "bot"
    elif (
        device == "iPad"
        or "tablet" in lowered
        or (os_name == "Android" and "mobile" not in lowered)
    ):
        kind = "tablet"
    elif os_name in _MOBILE_OS or "mobile" in lowered:
        kind = "mobile"
    else:
        kind = "desktop"
    return {"type": kind, "os": os_name, "browser": browser}


def device_from_context(context: dict[str, Any]) -> dict[str, str] | None:
    user_agent = context.get("userAgent")
    if isinstance(user_agent, str) and user_agent:
        return parse_user_agent(user_agent[:1000])
    device = context.get("device")
    if isinstance(device, dict) and isinstance(device.get("type"), str):
        # Segment's mobile libraries send device.type "ios"/"android" instead of a user agent.
        os_info = context.get("os") if isinstance(context.get("os"), dict) else {}
        kind = "tablet" if "ipad" in str(device.get("model", "")).lower() else "mobile"
        if device["type"].lower() not in ("ios", "android"):
            kind = device["type"].lower()
        return {"type": kind, "os": str((os_info or {}).get("name", "Other")), "browser": "App"}
    return None
