"""Merchandising rules (relevo.rules): validation that names the field, the live catalog's
columns, each condition and each rule kind on a small catalog whose right answer is known, the
order of application, schedule, scope and audience, the rules reported on items, the trace, and
properties over random catalogs and rules: never a filtered item, never a cap or a conflict
broken, and never an answer shorter than the rules force."""

from __future__ import annotations

import math
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relevo.errors import RelevoError
from relevo.rules import page as page_module
from relevo.rules.account_terms import AgreedPrices, lowest_prices
from relevo.rules.catalog import CatalogColumns
from relevo.rules.engine import CompiledRule, apply_rules, compile_rules, plan_rules
from relevo.rules.errors import InvalidRule
from relevo.rules.model import parse_rule
from relevo.rules.outcome import APPLIED, SKIPPED, RuleContext, RuledAnswer

DAY = 86_400_000
NOW = 1_750_000_000_000  # 2025-06-15


def product(i: int, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "product_id": f"p{i}",
        "brand": None,
        "category": [],
        "price": None,
        "sale_price": None,
        "availability": "in_stock",
        "stock_quantity": None,
        "item_group_id": None,
        "attributes": {},
        "created_at": NOW - 100 * DAY,
    }
    row.update(fields)
    return row


# A shop of ten products; row i is item i.
SHOP = [
    product(0, brand="Acme", category=["Home", "Kitchen", "Mugs"], price="10.00", sale_price="8.00",
            attributes={"margin": 0.5, "color": "red", "organic": True}, item_group_id="mug"),
    product(1, brand="Acme", category=["Home", "Kitchen", "Mugs"], price="12.00",
            attributes={"margin": "0.2", "color": "Blue"}, item_group_id="mug"),
    product(2, brand="Bolt", category=["Home", "Kitchen", "Pans"], price="40.00",
            sale_price="30.00", attributes={"margin": 0.4, "organic": False}, stock_quantity=0),
    product(3, brand="Bolt", category="Home > Garden", price="25.00",
            availability="out_of_stock", created_at=NOW - 2 * DAY),
    product(4, brand="Cora", category=["Home", "Kitchen"], price="9.50", sale_price="9.50",
            attributes={"color": "red"}, created_at=NOW - 5 * DAY),
    product(5, brand="cora", category=["Toys"], price="100", attributes={"tags": ["a", "b"]}),
    product(6, category=["Toys", "Puzzles"], price=None),
    product(7, brand="Dune", category=["Home", "Kitchen", "Mugs"], price="11.00",
            created_at=NOW - 40 * DAY),
    product(8, brand="Dune", category=["Home", "Kitchenware"], price="13.00", stock_quantity=5),
    product(9, brand="Eden", category=["Home", "Kitchen", "Mugs"], price="14.00", deleted=1),
]  # fmt: skip
N = len(SHOP)


@pytest.fixture
def shop() -> CatalogColumns:
    return CatalogColumns.from_rows(SHOP)


def where(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


IN_STOCK = where("in_stock", "eq", True)
ON_SALE = where("on_sale", "eq", True)


def rule(**fields: Any) -> Any:
    return parse_rule({"id": fields.pop("id", "r"), **fields})


def ruled(
    catalog: CatalogColumns,
    rules: list[dict[str, Any]],
    *,
    scores: Any = None,
    allowed: Any = None,
    limit: int = N,
    **context: Any,
) -> RuledAnswer:
    compiled = compile_rules([parse_rule(r) for r in rules], catalog)
    if scores is None:  # item 0 best, item 9 worst
        scores = np.arange(len(catalog), 0, -1, dtype=np.float32)
    if allowed is None:
        allowed = np.ones(len(catalog), dtype=bool)
    context = {"strategy": "similar", "now_ms": NOW, **context}
    return apply_rules(
        np.asarray(scores, dtype=np.float32), np.asarray(allowed), catalog,
        RuleContext(**context), compiled, limit,
    )  # fmt: skip


def items(answer: RuledAnswer) -> list[int]:
    return [i.item for i in answer.items]


def trace_of(answer: RuledAnswer, rule_id: str) -> tuple[str, str]:
    (entry,) = [t for t in answer.trace if t.rule_id == rule_id]
    return entry.status, entry.why


def matching(catalog: CatalogColumns, condition: dict[str, Any], **context: Any) -> list[int]:
    """The items an include filter with this condition keeps, scores and limit aside."""
    answer = ruled(catalog, [{"id": "f", "kind": "filter", "condition": condition}], **context)
    status, why = trace_of(answer, "f")
    assert status == APPLIED, why
    return np.flatnonzero(answer.allowed).tolist()


# Validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "filter", "condition": where("price", "lte", "x")},
         "condition: price lte: value must be a finite number"),
        ({"kind": "filter", "condition": {"all": [{"field": "pricey", "op": "eq", "value": 1}]}},
         "condition.all.0.field: unknown field 'pricey'"),
        ({"kind": "filter", "condition": where("brand", "lt", "A")},
         "brand takes the operators eq exists in ne nin, not lt"),
        ({"kind": "filter", "condition": {"not": {"price": 1}}},
         "condition.not: a condition is an object with one of the keys"),
        ({"kind": "filter", "condition": {"same": "brand", "levels": 1}},
         "levels applies to same: category only"),
        ({"kind": "filter", "condition": where("added_at", "within", "3x")},
         'expected a duration such as "30s"'),
        ({"kind": "filter", "condition": {"field": "added_at", "op": "gte",
                                          "value": "2025-01-01T00:00:00"}}, "has no time zone"),
        ({"kind": "boost", "factor": 0.5, "condition": ON_SALE},
         "factor: Input should be greater than 1"),
        ({"kind": "pin", "slot": 1}, "a pin names either product_id or condition"),
        ({"kind": "pin", "slot": 0, "product_id": "p1"}, "slot: Input should be greater than"),
        ({"kind": "diversity", "attribute": "price", "max_per_value": 2},
         "cannot group by 'price'"),
        ({"kind": "diversity", "max_per_value": 2}, "name an attribute"),
        ({"kind": "brand_conflict", "brands": [["A"]]}, "give 2 to 20 groups"),
        ({"kind": "brand_conflict", "brands": [["A"], ["a"]]}, "brand 'a' is in groups 0 and 1"),
        ({"kind": "sort"}, "kind: expected one of filter, boost, bury, pin"),
        ({"kind": "pin", "slot": 1, "product_id": "p1", "schedule": {
            "starts_at": "2025-02-01T00:00:00Z", "ends_at": "2025-01-01T00:00:00Z"}},
         "schedule: ends_at must be after starts_at"),
        ({"kind": "pin", "slot": 1, "product_id": "p1", "scope": {"strategies": ["simlar"]}},
         "scope.strategies: unknown strategies ['simlar']"),
        ({"kind": "pin", "slot": 1, "product_id": "p1", "colour": "red"}, "colour: Extra inputs"),
    ],
)  # fmt: skip
def test_a_refused_rule_names_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRule) as refused:
        parse_rule({"id": "r", **data}, strategies={"similar", "trending"})
    assert message in str(refused.value)
    assert isinstance(refused.value, RelevoError) and refused.value.status_code == 400


