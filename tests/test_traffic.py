"""Traffic-source classification: referrer host matching and the channel of a visit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relevo.profiles.traffic import MAIL_HOSTS, SEARCH_HOSTS, SOCIAL_HOSTS, _matches, classify

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
