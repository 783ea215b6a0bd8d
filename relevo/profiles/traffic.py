"""Where a visit came from: UTM parameters, click ids and the referrer, classified into the
channels marketers use: search, social, email, paid, referral, direct."""

from __future__ import annotations

import functools
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

SEARCH_HOSTS = (
    "google.",
    "bing.",
    "yahoo.",
    "duckduckgo.",
    "baidu.",
    "yandex.",
    "ecosia.",
    "startpage.",
    "qwant.",
    "search.brave.",
    "ask.com",
    "naver.",
)
SOCIAL_HOSTS = (
    "facebook.",
    "fb.com",
    "instagram.",
    "t.co",
    "twitter.",
    "x.com",
    "linkedin.",
    "lnkd.in",
    "pinterest.",
    "reddit.",
    "tiktok.",
    "youtube.",
    "youtu.be",
    "snapchat.",
    "threads.net",
    "whatsapp.",
    "telegram.",
    "vk.com",
    "tumblr.",
)
MAIL_HOSTS = (
    "mail.google.",
    "outlook.live.",
    "outlook.office",
    "mail.yahoo.",
    "webmail.",
    "mail.proton.",
)
PAID_MEDIA = {
    "cpc",
    "ppc",
    "paid",
    "paidsearch",
    "paid_search",
    "paid-search",
    "cpm",
    "cpv",
    "display",
    "banner",
    "paid_social",
    "paidsocial",
    "paid-social",
    "retargeting",
    "affiliate_paid",
    "shopping",
}
CLICK_IDS = frozenset(
    ("gclid", "gbraid", "wbraid", "msclkid", "fbclid", "dclid", "ttclid", "li_fat_id")
)


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


@functools.cache
def _pattern(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"(?:^|\.)(?:" + "|".join(re.escape(p) for p in patterns) + ")")


def _matches(host: str, patterns: tuple[str, ...]) -> bool:
    """A pattern at the start of the host or right after a dot ("google." in
    "www.google.co.uk"): one compiled regex per list, this runs for every new session."""
    return _pattern(patterns).search(host) is not None


def classify(
    campaign: dict[str, str], referrer: str | None, page_url: str | None
) -> dict[str, str | None]:
    """The channel of a visit. ``campaign`` holds utm_* values without the prefix."""
    query = {}
    if page_url:
        try:
            query = {k.lower(): v[0] for k, v in parse_qs(urlsplit(page_url).query).items()}
        except ValueError:
            query = {}
    for key in ("source", "medium", "name", "term", "content"):
        utm = query.get("utm_campaign" if key == "name" else f"utm_{key}")
        if utm and not campaign.get(key):
            campaign = {**campaign, key: utm}
    medium = (campaign.get("medium") or "").lower()
    source = (campaign.get("source") or "").lower()
    referrer_host = _host(referrer) if referrer else ""
    page_host = _host(page_url) if page_url else ""
    if referrer_host and referrer_host == page_host:
        referrer_host = ""  # navigation inside the site is not a source

    if medium in PAID_MEDIA or not CLICK_IDS.isdisjoint(query):
        channel = "paid"
    elif medium in ("email", "e-mail", "newsletter") or source in ("newsletter", "email"):
        channel = "email"
    elif medium in ("social", "social-network", "social_network", "sm"):
        channel = "social"
    elif medium == "organic":
        channel = "search"
    elif medium in ("referral", "affiliate"):
        channel = "referral"
    elif referrer_host and _matches(referrer_host, MAIL_HOSTS):
        channel = "email"
    elif referrer_host and _matches(referrer_host, SEARCH_HOSTS):
        channel = "search"
    elif referrer_host and _matches(referrer_host, SOCIAL_HOSTS):
        channel = "social"
    elif referrer_host or source:
        channel = "referral"
    else:
        channel = "direct"
    return {
        "channel": channel,
        "source": source or referrer_host or None,
        "medium": medium or None,
        "campaign": campaign.get("name") or None,
        "referrer": referrer or None,
        "landing_page": page_url or None,
    }


def touch_from_message(payload: dict[str, Any]) -> dict[str, str | None] | None:
    """The traffic source an event reveals, or None when it carries no page context."""
    context = payload.get("context") if isinstance(payload.get("context"), dict) else {}
    context = context or {}
    page = context.get("page") if isinstance(context.get("page"), dict) else {}
    page = page or {}
    properties = payload.get("properties") if isinstance(payload.get("properties"), dict) else {}
    properties = properties or {}
    url = page.get("url") or (properties.get("url") if payload.get("type") == "page" else None)
    referrer = page.get("referrer") or (
        properties.get("referrer") if payload.get("type") == "page" else None
    )
    raw_campaign = context.get("campaign") if isinstance(context.get("campaign"), dict) else {}
    campaign = {str(k): str(v) for k, v in (raw_campaign or {}).items() if v}
    if not url and not referrer and not campaign:
        return None
    touch = _classified(
        tuple(campaign.items()),
        referrer if isinstance(referrer, str) else None,
        url if isinstance(url, str) else None,
    )
    return dict(touch)  # the caller's own: profiles keep it and may be changed in place


@functools.lru_cache(maxsize=4096)
def _classified(
    campaign: tuple[tuple[str, str], ...], referrer: str | None, page_url: str | None
) -> dict[str, str | None]:
    """``classify``, once per distinct source: it parses two URLs (5 us, several times that
    amid the materializer's work), and a shop's visits come from a limited set of landing
    pages, referrers and campaigns."""
    return classify(dict(campaign), referrer, page_url)