def test_a_condition_too_deep_is_refused() -> None:
    deep: dict[str, Any] = {"field": "in_stock", "op": "eq", "value": True}
    for _ in range(8):
        deep = {"not": deep}
    with pytest.raises(InvalidRule, match="condition: nested 9 deep; at most 8"):
        rule(kind="filter", condition=deep)


# The catalog's columns ----------------------------------------------------------------------


def test_columns_read_product_rows(shop: CatalogColumns) -> None:
    assert shop.item_ids == [f"p{i}" for i in range(N)]
    assert shop.price[:3].tolist() == [10.0, 12.0, 40.0]
    assert math.isnan(shop.price[6]) and math.isnan(shop.effective_price[6])
    assert shop.effective_price[:3].tolist() == [8.0, 12.0, 30.0]
    assert shop.on_sale.tolist() == [True, False, True] + [False] * 7  # 9.50 of 9.50 is no sale
    # out of stock, zero stock and deleted are not sellable
    assert np.flatnonzero(~shop.in_stock).tolist() == [2, 3, 9]
    assert shop.brand[4] == shop.brand[5]  # "Cora" and "cora" are one brand
    assert shop.categories.values[shop.category[3]] == "Home > Garden"
    assert shop.category[6] != shop.category[5]
    margin = shop.attributes["margin"]
    assert margin.numbers[:3].tolist() == [0.5, 0.2, 0.4]  # numeric text reads as a number
    assert shop.attributes["organic"].flags[:3].tolist() == [1, -1, 0]
    assert shop.attributes["tags"].texts[5] == -1  # lists are not columns
    assert shop.added_at[3] == NOW - 2 * DAY


def test_columns_follow_a_bundles_item_space() -> None:
    catalog = CatalogColumns.from_rows(
        [SHOP[1], SHOP[0], product(20, price="1")], ["p0", "p1", "gone"]
    )
    assert catalog.item_ids == ["p0", "p1", "gone", "p20"]  # new products come after
    assert catalog.price.tolist()[:2] == [10.0, 12.0]
    assert not catalog.in_stock[2] and math.isnan(catalog.price[2])


def test_update_changes_a_few_rows_in_place_and_appends_new_products(shop: CatalogColumns) -> None:
    price = shop.price
    changed = shop.update([
        {"product_id": "p1", "sale_price": "6.00"},
        {"product_id": "p3", "in_stock": True},
        {"product_id": "new", "price": "5", "brand": "Fresh", "created_at": NOW},
    ])  # fmt: skip
    assert changed.tolist() == [1, 3, 10]
    assert shop.on_sale[1] and shop.effective_price[1] == 6.0 and shop.in_stock[3]
    assert shop.price[1] == 12.0  # keys a row leaves out are kept
    assert shop.index("new") == 10 and shop.brands.values[shop.brand[10]] == "Fresh"
    assert price is not shop.price  # grown arrays are new, swapped in whole
    changes = shop.changes_since(0)
    assert changes is not None and changes.tolist() == [1, 3, 10]
    assert shop.changes_since(shop.version).tolist() == []  # type: ignore[union-attr]


