"""The propensity task of `relevo evaluate` (relevo.offline.propensity) on CDNOW and UCI Online
Retail: Relevo's purchase propensity against BG/NBD, a logistic regression on standardised RFM
and gradient-boosted trees on the behaviour columns, the same people, one temporal split
(the last 30 days held out). Usage:

    .venv/bin/python bench/evaluate_propensity.py [--record] [--plots FOLDER]

The orders are read from ../shared/data as `relevo import orders` would store them (one order
per CDNOW line, one per UCI invoice: cancelled invoices and lines without a customer left out),
and handed to the same function `relevo evaluate` runs on a workspace's orders.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import polars as pl
from common import record

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from relevo.offline.propensity import calibration_plot, evaluate_propensity

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def cdnow() -> pl.DataFrame:
    lines = (DATA / "cdnow" / "CDNOW_master.txt").read_text().splitlines()[1:]
    rows = [line.split() for line in lines]
    return pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "timestamp": [
                int(dt.datetime.strptime(r[1], "%Y%m%d").replace(tzinfo=dt.UTC).timestamp() * 1000)
                for r in rows
            ],
            "value": [float(r[3]) for r in rows],
        }
    )


def uci() -> pl.DataFrame:
    lines = pl.read_csv(
        DATA / "uci-online-retail" / "online_retail.csv.gz",
        schema_overrides={"CustomerID": pl.Utf8, "InvoiceNo": pl.Utf8, "StockCode": pl.Utf8},
    ).filter(
        pl.col("CustomerID").is_not_null()
        & (pl.col("Quantity") > 0)
        & ~pl.col("InvoiceNo").str.starts_with("C")
    )
    lines = lines.with_columns(
        pl.col("InvoiceDate")
        .str.to_datetime("%Y-%m-%d %H:%M:%S")
        .dt.replace_time_zone("UTC")
        .dt.epoch("ms")
        .alias("timestamp"),
        (pl.col("Quantity") * pl.col("UnitPrice")).alias("value"),
    )
    return lines.group_by("InvoiceNo").agg(
        pl.col("CustomerID").first().alias("customer_id"),
        pl.col("timestamp").min(),
        pl.col("value").sum(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--plots", type=Path, default=None)
    args = parser.parse_args()
    lines = []
    for name, load in (("CDNOW", cdnow), ("UCI Online Retail", uci)):
        orders = load()
        started = time.perf_counter()
        result = evaluate_propensity(orders)
        seconds = time.perf_counter() - started
        table = result.table
        print(f"{name}: {result.people:,} customers, {seconds:.0f} s")
        print(table)
        print(json.dumps({"repeat_orders": result.repeat_orders, "clv": result.clv}))
        auc = dict(zip(table["model"].to_list(), table["auc"].to_list(), strict=True))
        references = {k: auc[k] for k in ("bgnbd", "logistic_rfm", "gradient_boosting")}
        best = max(references, key=lambda k: references[k])
        verdict = "holds" if auc["relevo_propensity"] >= references[best] else "MISSED"
        lines.append(
            f"{name} ({result.people:,} customers, last 30 days held out, observed rate "
            f"{table['observed_rate'][0]:.3f}): AUC relevo_propensity "
            f"{auc['relevo_propensity']:.4f}, bgnbd {auc['bgnbd']:.4f} "
            f"(P(alive) {auc['bgnbd_p_alive']:.4f}), logistic_rfm {auc['logistic_rfm']:.4f}, "
            f"gradient_boosting {auc['gradient_boosting']:.4f}: bar (>= best reference, "
            f"{best}) {verdict}; ECE relevo "
            + f"{table.filter(pl.col('model') == 'relevo_propensity')['ece'][0]:.4f}; "
            f"repeat orders in the holdout expected {result.repeat_orders['expected_bgnbd']:,} "
            f"/ actual {result.repeat_orders['actual']:,.0f}; 30-day revenue MAE "
            f"{result.clv.get('mae', float('nan')):.2f} (total expected "
            f"{result.clv.get('expected_total', 0):,.0f} / actual "
            f"{result.clv.get('actual_total', 0):,.0f}); {seconds:.0f} s"
        )
        if args.plots is not None:
            calibration_plot(result, args.plots / f"{name.split()[0].lower()}.png", title=name)
    print("\n".join(lines))
    if args.record:
        record(
            "Propensity task: Relevo against BG/NBD, RFM logistic regression and gradient boosting",
            " ".join(["python", *sys.argv]),
            lines,
        )


if __name__ == "__main__":
    main()
