"""A person's audiences for a request context in a JSON body: `POST
/v1/profiles/{kind}/{value}/audiences` with `{"context": {...}}` answers as GET with `?context=`
does, and takes a context too long for a URL (a cart of 150 products), through HTTP on both
backends; documented in the OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Api

PATH = "/v1/profiles/user_id/buyer/audiences"
BIG_CART = {"cart": {"products": [{"product_id": f"sku-{i:04d}", "price": 9.99, "quantity": 1}
                                  for i in range(150)]}}  # fmt: skip


@pytest.fixture
def buyer(api: Api) -> Api:
    for audience in (
        {"id": "big-cart", "name": "Big cart", "condition": {"context.cart.count": {"$gte": 100}}},
        {"id": "on-sale-page", "name": "Sale page", "condition": {"context.page.path": "/sale"}},
    ):
        created = api.client.post("/v1/audiences", json=audience, headers=api.secret_auth)
        assert created.status_code == 201, created.text
    api.send("track", userId="buyer", event="Product Viewed", properties={"product_id": "p1"})
    api.settle()
    return api


def _post(api: Api, body: Any, path: str = PATH, **params: Any) -> Any:
    return api.client.post(path, json=body, params=params, headers=api.secret_auth)


def _ids(answer: Any) -> set[str]:
    return {a["id"] for a in answer["audiences"]}


def test_post_answers_as_get(buyer: Api) -> None:
    context = {"page": {"url": "https://shop.example/sale?utm_source=news&utm_medium=email"}}
    for params in ({}, {"all": True}):
        got = buyer.get(PATH, context=json.dumps(context), **params)
        posted = _post(buyer, {"context": context}, **params)
        assert posted.status_code == 200, posted.text
        assert posted.json() == got
    assert {"on-sale-page", "from-newsletter"} <= _ids(got)
    assert _post(buyer, {}).json() == buyer.get(PATH)  # no context: none, as GET without one


def test_a_context_too_long_for_the_url_fits_in_the_body(buyer: Api) -> None:
    encoded = json.dumps(BIG_CART)
    assert len(encoded) > 4000
    too_long = buyer.client.get(PATH, params={"context": encoded}, headers=buyer.secret_auth)
    assert too_long.status_code == 400
    posted = _post(buyer, {"context": BIG_CART})
    assert posted.status_code == 200, posted.text
    assert "big-cart" in _ids(posted.json())
    assert "big-cart" not in _ids(_post(buyer, {"context": {"cart": {"products": []}}}).json())


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"context": "a string"}, "context"),
        ({"context": [1, 2]}, "context"),
        ({"context": {}, "extra": 1}, "extra"),
        ({"context": {"page": {"url": "x" * 70_000}}}, "over 64 KB"),
        ({"context": {"cart": {"value": -(2**64)}}}, "64 bits"),  # was a 500 (the API fuzzer)
    ],
)
def test_a_bad_body_is_a_400_naming_it(buyer: Api, body: Any, why: str) -> None:
    answer = _post(buyer, body)
    assert answer.status_code == 400, answer.text
    assert why in answer.json()["error"]["message"]


def test_who_may_ask_and_of_whom(buyer: Api) -> None:
    assert _post(buyer, {"context": {}}, "/v1/profiles/user_id/nobody/audiences").status_code == 404
    assert (
        _post(buyer, {"context": {}}, "/v1/profiles/email/not-an-email/audiences").status_code
        == 400
    )
    for headers in (buyer.write_auth, buyer.server_auth):
        denied = buyer.client.post(PATH, json={"context": {}}, headers=headers)
        assert denied.status_code == 403


def test_the_post_is_documented(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    operation = document["paths"]["/v1/profiles/{kind}/{value}/audiences"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/AudiencesBody")
    assert "context" in document["components"]["schemas"]["AudiencesBody"]["properties"]