# Conditions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "price", "op": "lt", "value": 12}, [0, 4, 7]),
        ({"field": "price", "op": "ne", "value": 10}, [1, 2, 3, 4, 5, 7, 8, 9]),  # 6 has none
        ({"field": "price", "op": "in", "value": [10, 100]}, [0, 5]),
        ({"field": "price", "op": "exists", "value": False}, [6]),
        ({"field": "effective_price", "op": "lte", "value": 9.5}, [0, 4]),
        ({"field": "on_sale", "op": "eq", "value": True}, [0, 2]),
        ({"field": "in_stock", "op": "ne", "value": True}, [2, 3, 9]),
        ({"field": "brand", "op": "eq", "value": "CORA"}, [4, 5]),
        ({"field": "brand", "op": "nin", "value": ["acme", "Bolt"]}, [4, 5, 7, 8, 9]),
        ({"not": {"field": "brand", "op": "in", "value": ["acme", "Bolt"]}}, [4, 5, 6, 7, 8, 9]),
        ({"field": "brand", "op": "eq", "value": "Nobody"}, []),
        ({"field": "category", "op": "under", "value": "home > kitchen"}, [0, 1, 2, 4, 7, 9]),
        ({"field": "category", "op": "under", "value": ["Toys"]}, [5, 6]),
        ({"field": "category", "op": "eq", "value": "Home > Kitchen"}, [4]),
        ({"field": "item_group", "op": "eq", "value": "mug"}, [0, 1]),
        ({"field": "added_at", "op": "within", "value": "7d"}, [3, 4]),
        ({"field": "added_at", "op": "gte", "value": "2025-05-01T00:00:00Z"}, [3, 4, 7]),
        ({"field": "attributes.margin", "op": "gte", "value": 0.4}, [0, 2]),
        ({"field": "attributes.color", "op": "eq", "value": "RED"}, [0, 4]),
        ({"field": "attributes.color", "op": "ne", "value": "red"}, [1]),
        ({"field": "attributes.organic", "op": "eq", "value": False}, [2]),
        ({"field": "attributes.organic", "op": "ne", "value": True}, [2]),
        ({"field": "attributes.color", "op": "exists", "value": True}, [0, 1, 4]),
        ({"field": "attributes.tags", "op": "exists", "value": True}, []),
        ({"field": "attributes.nobody", "op": "eq", "value": 1}, []),
        ({"field": "attributes.nobody", "op": "exists", "value": False}, list(range(N))),
        ({"any": [{"field": "brand", "op": "eq", "value": "Dune"},
                  {"field": "price", "op": "gte", "value": 100}]}, [5, 7, 8]),
        ({"all": [{"field": "category", "op": "under", "value": "Home"},
                  {"field": "in_stock", "op": "eq", "value": True}]}, [0, 1, 4, 7, 8]),
    ],
)  # fmt: skip
def test_conditions_on_item_fields(
    shop: CatalogColumns, condition: dict[str, Any], expected: list[int]
) -> None:
    assert matching(shop, condition) == expected


@pytest.mark.parametrize(
    ("condition", "context", "expected"),
    [
        ({"same": "category"}, {"in_view": 0}, [0, 1, 7, 9]),
        ({"same": "category", "levels": 2}, {"in_view": 0}, [0, 1, 2, 4, 7, 9]),  # not Kitchenware
        ({"same": "brand"}, {"in_view": 4}, [4, 5]),
        ({"same": "item_group"}, {"in_view": 1}, [0, 1]),
        ({"same": "brand", "as": "cart"}, {"cart": [0, 7]}, [0, 1, 7, 8]),
        ({"price_within": 30}, {"in_view": 1}, [1, 4, 7, 8, 9]),  # 8.40 to 15.60 around 12
        ({"price_within": 30}, {"in_view": 0}, [0, 4]),  # around its sale price, 8
        ({"price_within": 10, "as": "cart"}, {"cart": [2, 5]}, [2, 5]),  # 27-33 and 90-110
        ({"all": [{"same": "category"}, {"field": "in_stock", "op": "eq", "value": True}]},
         {"in_view": 0}, [0, 1, 7]),
    ],
)  # fmt: skip
def test_conditions_relative_to_the_request(
    shop: CatalogColumns, condition: dict[str, Any], context: dict[str, Any], expected: list[int]
) -> None:
    assert matching(shop, condition, **context) == expected


@pytest.mark.parametrize(
    ("condition", "context", "why"),
    [
        ({"same": "category"}, {}, "needs a product in view"),
        ({"price_within": 30}, {"in_view": 6}, "the product in view has no price"),
        ({"same": "brand"}, {"in_view": 6}, "the product in view has no brand"),
        ({"same": "brand", "as": "cart"}, {"cart": [99]}, "needs items in the cart"),
        ({"same": "brand"}, {"in_view": 99}, "the product in view is not in the catalog"),
    ],
)
def test_a_relative_rule_the_request_cannot_answer_is_skipped(
    shop: CatalogColumns, condition: dict[str, Any], context: dict[str, Any], why: str
) -> None:
    answer = ruled(shop, [{"id": "f", "kind": "filter", "condition": condition}], **context)
    assert trace_of(answer, "f") == (SKIPPED, why)
    assert answer.allowed.all() and len(answer.items) == N


