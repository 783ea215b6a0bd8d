"""The product catalog: products, their feeds (Google Merchant Center TSV and RSS, CSV, JSONL)
and products first seen in events."""
