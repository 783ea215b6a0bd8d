"""Generated request bodies for POST /v1/decide and /v1/decide/events, on both backends: odd
Unicode (lone surrogates, NUL, right-to-left marks, emoji), long strings, deep and wrong-typed
values, with the browser key and the secret key. No answer is ever a 5xx, and a 200 always has
the decision's shape."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Api

HERO = {"id": "home-hero", "kind": "banner", "default": {"content": {"headline": "Welcome"}}}
ODD = st.sampled_from(["\ud800", "\x00", "\u202e", "😀", "\ufeff", "é", "a" * 300, "", " "])
TEXT = st.one_of(
    st.text(max_size=40), ODD, st.text(alphabet=st.characters(codec="utf-8"), max_size=5000)
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)
CONTEXT = st.fixed_dictionaries(
    {},
    optional={
        "page": st.fixed_dictionaries({}, optional={"url": TEXT | JSON, "path": TEXT | JSON}),
        "product": st.fixed_dictionaries({}, optional={"product_id": JSON, "price": JSON}),
        "cart": st.fixed_dictionaries({}, optional={"products": JSON, "value": JSON}),
        "timezone": TEXT,
        "campaign": JSON,
        "userAgent": TEXT,
    },
)
SHORT = st.text(min_size=1, max_size=60) | st.sampled_from(["\ud800", "\x00", "\u202e", "😀"])
PLACEMENTS = st.lists(st.sampled_from(["home-hero", "nope"]) | SHORT, min_size=1, max_size=20)
KINDS = st.sampled_from(["email", "phone", "loyalty_card", "user_id"]) | SHORT
# Well-typed bodies with odd contents: past validation, into the decision.
WELL_TYPED = st.fixed_dictionaries(
    {"anonymousId": SHORT, "placements": PLACEMENTS, "context": CONTEXT},
    optional={
        "identity": st.fixed_dictionaries({"kind": KINDS, "value": SHORT}),
        "identityToken": TEXT,
        "channel": st.sampled_from(["web", "receipt"]),
        "debug": st.booleans(),
    },
)
# Anything at all in the known fields.
ANY_SHAPE = st.fixed_dictionaries(
    {"placements": JSON},
    optional={
        key: JSON
        for key in ("anonymousId", "identity", "identityToken", "channel", "context", "debug")
    },
)
EVENTS = st.fixed_dictionaries(
    {
        "events": st.lists(
            st.fixed_dictionaries(
                {"token": TEXT | JSON, "type": st.sampled_from(["click", "submit", "x"])},
                optional={"properties": JSON},
            ),
            max_size=5,
        )
        | JSON
    },
    optional={"anonymousId": TEXT | JSON, "identity": JSON},
)


def _send(api: Api, path: str, body: dict[str, Any], secret: bool) -> Any:
    # json.dumps writes lone surrogates as escapes, as a careless client would.
    raw = json.dumps(body)
    headers = {"Content-Type": "application/json"}
    headers.update(api.secret_auth if secret else api.write_auth)
    return api.client.post(path, content=raw.encode(), headers=headers)


@pytest.fixture
def shop(api: Api) -> Api:
    response = api.client.post("/v1/placements", json=HERO, headers=api.secret_auth)
    assert response.status_code == 201
    template = "<p>{{ context.path }} {{ profile.first_name }}</p>"
    variant = {"id": "a", "content": {"headline": "Hi"}, "template": template}
    experience = {
        "id": "hi",
        "placement": "home-hero",
        "condition": {"context.page.path": "/"},
        "trigger": {"type": "page_view", "url": "re:^https://"},
        "variants": [variant],
    }
    response = api.client.post("/v1/experiences", json=experience, headers=api.secret_auth)
    assert response.status_code == 201
    return api


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=WELL_TYPED | ANY_SHAPE, secret=st.booleans())
def test_no_decide_body_is_a_server_error(shop: Api, body: dict[str, Any], secret: bool) -> None:
    response = _send(shop, "/v1/decide", body, secret)
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        answer = response.json()
        assert answer["decision_id"].startswith("dec_")
        for placement in answer["placements"].values():
            assert placement["source"] in ("experience", "default", "empty") and placement["token"]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=EVENTS, secret=st.booleans())
def test_no_feedback_body_is_a_server_error(shop: Api, body: dict[str, Any], secret: bool) -> None:
    response = _send(shop, "/v1/decide/events", body, secret)
    assert response.status_code < 500, response.text