def test_rules_read_the_live_catalog_after_updates(shop: CatalogColumns) -> None:
    sale_only = [
        {
            "id": "sale",
            "kind": "filter",
            "condition": ON_SALE,
        }
    ]
    compiled = compile_rules([parse_rule(r) for r in sale_only], shop)
    context = RuleContext("similar", now_ms=NOW)

    def answer() -> list[int]:
        scores = np.ones(len(shop), dtype=np.float32)
        ruled_answer = apply_rules(scores, np.ones(len(shop), bool), shop, context, compiled, 20)
        return items(ruled_answer)

    assert answer() == [0, 2]
    shop.update([{"product_id": "p0", "sale_price": None}, {"product_id": "p7", "sale_price": "5"}])
    assert answer() == [2, 7]
    shop.update([{"product_id": "new", "price": "20", "sale_price": "10"}])  # added since training
    assert answer() == [2, 7, 10]
    for step in range(70):  # more updates than the log keeps: the masks are recomputed whole
        shop.update([{"product_id": "p8", "sale_price": "1" if step % 2 else None}])
    assert answer() == [2, 7, 8, 10]


def test_agreed_prices_are_compared_and_the_shared_masks_stay_list_prices(
    shop: CatalogColumns,
) -> None:
    """A member's view of the catalog: a cached part that reads a price is recomputed on the
    rows with an agreed price; the mask every other visitor reads is left as it was."""
    acme_cheap = [{"id": "cheap-acme", "kind": "filter",
                   "condition": {"all": [where("brand", "eq", "Acme"),
                                         where("price", "lte", 11)]}}]  # fmt: skip
    compiled = compile_rules([parse_rule(r) for r in acme_cheap], shop)
    # Two accounts price p1 at 15 and 11 (the lowest holds) and p0 at 20; p2 is not on sale.
    agreed = lowest_prices(
        [
            AgreedPrices(np.array([1, 0], np.int64), np.array([15.0, 20.0])),
            AgreedPrices(np.array([1, 2], np.int64), np.array([11.0, 50.0])),
        ]
    )
    assert agreed is not None and agreed.rows.tolist() == [0, 1, 2]
    assert agreed.prices.tolist() == [20.0, 11.0, 50.0]

    def answer(context: RuleContext) -> list[int]:
        scores = np.ones(len(shop), dtype=np.float32)
        return items(apply_rules(scores, np.ones(len(shop), bool), shop, context, compiled, 20))

    assert answer(RuleContext("similar", now_ms=NOW)) == [0]
    assert answer(RuleContext("similar", now_ms=NOW, prices=agreed)) == [1]
    assert answer(RuleContext("similar", now_ms=NOW)) == [0]
    view = shop.priced(agreed.rows, agreed.prices)
    assert not view.on_sale[[0, 2]].any() and shop.on_sale[[0, 2]].all()
    assert math.isnan(view.sale_price[0]) and view.effective_price[2] == 50.0


# Each kind ----------------------------------------------------------------------------------


def test_filters_include_and_exclude(shop: CatalogColumns) -> None:
    answer = ruled(shop, [
        {"id": "home", "kind": "filter", "condition": where("category", "under", "Home")},
        {"id": "no-dune", "kind": "filter", "mode": "exclude",
         "condition": where("brand", "eq", "Dune")},
    ])  # fmt: skip
    assert items(answer) == [0, 1, 2, 3, 4, 9]
    assert trace_of(answer, "home") == (APPLIED, "kept 8 of 10 items")
    assert trace_of(answer, "no-dune") == (APPLIED, "kept 6 of 8 items")
    # every kept item passed "home"; "no-dune" matched none of them, so touched none
    assert all(i.rules == ("home",) for i in answer.items)


def test_boost_and_bury_multiply_and_divide(shop: CatalogColumns) -> None:
    scores = np.full(N, 1.0, dtype=np.float32)
    scores[9] = 0.0  # not scored by the recommender: a boost does not bring it in
    answer = ruled(shop, [
        {"id": "up", "kind": "boost", "factor": 3, "condition": where("brand", "eq", "Dune")},
        {"id": "up-more", "kind": "boost", "factor": 2,
         "condition": where("item_group", "eq", "mug")},
        {"id": "down", "kind": "bury", "factor": 4, "condition": where("price", "gte", 40)},
        {"id": "both", "kind": "boost", "factor": 1.5, "condition": where("brand", "eq", "Eden")},
    ], scores=scores)  # fmt: skip
    assert items(answer) == [7, 8, 0, 1, 3, 4, 6, 2, 5]
    assert answer.scores.tolist() == [2, 2, 0.25, 1, 1, 0.25, 1, 3, 3, 0]
    assert trace_of(answer, "down") == (APPLIED, "score /4 for 2 items")
    assert answer.items[0].rules == ("up",)


