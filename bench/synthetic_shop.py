"""A large synthetic shop for load and scale benchmarks: 50,000 products in 200 categories and
100,000 visitors with Zipf-distributed product views, cart adds and orders (no real dataset
here has both that many products and that many people)."""

from __future__ import annotations

import numpy as np

_VOCABULARY = (
    "oak steel linen wool cotton glass stone velvet leather bamboo blue green red black "
    "white grey small large round square soft classic modern vintage chair table lamp mug "
    "plate cushion throw rug vase shelf bowl glass frame clock mirror basket candle"
)
WORDS = _VOCABULARY.split()


def products(n: int = 50_000, seed: int = 1) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    words = rng.integers(0, len(WORDS), size=(n, 4))
    return [
        {
            "product_id": f"p{i}",
            "title": " ".join(WORDS[w] for w in words[i]),
            "category": f"Department {i % 10} > Category {i % 200}",
            "brand": f"brand {i % 300}",
            "price": f"{5 + (i % 97)}.99",
            "availability": "out of stock" if i % 50 == 0 else "in stock",
        }
        for i in range(n)
    ]


def messages(
    visitors: int = 100_000, n_products: int = 50_000, seed: int = 2
) -> list[dict[str, object]]:
    """About 4 events per visitor: views in one session, some cart adds, orders of 1-3 items.
    Timestamps are spread over the last 30 days."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, n_products + 1, dtype=np.float64)
    popularity = 1.0 / ranks**0.9
    popularity /= popularity.sum()
    now = 1_795_000_000_000
    out: list[dict[str, object]] = []
    for v in range(visitors):
        start = now - int(rng.integers(0, 30 * 86_400_000))
        category = int(rng.integers(0, 200))
        # Views stay mostly within one category, as real browsing does.
        picks = rng.choice(n_products, size=3, p=popularity)
        picks = [int(p - p % 200 + category) % n_products for p in picks]
        base = {"anonymousId": f"anon-{v}"}
        for k, product in enumerate(picks):
            out.append(
                {
                    **base,
                    "type": "track",
                    "event": "Product Viewed",
                    "messageId": f"v{v}-{k}",
                    "timestamp_ms": start + k * 30_000,
                    "properties": {"product_id": f"p{product}"},
                }
            )
        if rng.random() < 0.3:
            bought = picks[: int(rng.integers(1, 3))]
            out.append(
                {
                    **base,
                    "type": "track",
                    "event": "Order Completed",
                    "messageId": f"o{v}",
                    "timestamp_ms": start + 600_000,
                    "properties": {
                        "order_id": f"order-{v}",
                        "products": [{"product_id": f"p{p}"} for p in bought],
                    },
                }
            )
    return out
