"""Traffic-source classification: referrer host matching and the channel of a visit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relevo.profiles.traffic import (
    MAIL_HOSTS,
    SEARCH_HOSTS,
    SOCIAL_HOSTS,
    _matches,
    classify,
    touch_from_message,
)

labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8)
hosts = st.lists(
    st.sampled_from([p.strip(".") for p in SEARCH_HOSTS + SOCIAL_HOSTS + MAIL_HOSTS]) | labels,
    min_size=1,
    max_size=4,
).map(".".join)


@given(hosts, st.sampled_from([SEARCH_HOSTS, SOCIAL_HOSTS, MAIL_HOSTS]))
def test_host_matching_is_a_pattern_at_the_start_or_after_a_dot(
    host: str, patterns: tuple[str, ...]
) -> None:
    expected = any(("." + p) in ("." + host) or host.startswith(p) for p in patterns)
    assert _matches(host, patterns) == expected


def test_channels() -> None:
    assert classify({}, "https://www.google.co.uk/search?q=mug", None)["channel"] == "search"
    assert classify({}, "https://l.facebook.com/", None)["channel"] == "social"
    assert classify({}, "https://notgoogle.example/", None)["channel"] == "referral"
    paid = classify({}, None, "https://shop.example/?utm_source=google&utm_medium=cpc")
    assert (paid["channel"], paid["source"]) == ("paid", "google")
    assert classify({}, None, "https://shop.example/?gclid=abc")["channel"] == "paid"
    assert classify({}, "https://shop.example/cart", "https://shop.example/")["channel"] == "direct"


_urls = st.one_of(
    st.none(),
    st.integers(),
    st.sampled_from(
        [
            "https://shop.example/",
            "https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=winter",
            "https://shop.example/p/1?utm_source=newsletter&utm_medium=email&gclid=x",
            "https://www.google.com/search?q=mug",
            "https://l.facebook.com/",
            "https://mail.google.com/",
            "http://[::1",
            "",
        ]
    ),
    st.text(max_size=30),
)
_campaigns = st.one_of(
    st.none(),
    st.just("not an object"),
    st.dictionaries(
        st.sampled_from(["source", "medium", "name", "term", "content", "other"]),
        st.one_of(st.sampled_from(["google", "cpc", "email", "social", ""]), st.integers()),
        max_size=4,
    ),
)


@given(
    st.sampled_from(["page", "track", "identify"]),
    _urls,
    _urls,
    _urls,
    _urls,
    _campaigns,
)
def test_a_remembered_touch_is_the_one_classify_gives_and_the_callers_own(
    kind: str,
    page_url: object,
    page_referrer: object,
    property_url: object,
    property_referrer: object,
    campaign: object,
) -> None:
    """touch_from_message remembers classify's answer per distinct source: asked twice, it
    answers as classify does for the same message, and each answer is a dict of its own."""
    context: dict[str, object] = {"page": {"url": page_url, "referrer": page_referrer}}
    if campaign is not None:
        context["campaign"] = campaign
    payload = {
        "type": kind,
        "context": context,
        "properties": {"url": property_url, "referrer": property_referrer},
    }
    url = page_url or (property_url if kind == "page" else None)
    referrer = page_referrer or (property_referrer if kind == "page" else None)
    utm = {str(k): str(v) for k, v in campaign.items() if v} if isinstance(campaign, dict) else {}
    if not url and not referrer and not utm:
        expected = None
    else:
        expected = classify(
            utm,
            referrer if isinstance(referrer, str) else None,
            url if isinstance(url, str) else None,
        )
    first, second = touch_from_message(payload), touch_from_message(payload)
    assert first == second == expected
    if first is not None and second is not None:
        first["channel"] = "changed by a caller"
        assert touch_from_message(payload) == expected