def test_pin_a_product_and_pin_the_best_match(shop: CatalogColumns) -> None:
    answer = ruled(shop, [
        {"id": "hero", "kind": "pin", "slot": 1, "product_id": "p8"},
        {"id": "a-sale", "kind": "pin", "slot": 3, "condition": ON_SALE},
    ], limit=5)  # fmt: skip
    # p0 is the best-scored item on sale: it leaves its rank for slot 3
    assert items(answer) == [8, 1, 0, 2, 3]
    assert [i.pinned_by for i in answer.items] == ["hero", None, "a-sale", None, None]
    assert trace_of(answer, "hero") == (APPLIED, "p8 at slot 1")
    assert answer.items[0].rules == ("hero",) and answer.items[2].rules == ("a-sale",)


def test_a_product_added_since_training_can_be_pinned(shop: CatalogColumns) -> None:
    shop.update([{"product_id": "brand-new", "price": "5", "availability": "in_stock"}])
    compiled = compile_rules([rule(kind="pin", slot=2, product_id="brand-new")], shop)
    trained = np.arange(N, 0, -1, dtype=np.float32)  # the bundle's scores: no entry for it
    allowed = np.ones(len(shop), dtype=bool)
    answer = apply_rules(trained, allowed, shop, RuleContext("x"), compiled, 3)
    assert items(answer) == [0, 10, 1]
    assert answer.items[1].score == 0.0 and answer.items[1].pinned_by == "r"


def test_pins_move_up_when_there_are_too_few_items(shop: CatalogColumns) -> None:
    allowed = np.zeros(N, dtype=bool)
    allowed[[1, 2, 5]] = True
    answer = ruled(shop, [
        {"id": "late", "kind": "pin", "slot": 8, "product_id": "p5"},
        {"id": "early", "kind": "pin", "slot": 2, "product_id": "p2"},
    ], allowed=allowed)  # fmt: skip
    assert items(answer) == [1, 2, 5]


def test_a_diversity_cap_per_brand_and_per_category_level(shop: CatalogColumns) -> None:
    answer = ruled(
        shop, [{"id": "2-per-brand", "kind": "diversity", "attribute": "brand", "max_per_value": 1}]
    )
    assert items(answer) == [0, 2, 4, 6, 7, 9]  # 6 has no brand: never capped
    assert trace_of(answer, "2-per-brand") == (APPLIED, "at most 1 per brand: held back 4 items")
    answer = ruled(shop, [
        {"id": "dept", "kind": "diversity", "attribute": "category", "levels": 1,
         "max_per_value": 2},
    ])  # fmt: skip
    assert items(answer) == [0, 1, 5, 6]  # Home twice, Toys twice
    assert answer.items[0].rules == ("dept",)


def test_a_cap_on_matching_items_only(shop: CatalogColumns) -> None:
    answer = ruled(shop, [
        {"id": "one-mug", "kind": "diversity", "max_per_value": 1,
         "condition": where("category", "under", "Home > Kitchen > Mugs")},
    ], limit=5)  # fmt: skip
    assert items(answer) == [0, 2, 3, 4, 5]
    assert [i.rules for i in answer.items] == [("one-mug",), (), (), (), ()]


def test_brand_conflicts_hold_against_the_page_and_the_product_in_view(
    shop: CatalogColumns,
) -> None:
    wars = {"id": "wars", "kind": "brand_conflict", "brands": [["Acme", "Eden"], ["Dune", "Bolt"]]}
    answer = ruled(shop, [wars])
    assert items(answer) == [0, 1, 4, 5, 6, 9]
    assert trace_of(answer, "wars") == (
        APPLIED,
        "showing Acme, Eden: the other groups are held back",
    )
    answer = ruled(shop, [wars], in_view=8)  # a Dune product's page: no Acme or Eden
    assert items(answer) == [2, 3, 4, 5, 6, 7, 8]


# The order of application -------------------------------------------------------------------


def test_a_boost_never_brings_back_a_filtered_item(shop: CatalogColumns) -> None:
    answer = ruled(shop, [
        {"id": "stock", "kind": "filter", "condition": IN_STOCK},
        {"id": "bolt", "kind": "boost", "factor": 100, "condition": where("brand", "eq", "Bolt")},
    ], limit=3)  # fmt: skip
    assert items(answer) == [0, 1, 4]
    assert trace_of(answer, "bolt") == (SKIPPED, "matched no item")  # both Bolts were filtered


def test_a_pin_obeys_the_filters_and_the_request(shop: CatalogColumns) -> None:
    allowed = np.ones(N, dtype=bool)
    allowed[4] = False  # the product in view, say
    answer = ruled(shop, [
        {"id": "stock", "kind": "filter", "condition": IN_STOCK},
        {"id": "pin-3", "kind": "pin", "slot": 1, "product_id": "p3"},
        {"id": "pin-4", "kind": "pin", "slot": 2, "product_id": "p4"},
        {"id": "pin-x", "kind": "pin", "slot": 3, "product_id": "nope"},
    ], allowed=allowed, limit=3)  # fmt: skip
    assert items(answer) == [0, 1, 5]
    assert trace_of(answer, "pin-3") == (SKIPPED, "removed by filter stock")
    assert trace_of(answer, "pin-4")[1].startswith("excluded from this request")
    assert trace_of(answer, "pin-x") == (SKIPPED, "product nope is not in the catalog")


