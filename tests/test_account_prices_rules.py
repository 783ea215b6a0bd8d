"""Merchandising rules compare a member's agreed prices, through HTTP on both backends: two
companies whose price lists put the sofa on either side of a price rule ("at most 500", "within
30% of the product in view") see it on either side, an agreed price is not a sale ("only items
on sale"), the product cards show the price the rule compared, and a page that only claims to
belong to a company (a browser key's group call) is judged on list prices."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.test_account_terms_api import _cards, _for, _post
from tests.test_rules_api import ON_SALE, _ids, _save, shop  # noqa: F401  (shop: the fixture)

# The shop's list prices (tests/test_rules_api.py): sofa 900, armchair 400 on sale at 350,
# cushion 20 on sale at 15, mug 8, plate 5.
UP_TO_500 = {"field": "price", "op": "lte", "value": 500}


@pytest.fixture
def buyers(shop: Api) -> Api:  # noqa: F811
    """Acme (u1) agreed the sofa at 450 and the cushion at 12; Globex (u2) the sofa at 850.
    Neither restricts the assortment: only prices differ."""
    shop.send("group", userId="u1", groupId="acme")
    shop.send("group", userId="u2", groupId="globex")
    _post(
        shop,
        "/v1/accounts/acme/prices",
        json={"prices": [{"product_id": "sofa", "price": "450"}, {"product_id": "cushion",
                                                                  "price": "12"}]},
    )  # fmt: skip
    _post(
        shop, "/v1/accounts/globex/prices", json={"prices": [{"product_id": "sofa", "price": 850}]}
    )
    shop.settle()
    _save(shop, {"id": "budget", "kind": "filter", "condition": UP_TO_500,
                 "scope": {"placements": ["budget"]}})  # fmt: skip
    _save(shop, {"id": "sale", "kind": "filter", "condition": ON_SALE,
                 "scope": {"placements": ["sale"]}})  # fmt: skip
    _save(shop, {"id": "near", "kind": "filter", "condition": {"price_within": 30, "as": "in_view"},
                 "scope": {"placements": ["near"]}})  # fmt: skip
    return shop


def _at(api: Api, user: str, placement: str, **context: Any) -> Any:
    return _for(
        api,
        user,
        strategy="trending",
        limit=10,
        details=True,
        context={"placement": placement, **context},
    )


def test_a_price_rule_compares_each_company_s_agreed_price(buyers: Api) -> None:
    acme, globex, stranger = (_at(buyers, u, "budget") for u in ("u1", "u2", "u9"))
    assert "sofa" in _ids(acme)  # 450 for Acme
    assert _cards(acme)["sofa"]["price"] == "450"
    assert _cards(acme)["sofa"]["list_price"] == "900.00"
    assert "sofa" not in _ids(globex)  # 850 for Globex
    assert "sofa" not in _ids(stranger)  # 900 at list price
    assert {"mug", "plate", "armchair", "cushion"} <= set(_ids(globex))


def test_price_within_the_product_in_view_reads_agreed_prices(buyers: Api) -> None:
    # The armchair costs everyone 350 (its sale price): 245 to 455 is within 30% of it.
    acme = _at(buyers, "u1", "near", product_id="armchair")
    globex = _at(buyers, "u2", "near", product_id="armchair")
    assert _ids(acme) == ["sofa"]
    assert _ids(globex) == []


def test_an_agreed_price_is_not_a_sale(buyers: Api) -> None:
    acme, globex = _at(buyers, "u1", "sale"), _at(buyers, "u2", "sale")
    assert sorted(_ids(globex)) == ["armchair", "cushion"]  # list prices: both on sale
    assert _ids(acme) == ["armchair"]  # the cushion is 12 to Acme, its price, not a sale
    assert _cards(globex)["cushion"]["sale_price"] == "15.00"


def test_a_claimed_membership_is_judged_on_list_prices(buyers: Api) -> None:
    """A page holding the public key says it is Acme (and claims a user id at Acme)."""
    buyers.send_browser("group", anonymousId="intruder", groupId="acme")
    buyers.send_browser("identify", anonymousId="intruder", userId="mallory")
    buyers.send_browser("group", anonymousId="intruder", userId="mallory", groupId="acme")
    buyers.settle()
    response = buyers.client.post(
        "/v1/recommendations",
        json={"strategy": "trending", "limit": 10, "details": True,
              "context": {"placement": "budget"},
              "identity": {"kind": "anonymous_id", "value": "intruder"}},
        headers=buyers.write_auth,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert "sofa" not in _ids(response.json())
    assert "sofa" not in _ids(_at(buyers, "mallory", "budget"))
    near = _at(buyers, "mallory", "near", product_id="armchair")
    assert _ids(near) == []
