"""The next-item task of `relevo evaluate` (relevo.offline.tasks.next_item, session-rec's
protocol: every prefix of each test session, every training item ranked, the next view the
target) on the Diginetica sample, with session-rec's item filter (items viewed at least 5
times) and without it (every item kept), since the sample is small enough for the filter to
leave few test sessions. Usage:

    .venv/bin/python bench/session_protocol.py [--record]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common import record
from recs_data import DATASETS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from relevo.offline.tasks import MIN_ITEM_SUPPORT, next_item
from relevo.recs.collaborative import ItemKNN
from relevo.recs.data import Kind
from relevo.recs.sessions import SessionKNN
from relevo.recs.similar_items import SimilarItems
from relevo.recs.trending import Trending

MODELS = {
    "session": SessionKNN,
    "item_knn": ItemKNN,
    "similar": SimilarItems,
    "most_popular": lambda: Trending(None),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    data, items = DATASETS["diginetica"]()
    views = data.select(data.kinds == Kind.VIEW)
    lines = []
    for support in (MIN_ITEM_SUPPORT, 1):
        results = next_item(views, MODELS, items, min_item_support=support)
        asked = int(next(iter(results.values()))["people"])
        figures = ", ".join(
            f"{name} HitRate@20 {r['hit@20']:.4f} / MRR@20 {r['mrr@20']:.4f}"
            for name, r in results.items()
        )
        label = "session-rec's filter" if support > 1 else "no item filter"
        lines.append(f"items viewed >= {support} times ({label}): {asked:,} prefixes; {figures}")
    print("\n".join(lines))
    if args.record:
        record(
            "Next item in session, Diginetica sample, session-rec protocol",
            " ".join(["python", *sys.argv]),
            lines,
        )


if __name__ == "__main__":
    main()