def test_pins_count_toward_caps_and_conflicts_and_yield_to_higher_priority(
    shop: CatalogColumns,
) -> None:
    answer = ruled(shop, [
        {"id": "one-per-brand", "kind": "diversity", "attribute": "brand", "max_per_value": 1},
        {"id": "wars", "kind": "brand_conflict", "brands": [["Acme"], ["Dune"]]},
        {"id": "dune", "kind": "pin", "slot": 2, "product_id": "p7", "priority": 10},
        {"id": "acme", "kind": "pin", "slot": 1, "product_id": "p0", "priority": 5},
        {"id": "dune-2", "kind": "pin", "slot": 3, "product_id": "p8"},
        {"id": "same-slot", "kind": "pin", "slot": 2, "product_id": "p4", "priority": 1},
        {"id": "far", "kind": "pin", "slot": 5, "product_id": "p5"},
    ], limit=4)  # fmt: skip
    # p7 first (highest priority): Acme conflicts with it, a second Dune breaks the cap
    assert items(answer) == [2, 7, 4, 6]
    assert trace_of(answer, "acme") == (SKIPPED, "would break rule wars")
    assert trace_of(answer, "dune-2") == (SKIPPED, "would break rule one-per-brand")
    assert trace_of(answer, "same-slot") == (SKIPPED, "slot 2 is taken by rule dune")
    assert trace_of(answer, "far") == (SKIPPED, "slot 5 is past the 4 items asked for")
    assert answer.items[1].rules == ("dune", "one-per-brand", "wars")


def test_ties_go_to_the_lower_item_also_across_the_cut() -> None:
    n = 5000
    catalog = CatalogColumns.from_rows([product(i, price="1") for i in range(n)])
    scores = np.ones(n, dtype=np.float32)
    scores[4000] = 2.0
    answer = apply_rules(scores, np.ones(n, bool), catalog, RuleContext("x"), [], 5)
    assert items(answer) == [4000, 0, 1, 2, 3]


def test_a_cap_that_holds_back_the_whole_top_of_the_ranking() -> None:
    """The top 3,000 items are one brand: the page takes its one item of that brand, drops the
    rest of it at once and goes on below, in a few rounds rather than 3,000 checks."""
    n = 4000
    catalog = CatalogColumns.from_rows(
        [product(i, brand="Big" if i < 3000 else f"small-{i % 7}") for i in range(n)]
    )
    rules = compile_rules([rule(kind="diversity", attribute="brand", max_per_value=1)], catalog)
    scores = np.linspace(2, 1, n).astype(np.float32)
    answer = apply_rules(scores, np.ones(n, bool), catalog, RuleContext("x"), rules, 5)
    assert items(answer) == [0, 3000, 3001, 3002, 3003]


# Schedule, scope, audience ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "context", "why"),
    [
        ({"enabled": False}, {}, "disabled"),
        ({"schedule": {"starts_at": "2025-07-01T00:00:00Z"}}, {},
         "out of schedule: starts at 2025-07-01T00:00:00Z"),
        ({"schedule": {"ends_at": "2025-06-01T00:00:00+02:00"}}, {},
         "out of schedule: ended at 2025-05-31T22:00:00Z"),
        ({"scope": {"strategies": ["trending", "for_you"]}}, {},
         "out of scope: strategy similar is not one of trending, for_you"),
        ({"scope": {"placements": ["home"]}}, {"placement": "pdp"},
         "out of scope: placement pdp; the rule is for home"),
        ({"scope": {"placements": ["home"]}}, {},
         "out of scope: no placement given; the rule is for home"),
        ({"audience": "vip"}, {"audiences": frozenset({"new"})},
         "audience not matched: the visitor is not in vip"),
    ],
)  # fmt: skip
def test_a_rule_out_of_schedule_scope_or_audience_is_skipped(
    shop: CatalogColumns, extra: dict[str, Any], context: dict[str, Any], why: str
) -> None:
    pin = {"id": "pin", "kind": "pin", "slot": 1, "product_id": "p8", **extra}
    answer = ruled(shop, [pin], limit=2, **context)
    assert trace_of(answer, "pin") == (SKIPPED, why)
    assert items(answer) == [0, 1]


@pytest.mark.parametrize(
    ("extra", "context"),
    [
        ({"schedule": {"starts_at": "2025-06-15T00:00:00Z", "ends_at": "2025-06-16T00:00:00Z"}},
         {}),
        ({"scope": {"strategies": ["similar"], "placements": ["pdp"]}}, {"placement": "pdp"}),
        ({"audience": "vip"}, {"audiences": frozenset({"new", "vip"})}),
    ],
)  # fmt: skip
def test_a_rule_in_schedule_scope_and_audience_applies(
    shop: CatalogColumns, extra: dict[str, Any], context: dict[str, Any]
) -> None:
    pin = {"id": "pin", "kind": "pin", "slot": 1, "product_id": "p8", **extra}
    answer = ruled(shop, [pin], limit=2, **context)
    assert trace_of(answer, "pin") == (APPLIED, "p8 at slot 1")
    assert items(answer) == [8, 0]


