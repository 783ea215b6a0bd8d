"""Loaders of the real datasets in ../shared/data into Interactions (+ ItemTable): read from
there, never copied into the repository."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from relevo.recs.data import CatalogItem, Interactions, ItemTable, Kind
from relevo.recs.training import interactions_and_items

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def uci_online_retail() -> tuple[Interactions, ItemTable]:
    """Purchases of identified customers; cancellations and non-product codes dropped."""
    frame = pl.read_csv(
        DATA / "uci-online-retail" / "online_retail.csv.gz",
        schema_overrides={"InvoiceNo": pl.Utf8, "StockCode": pl.Utf8, "CustomerID": pl.Utf8},
    )
    frame = frame.filter(
        pl.col("CustomerID").is_not_null()
        & (pl.col("Quantity") > 0)
        & ~pl.col("InvoiceNo").str.starts_with("C")
        & pl.col("StockCode").str.contains(r"^\d{5}[A-Za-z]*$")
    )
    events = frame.select(
        pl.col("CustomerID").alias("user_id"),
        pl.col("StockCode").alias("item_id"),
        (pl.col("InvoiceDate").str.to_datetime("%Y-%m-%d %H:%M:%S").dt.epoch("ms")).alias(
            "timestamp"
        ),
        pl.lit(int(Kind.PURCHASE)).alias("kind"),
        pl.col("InvoiceNo").alias("basket_id"),
        pl.col("Quantity").cast(pl.Float32).alias("quantity"),
    )
    described = (
        frame.group_by("StockCode")
        .agg(pl.col("Description").drop_nulls().first(), pl.col("UnitPrice").median())
        .sort("StockCode")
    )
    catalog = [
        CatalogItem(code, title=(title or "").strip(), price=price)
        for code, title, price in described.iter_rows()
    ]
    return interactions_and_items(events, catalog)


def groceries() -> tuple[Interactions, ItemTable]:
    """9,835 baskets without customers or times: each basket is its own person, and the
    source order stands in for time (one minute apart)."""
    long = pl.read_csv(DATA / "groceries-arules" / "groceries_long.csv")
    items = pl.read_csv(DATA / "groceries-arules" / "groceries_items.csv")
    events = long.select(
        pl.col("basket_id").cast(pl.Utf8).alias("user_id"),
        pl.col("item").alias("item_id"),
        (pl.col("basket_id").cast(pl.Int64) * 60_000).alias("timestamp"),
        pl.lit(int(Kind.PURCHASE)).alias("kind"),
        pl.col("basket_id").cast(pl.Utf8).alias("basket_id"),
        pl.col("count").cast(pl.Float32).alias("quantity"),
    )
    catalog = [
        CatalogItem(name, title=name, category=f"{level1} > {level2}")
        for name, level2, level1 in items.select("item", "level2", "level1").iter_rows()
    ]
    return interactions_and_items(events, catalog)


def diginetica() -> tuple[Interactions, ItemTable]:
    """Views of the sample sessions and all purchases (known users by id, others by session)."""
    folder = DATA / "diginetica-cikm2016"
    views = pl.read_csv(
        folder / "sample_train-item-views.csv.gz",
        separator=";",
        null_values=["NA"],
        schema_overrides={"user_id": pl.Utf8, "item_id": pl.Utf8, "session_id": pl.Utf8},
    ).select(
        pl.coalesce(pl.col("user_id"), pl.lit("s") + pl.col("session_id")).alias("user_id"),
        pl.col("item_id"),
        (
            pl.col("eventdate").str.to_date().cast(pl.Datetime("ms")).dt.epoch("ms")
            + pl.col("timeframe")
        ).alias("timestamp"),
        pl.lit(int(Kind.VIEW)).alias("kind"),
        pl.lit(None, dtype=pl.Utf8).alias("basket_id"),
        pl.col("session_id"),
    )
    purchases = (
        pl.read_csv(
            folder / "train-purchases.csv.gz",
            separator=";",
            null_values=["NA"],
            schema_overrides={
                "userId": pl.Utf8,
                "itemId": pl.Utf8,
                "sessionId": pl.Utf8,
                "ordernumber": pl.Utf8,
            },
        )
        .unique()
        .select(
            pl.coalesce(pl.col("userId"), pl.lit("s") + pl.col("sessionId")).alias("user_id"),
            pl.col("itemId").alias("item_id"),
            (
                pl.col("eventdate").str.to_date().cast(pl.Datetime("ms")).dt.epoch("ms")
                + pl.col("timeframe")
            ).alias("timestamp"),
            pl.lit(int(Kind.PURCHASE)).alias("kind"),
            pl.col("ordernumber").alias("basket_id"),
            pl.col("sessionId").alias("session_id"),
        )
    )
    return interactions_and_items(pl.concat([views, purchases]), [])


def otto_sample() -> tuple[Interactions, ItemTable]:
    """20 real OTTO sessions (clicks, carts, orders): tiny, run to show the same code path."""
    import gzip

    import orjson

    kinds = {"clicks": Kind.VIEW, "carts": Kind.CART, "orders": Kind.PURCHASE}
    rows = []
    with gzip.open(DATA / "otto-sample" / "otto_train_sample.jsonl.gz") as handle:
        for line in handle:
            session = orjson.loads(line)
            for event in session["events"]:
                kind = kinds[event["type"]]
                rows.append(
                    {
                        "user_id": str(session["session"]),
                        "item_id": str(event["aid"]),
                        "timestamp": int(event["ts"]),
                        "kind": int(kind),
                        "basket_id": f"{session['session']}-{event['ts'] // 60_000}"
                        if kind is Kind.PURCHASE
                        else None,
                    }
                )
    return interactions_and_items(pl.DataFrame(rows), [])


DATASETS = {
    "uci-online-retail": uci_online_retail,
    "groceries": groceries,
    "diginetica": diginetica,
    "otto-sample": otto_sample,
}
