"""Feed readers: Google Merchant RSS and TSV, CSV, JSONL; prices as feeds write them; bad rows
rejected with their row number and the reason; the real feeds in ../shared parse."""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relevo.catalog.feeds.formats import FeedFormat, detect, open_feed
from relevo.catalog.feeds.rows import Rejected, Row
from relevo.catalog.price import PriceError, parse_price
from relevo.catalog.product import Availability, Product

REAL_FEEDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "merchant-feeds-real"

RSS = """<?xml version="1.0"?>
<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0"><channel><title>Shop</title>
<item><g:id>A-1</g:id><title>Oak chair</title><g:description>Solid oak</g:description>
<link>https://shop.example/a1</link><g:price>120.50 EUR</g:price>
<g:sale_price>99,90 EUR</g:sale_price>
<g:availability>out of stock</g:availability><g:brand>Woody</g:brand>
<g:product_type>Home &gt; Furniture &gt; Chairs</g:product_type><g:item_group_id>A</g:item_group_id>
<g:gtin>4006381333931</g:gtin><g:custom_label_0>summer</g:custom_label_0></item>
<item><g:id>A-2</g:id><g:title>Broken price</g:title><g:price>cheap</g:price></item>
<item><g:title>No id</g:title><g:price>1 EUR</g:price></item>
<item><g:id>A-3</g:id><g:title>Lamp</g:title><g:price>15 EUR</g:price>
<g:google_product_category>Home &amp; Garden &gt; Lighting</g:google_product_category></item>
</channel></rss>"""


def _rows(path: Path, fmt: FeedFormat = FeedFormat.AUTO) -> list[Row]:
    with open_feed(path, fmt) as rows:
        return list(rows)


def test_merchant_rss_fields_prices_and_rejects(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml.gz"
    path.write_bytes(gzip.compress(RSS.encode()))
    assert detect(path) is FeedFormat.MERCHANT_XML
    rows = _rows(path)
    chair, broken, no_id, lamp = rows
    assert isinstance(chair, Product)
    assert (chair.product_id, chair.title, chair.brand) == ("A-1", "Oak chair", "Woody")
    assert chair.price == Decimal("120.50") and chair.sale_price == Decimal("99.90")
    assert chair.currency == "EUR" and chair.availability is Availability.OUT_OF_STOCK
    assert not chair.sellable
    assert chair.category == ["Home", "Furniture", "Chairs"] and chair.item_group_id == "A"
    assert chair.attributes == {"gtin": "4006381333931", "custom_label_0": "summer"}
    assert isinstance(broken, Rejected) and broken.line == 2 and "cheap" in broken.reason
    assert isinstance(no_id, Rejected) and no_id.line == 3 and "product_id" in no_id.reason
    assert isinstance(lamp, Product) and lamp.category == ["Home & Garden", "Lighting"]


def test_broken_xml_keeps_the_items_before_and_reports_where(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    cut = RSS.index("<item><g:id>A-2")
    path.write_text(RSS[:cut] + "<item><g:id>oops</item></channel>")
    rows = _rows(path)
    assert isinstance(rows[0], Product)
    assert isinstance(rows[-1], Rejected) and "after item 1" in rows[-1].reason


def test_entity_expansion_is_refused(tmp_path: Path) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        '<rss xmlns:g="http://base.google.com/ns/1.0"><channel><item><g:id>&b;</g:id>'
        "</item></channel></rss>"
    )
    path = tmp_path / "bomb.xml"
    path.write_text(bomb)
    rows = _rows(path)
    assert len(rows) == 1 and isinstance(rows[0], Rejected)


def test_merchant_tsv_csv_and_jsonl(tmp_path: Path) -> None:
    tsv = tmp_path / "feed.tsv"
    tsv.write_text(
        "id\ttitle\tprice\tavailability\tproduct_type\tcolor\n"
        "m1\tMug\t15,00 EUR\tin stock\tHome > Mugs\tred\n"
        "m2\tBad\tabc\tin stock\t\t\n"
    )
    mug, bad = _rows(tsv)
    assert isinstance(mug, Product) and mug.price == Decimal("15.00") and mug.currency == "EUR"
    assert mug.attributes == {"color": "red"}
    assert isinstance(bad, Rejected) and bad.line == 3

    csv_path = tmp_path / "products.csv"
    csv_path.write_text(
        "product_id,title,price,category,stock_quantity,material\n"
        "c1,Plate,3.5,Home > Plates,0,stone\n"
        "c2,Cup,-1,,,\n"
        "c3,Too,many,values,1,2,3\n"
    )
    plate, cup, extra = _rows(csv_path)
    assert isinstance(plate, Product) and plate.attributes == {"material": "stone"}
    assert plate.stock_quantity == 0 and not plate.sellable
    assert isinstance(cup, Rejected) and "price" in cup.reason
    assert isinstance(extra, Rejected) and extra.line == 4

    jsonl = tmp_path / "products.jsonl"
    jsonl.write_text(
        '{"product_id": "j1", "title": "Fork", "category": ["Home", "Cutlery"], "color": "x"}\n'
        "not json\n"
        "[1, 2]\n"
    )
    fork, not_json, not_object = _rows(jsonl)
    assert isinstance(fork, Product) and fork.category == ["Home", "Cutlery"]
    assert fork.attributes == {"color": "x"}
    assert isinstance(not_json, Rejected) and not_json.line == 2
    assert isinstance(not_object, Rejected) and not_object.line == 3


@given(
    st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False, allow_infinity=False),
    st.sampled_from(["USD", "EUR", "RON", None]),
    st.booleans(),
    st.booleans(),
)
def test_prices_round_trip_in_every_feed_spelling(
    amount: Decimal, currency: str | None, comma: bool, prefix: bool
) -> None:
    text = f"{amount:.2f}"
    if comma:
        text = text.replace(".", ",")
    if currency:
        text = f"{currency} {text}" if prefix else f"{text} {currency}"
    parsed, found = parse_price(text)
    assert parsed == amount.quantize(Decimal("0.01")) and found == currency


@pytest.mark.parametrize("text", ["", "abc", "USD 1 EUR", "1.2.3,4,5 EUR x", "--5"])
def test_not_prices(text: str) -> None:
    with pytest.raises(PriceError):
        parse_price(text)


@pytest.mark.skipif(not REAL_FEEDS.exists(), reason="../shared/data/merchant-feeds-real absent")
@pytest.mark.parametrize(
    ("name", "count", "currency"),
    [
        ("groundies_us_merchant_feed.xml.gz", 2200, "USD"),
        ("marsupiu_ro_merchant_feed.xml.gz", 14, "RON"),
    ],
)
def test_real_merchant_feeds_parse_completely(name: str, count: int, currency: str) -> None:
    rows = _rows(REAL_FEEDS / name)
    products = [r for r in rows if isinstance(r, Product)]
    assert len(products) == len(rows) == count
    assert {p.currency for p in products} == {currency}
    assert all(p.title and p.price is not None and p.url for p in products)
    assert len({p.product_id for p in products}) == count