def test_the_trace_lists_every_rule_by_priority_with_why(shop: CatalogColumns) -> None:
    answer = ruled(shop, [
        {"id": "sale", "kind": "filter", "priority": -1, "condition": ON_SALE},
        {"id": "vip", "kind": "boost", "factor": 2, "audience": "vip",
         "condition": where("brand", "eq", "Acme")},
        {"id": "cap", "kind": "diversity", "priority": 5, "attribute": "brand", "max_per_value": 2},
        {"id": "toys", "kind": "bury", "factor": 2,
         "condition": where("category", "under", "Toys")},
    ])  # fmt: skip
    assert [t.as_dict() for t in answer.trace] == [
        {"rule": "cap", "kind": "diversity", "status": "applied",
         "why": "at most 2 per brand: no value reached it", "items": 0},
        {"rule": "toys", "kind": "bury", "status": "skipped", "why": "matched no item", "items": 0},
        {"rule": "vip", "kind": "boost", "status": "skipped",
         "why": "audience not matched: the visitor is not in vip", "items": 0},
        {"rule": "sale", "kind": "filter", "status": "applied", "why": "kept 2 of 10 items",
         "items": 8},
    ]  # fmt: skip
    assert [i.rules for i in answer.items] == [("sale", "cap"), ("sale", "cap")]


def test_a_request_never_raises(shop: CatalogColumns) -> None:
    compiled = compile_rules([rule(kind="filter", condition={"same": "brand"})], shop)
    broken = CompiledRule(compiled[0].rule, None, (0, 0), "could not be compiled: boom")
    context = RuleContext("similar", in_view=-5, cart=[10**9], now_ms=NOW)
    answer = apply_rules(
        np.ones(3, np.float32), np.ones(N + 4, bool), shop, context, [*compiled, broken], 4
    )
    assert items(answer) == [0, 1, 2]  # the scores cover three items: the rest read 0
    assert answer.notes == [
        "allowed had 14 entries for a catalog of 10: the rest counted as False",
        "scores had 3 entries for a catalog of 10: the rest counted as 0.0",
    ]
    assert [t.why for t in answer.trace] == [
        "the product in view is not in the catalog",
        "could not be compiled: boom",
    ]


def test_one_page_across_a_fallback_chain(shop: CatalogColumns) -> None:
    """What serving does: the filters once, one page filled from strategy after strategy, the
    cap over the whole answer, and a filtered item never coming back from a fallback."""
    compiled = compile_rules([
        rule(id="stock", kind="filter", condition={"field": "in_stock", "op": "eq", "value": True}),
        rule(id="cap", kind="diversity", attribute="brand", max_per_value=1),
    ], shop)  # fmt: skip
    plan = plan_rules(compiled, shop, RuleContext("similar", now_ms=NOW), np.ones(N, bool))
    page = plan.page(5)
    first = np.zeros(N, dtype=np.float32)
    first[[0, 1]] = [2, 1]  # the requested strategy knows two Acme products
    assert page.fill(plan.adjust(first), plan.allowed, "similar") == [0]
    trending = np.linspace(1, 2, N).astype(np.float32)  # favours the last items
    # p9 and p2, p3 were filtered, p7 (a second Dune) and p4 (a second Cora) are held back, p1
    # (a second Acme) is not even looked at: four items is all the cap lets in.
    assert page.fill(plan.adjust(trending), plan.allowed, "trending") == [8, 6, 5]
    answer = plan.finish(page)
    assert [(i.item, i.source) for i in answer] == [
        (0, "similar"), (8, "trending"), (6, "trending"), (5, "trending"),
    ]  # fmt: skip
    assert trace_of(RuledAnswer(plan.allowed, first, answer, plan.trace), "cap") == (
        APPLIED,
        "at most 1 per brand: held back 3 items",
    )


# Properties ---------------------------------------------------------------------------------

BRANDS = ["A", "B", "C", "D", None]


@st.composite
def shops(draw: st.DrawFn) -> tuple[list[dict[str, Any]], CatalogColumns]:
    n = draw(st.integers(1, 40))
    rows = [
        product(
            i,
            brand=draw(st.sampled_from(BRANDS)),
            price=str(draw(st.integers(1, 9))),
            sale_price=draw(st.sampled_from([None, "2", "5"])),
            availability=draw(st.sampled_from(["in_stock", "out_of_stock"])),
        )
        for i in range(n)
    ]
    return rows, CatalogColumns.from_rows(rows)


def _brand_set(draw: st.DrawFn) -> list[str]:
    return draw(st.lists(st.sampled_from(BRANDS[:4]), min_size=1, max_size=3, unique=True))


