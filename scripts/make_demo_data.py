"""Build relevo/demo/data/uci_online_retail.csv.gz from the UCI Online Retail data set.

Keeps the rows of known customers (all 4,372 of them, with cancellations), sorted by time, so
the demo ships a real shop's year of orders inside the repository (CC BY 4.0, attributed in
relevo/demo/data/ATTRIBUTION.md). Usage: python scripts/make_demo_data.py [SOURCE.csv.gz]
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "uci-online-retail" / "online_retail.csv.gz"
TARGET = ROOT / "relevo" / "demo" / "data" / "uci_online_retail.csv.gz"
COLUMNS = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]


def main(source: Path = SOURCE) -> None:
    with gzip.open(source, "rt", encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["CustomerID"].strip()]
    # Sorting by time then invoice keeps an invoice's lines together (stable sort).
    rows.sort(key=lambda r: (r["InvoiceDate"], r["InvoiceNo"]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([row[c] for c in COLUMNS])
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same input gives the same bytes.
    TARGET.write_bytes(gzip.compress(buffer.getvalue().encode(), compresslevel=9, mtime=0))
    print(f"{len(rows)} rows -> {TARGET} ({TARGET.stat().st_size} bytes)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE)
