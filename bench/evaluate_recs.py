"""Offline evaluation of the recommenders on every real dataset in ../shared/data, with the
same defaults everywhere (the code path of `relevo evaluate`). Usage:

    .venv/bin/python bench/evaluate_recs.py [--dataset NAME ...] [--record]

Writes per dataset the tables (and CSV + PNG under bench/evaluation/) and, with --record,
appends them to RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import polars as pl
from common import record
from recs_data import DATASETS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from relevo.offline.report import bar_chart, write_csv
from relevo.offline.suite import evaluate_suite

COLUMNS = ["strategy", "target", "people", "ndcg@10", "ndcg@20", "recall@20", "hit@20",
           "mrr@20", "coverage@20"]  # fmt: skip
OUT = Path(__file__).with_name("evaluation")


def markdown(frame: pl.DataFrame) -> list[str]:
    columns = [c for c in COLUMNS if c in frame.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in frame.select(columns).iter_rows():
        cells = [
            f"{v:,.0f}" if name == "people" else f"{v:.4f}" if isinstance(v, float) else str(v)
            for name, v in zip(columns, row, strict=True)
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", action="append", choices=sorted(DATASETS))
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    for name in args.dataset or list(DATASETS):
        started = time.perf_counter()
        data, items = DATASETS[name]()
        suite = evaluate_suite(data, items, lambda step, n=name: print(f"{n}: {step}", flush=True))
        seconds = time.perf_counter() - started
        frames = dict(suite.tasks)
        if suite.personal is not None:
            frames = {"personal": suite.personal.table, **frames}
        header = [
            f"{len(data):,} events, {data.n_users:,} people, {data.n_items:,} items; "
            f"whole evaluation {seconds:.0f} s",
            f"plots and CSV: `bench/evaluation/{name}/`",
        ]
        if suite.personal is not None:
            header.append(f"for_you chose: {suite.personal.for_you}")
            header.append(f"baseline settings chosen on validation: {suite.personal.chosen}")
        for task, reason in suite.skipped.items():
            header.append(f"{task}: skipped ({reason})")
        tables: list[str] = []
        for task, frame in frames.items():
            print(f"\n{name} / {task}")
            print(frame.select([c for c in COLUMNS if c in frame.columns]))
            write_csv(frame, OUT / name / f"{task}.csv")
            bar_chart(frame, OUT / name / f"{task}.png", title=f"{name}: {task}")
            tables += [f"{task}:", "", *markdown(frame), ""]
        if args.record:
            record(f"Offline evaluation, {name}", " ".join(["python", *sys.argv]), header)
            with (Path(__file__).with_name("RESULTS.md")).open("a") as handle:
                handle.write("\n".join(tables) + "\n")


if __name__ == "__main__":
    main()
