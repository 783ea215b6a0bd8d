"""B2B account terms through HTTP on both backends: two companies with their own assortment and
price list see different recommendations, re-ranks and product cards for the same request;
terms are set as JSON or CSV and read back; and a page holding the public browser key cannot
enrol itself into a company to read its prices."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.test_recs_api import _recommend
from tests.test_rules_api import shop  # noqa: F401  (the fixture)

ALL = {"sofa", "cushion", "mug", "armchair", "plate"}
LIVING = {"sofa", "cushion", "armchair"}


def _post(api: Api, path: str, **kwargs: Any) -> Any:
    response = api.client.post(
        path, headers={**api.secret_auth, **kwargs.pop("headers", {})}, **kwargs
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def companies(shop: Api) -> Api:  # noqa: F811
    """Acme buys the living room at its own price for the cushion; Globex only mugs and plates,
    the mug cheaper. u1 works at Acme, u2 at Globex (the shop's backend says so)."""
    shop.send("group", userId="u1", groupId="acme", traits={"name": "Acme"})
    shop.send("group", userId="u2", groupId="globex", traits={"name": "Globex"})
    _post(shop, "/v1/accounts/acme/assortment", json={"categories": ["Home > Living"]})
    _post(
        shop,
        "/v1/accounts/acme/prices",
        json={"prices": [{"product_id": "cushion", "price": "12.00 EUR"}]},
    )
    _post(
        shop,
        "/v1/accounts/globex/assortment",
        content="product_id\nmug\nplate\n",
        headers={"Content-Type": "text/csv"},
    )
    _post(
        shop,
        "/v1/accounts/globex/prices",
        content="product_id,price,currency\nmug,3.00,EUR\nplate,2.50,EUR\n",
        headers={"Content-Type": "text/csv"},
    )
    shop.settle()
    return shop


def _for(api: Api, user: str, **body: Any) -> Any:
    return _recommend(api, identity={"kind": "user_id", "value": user}, **body)


def _cards(answer: Any) -> dict[str, Any]:
    return {i["product_id"]: i["product"] for i in answer["items"]}


def test_two_companies_see_their_own_assortment_and_prices(companies: Api) -> None:
    body = {"strategy": "trending", "limit": 10, "details": True}
    acme, globex = _for(companies, "u1", **body), _for(companies, "u2", **body)
    assert set(_cards(acme)) == LIVING
    assert set(_cards(globex)) == {"mug", "plate"}
    cushion = _cards(acme)["cushion"]
    assert cushion["price"] == "12.00" and cushion["list_price"] == "20.00"
    assert cushion["sale_price"] is None and cushion["price_agreement"] == "acme"
    assert _cards(acme)["sofa"]["price"] == "900.00"  # no agreed price: the list price
    mug = _cards(globex)["mug"]
    assert mug["price"] == "3.00" and mug["currency"] == "EUR" and mug["list_price"] == "8.00"
    # Someone in no account sees everything at list prices.
    stranger = _for(companies, "u9", **body)
    assert set(_cards(stranger)) == ALL and _cards(stranger)["mug"]["price"] == "8.00"


def test_rerank_and_the_fallback_chain_respect_the_assortment(companies: Api) -> None:
    rerank = _for(companies, "u2", strategy="rerank", context={"candidates": sorted(ALL)})
    assert {i["product_id"] for i in rerank["items"]} == {"mug", "plate"}
    chain = _for(companies, "u1", strategy="bought_together", context={"product_id": "mug"})
    assert {i["product_id"] for i in chain["items"]} <= LIVING and chain["items"]


def test_product_cards_for_a_member(companies: Api) -> None:
    def card(user: str, product: str) -> Any:
        return companies.client.get(
            f"/v1/catalog/products/{product}",
            params={"for_kind": "user_id", "for_value": user},
            headers=companies.secret_auth,
        )

    assert card("u1", "mug").status_code == 404
    assert card("u2", "mug").json()["price"] == "3.00"
    assert card("u1", "cushion").json()["price"] == "12.00"
    assert companies.get("/v1/catalog/products/mug")["price"] == "8.00"
    page = companies.get("/v1/catalog/products", for_kind="user_id", for_value="u2")
    assert {p["product_id"]: p["price"] for p in page["products"]} == {
        "mug": "3.00",
        "plate": "2.50",
    }
    bad = companies.client.get(
        "/v1/catalog/products/mug", params={"for_kind": "user_id"}, headers=companies.secret_auth
    )
    assert bad.status_code == 400


def test_terms_are_read_back_and_bad_rows_are_named(companies: Api) -> None:
    assert companies.get("/v1/accounts/globex/assortment")["product_ids"] == ["mug", "plate"]
    assert companies.get("/v1/accounts/acme/assortment")["categories"] == ["Home > Living"]
    prices = companies.get("/v1/accounts/globex/prices")["prices"]
    assert [(p["product_id"], p["price"], p["currency"]) for p in prices] == [
        ("mug", "3.00", "EUR"),
        ("plate", "2.50", "EUR"),
    ]
    assert companies.client.get(
        "/v1/accounts/nobody/assortment", headers=companies.secret_auth
    ).status_code == 404  # fmt: skip
    bad_csv = companies.client.post(
        "/v1/accounts/globex/prices",
        content="product_id,price\nmug,3.00\nplate,cheap\n",
        headers={**companies.secret_auth, "Content-Type": "text/csv"},
    )
    assert bad_csv.status_code == 400 and "line 3" in bad_csv.json()["error"]["message"]
    bad_json = companies.client.post(
        "/v1/accounts/globex/prices",
        json={"prices": [{"product_id": "mug", "price": "3 USD", "currency": "EUR"}]},
        headers=companies.secret_auth,
    )
    assert bad_json.status_code == 400 and "prices[0]" in bad_json.json()["error"]["message"]
    replaced = _post(
        companies,
        "/v1/accounts/globex/prices",
        json={"prices": [{"product_id": "plate", "price": 2}], "replace": True},
    )
    assert replaced["stored"] == 1
    assert [p["product_id"] for p in companies.get("/v1/accounts/globex/prices")["prices"]] == [
        "plate"
    ]
    for headers in (companies.write_auth, companies.server_auth):
        denied = companies.client.post(
            "/v1/accounts/globex/prices", json={"prices": []}, headers=headers
        )
        assert denied.status_code == 403
        assert companies.client.get(
            "/v1/accounts/globex/prices", headers=headers
        ).status_code == 403  # fmt: skip


def test_a_browser_key_cannot_enrol_itself_into_a_company(companies: Api) -> None:
    """The page's key is public: an attacker sends a group call naming Acme for their own
    anonymous id (and for a user id they claim), then asks for recommendations with details."""
    companies.send_browser("group", anonymousId="attacker", groupId="acme")
    companies.send_browser("identify", anonymousId="attacker", userId="mallory")
    companies.send_browser("group", anonymousId="attacker", userId="mallory", groupId="globex")
    companies.settle()
    response = companies.client.post(
        "/v1/recommendations",
        json={"strategy": "trending", "limit": 10, "details": True,
              "identity": {"kind": "anonymous_id", "value": "attacker"}},
        headers=companies.write_auth,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    cards = _cards(response.json())
    assert set(cards) == ALL  # no assortment applies: not a member
    assert cards["cushion"]["price"] == "20.00" and "price_agreement" not in cards["cushion"]
    assert cards["mug"]["price"] == "8.00"
    # Nor does the shop's own backend treat the claimed user as a member.
    mallory = _for(companies, "mallory", strategy="trending", limit=10, details=True)
    assert _cards(mallory)["mug"]["price"] == "8.00"
    assert companies.get(
        "/v1/catalog/products/cushion", for_kind="anonymous_id", for_value="attacker"
    )["price"] == "20.00"  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        "a\nb\rc\u0085d\x0be\x0cf\u2028g\u2029h\r\ni",  # found by the API fuzzer: was a 500
        'product_id,price\n"unclosed,3\n',
        "product_id,price\nnul\x00id,3.00\n",
        "",
    ],
)
def test_a_malformed_csv_is_a_400_never_a_500(api: Api, body: str) -> None:
    response = api.client.post(
        "/v1/accounts/acme/prices",
        content=body.encode(),
        headers={**api.secret_auth, "Content-Type": "text/csv"},
    )
    if body.startswith("product_id,price\nnul"):  # stored, as the catalog stores NUL: U+FFFD
        assert response.status_code == 200, response.text
        assert api.get("/v1/accounts/acme/prices")["prices"][0]["product_id"] == "nul\ufffdid"
    else:
        assert response.status_code == 400, response.text