@st.composite
def rule_sets(draw: st.DrawFn, n: int) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    kinds = [
        "filter",
        "boost",
        "bury",
        "pin",
        "pin",
        "pin_match",
        "diversity",
        "diversity",
        "brand_conflict",
    ]
    for number in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(kinds))
        r: dict[str, Any] = {"id": f"r{number}", "kind": kind, "priority": draw(st.integers(0, 3))}
        condition = draw(st.sampled_from([
            {"field": "brand", "op": "in", "value": _brand_set(draw)},
            {"field": "price", "op": "lte", "value": draw(st.integers(1, 9))},
            {"field": "on_sale", "op": "eq", "value": True},
            {"field": "in_stock", "op": "eq", "value": True},
        ]))  # fmt: skip
        if kind == "filter":
            r.update(mode=draw(st.sampled_from(["include", "exclude"])), condition=condition)
        elif kind in ("boost", "bury"):
            r.update(factor=draw(st.sampled_from([1.5, 2, 10])), condition=condition)
        elif kind == "pin":
            r.update(slot=draw(st.integers(1, 6)), product_id=f"p{draw(st.integers(0, n - 1))}")
        elif kind == "pin_match":
            r.update(kind="pin", slot=draw(st.integers(1, 6)), condition=condition)
        elif kind == "diversity":
            r.update(max_per_value=draw(st.integers(1, 3)))
            if draw(st.booleans()):
                r["attribute"] = "brand"
            if "attribute" not in r or draw(st.booleans()):
                r["condition"] = condition
        else:
            brands = draw(st.permutations(BRANDS[:4]))
            cut = draw(st.integers(1, 3))
            r["brands"] = [list(brands[:cut]), list(brands[cut:])]
        rules.append(r)
    return rules


def _holds(condition: dict[str, Any], row: dict[str, Any]) -> bool:
    """The condition on one product row, read from the documented semantics."""
    price, sale = float(row["price"]), row["sale_price"]
    if condition["field"] == "brand":
        return row["brand"] is not None and row["brand"] in list(condition["value"])
    if condition["field"] == "price":
        return price <= float(condition["value"])
    if condition["field"] == "on_sale":
        return sale is not None and float(sale) < price
    return bool(row["availability"] == "in_stock")


@settings(max_examples=250, deadline=None)
@given(data=st.data())
def test_answers_never_break_a_rule_and_are_never_shorter_than_the_rules_force(
    data: st.DataObject,
) -> None:
    rows, catalog = data.draw(shops())
    n = len(rows)
    rules = data.draw(rule_sets(n))
    scores = np.asarray(
        data.draw(
            st.lists(
                st.sampled_from([-np.inf, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0]), min_size=n, max_size=n
            )
        ),
        dtype=np.float32,
    )
    allowed = np.asarray(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    limit = data.draw(st.integers(0, 8))
    in_view = data.draw(st.none() | st.integers(0, n - 1))
    # How many candidates beyond those missing a round takes is a matter of speed only: with
    # none, every cap that holds an item back starts another round.
    with mock.patch.object(page_module, "_SLACK", data.draw(st.sampled_from([0, 1, 16]))):
        answer = ruled(catalog, rules, scores=scores, allowed=allowed, limit=limit, in_view=in_view)
    shown = items(answer)
    brand = [r["brand"] for r in rows]

    def kept(i: int) -> bool:
        for r in rules:
            if r["kind"] == "filter" and _holds(r["condition"], rows[i]) != (
                r["mode"] == "include"
            ):
                return False
        return bool(allowed[i])

    def breaks(i: int, page: list[int]) -> bool:
        """Whether item i joining the page would break a cap or a conflict."""
        for r in rules:
            if r["kind"] == "diversity":
                counted = [
                    j for j in [*page, i] if "condition" not in r or _holds(r["condition"], rows[j])
                ]
                if "attribute" in r:
                    if brand[i] is None or i not in counted:
                        continue
                    counted = [j for j in counted if brand[j] == brand[i]]
                if i in counted and len(counted) > r["max_per_value"]:
                    return True
            if r["kind"] == "brand_conflict":
                on_page = [*page, i] + ([in_view] if in_view is not None else [])
                groups = {
                    g for j in on_page for g, names in enumerate(r["brands"]) if brand[j] in names
                }
                if len(groups) > 1:
                    return True
        return False

    assert len(shown) == len(set(shown)) <= limit
    assert all(kept(i) for i in shown), "a filtered item was shown"
    for position, i in enumerate(shown):
        assert not breaks(i, shown[:position] + shown[position + 1 :]), f"item {i} breaks a rule"
    candidates = [i for i in range(n) if kept(i) and answer.scores[i] > 0 and i not in shown]
    if len(shown) < limit:
        # The only narrowing: caps and conflicts may leave fewer than the limit (two brands, one
        # each); then every candidate left out would break one. Without them, the answer is
        # min(limit, candidates) long (pins only add to it).
        assert all(breaks(i, shown) for i in candidates), "an answer stopped short"
    fillers = [
        (-answer.scores[i], i)
        for i, it in zip(shown, answer.items, strict=True)
        if not it.pinned_by
    ]
    assert fillers == sorted(fillers), "fillers out of score order (ties: lower item first)"
    assert {t.rule_id for t in answer.trace} == {r["id"] for r in rules}
