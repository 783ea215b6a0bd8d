"""Training cost on the largest real dataset here: the demo shop (UCI Online Retail: 4,372
customers, ~3,700 products, a year of orders). Usage:

    .venv/bin/python bench/train_uci.py [--record]

Loads the demo into a fresh SQLite database, then runs `relevo train` in its own process and
reports its wall time, peak memory and each model's fit time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from common import record
from recs_latency import train
from rich.progress import Progress

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from relevo.demo.loader import DEMO_WORKSPACE, load_demo
from relevo.services import Services
from relevo.settings import Settings
from relevo.storage.migrate import upgrade
from tests.real_server import environment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/demo.db", models_dir=f"{tmp}/models")
        settings.model_fields_set.update({"database_url", "models_dir"})
        services = Services.build(settings)
        try:
            upgrade(services.db)
            started = time.perf_counter()
            load_demo(services, lambda: Progress(disable=True))
            loaded = time.perf_counter() - started
        finally:
            services.close()
        wall, peak, _ = train(environment(settings), DEMO_WORKSPACE)
        manifest = json.loads(next(Path(tmp, "models").glob("*/*/manifest.json")).read_text())
    fits = manifest["stats"]["fit_seconds"]
    lines = [
        f"demo shop loaded in {loaded:.0f} s ({manifest['stats']['events']:,} product signals)",
        f"`relevo train`: {wall:.0f} s wall, peak memory {peak:,.0f} MiB; fit seconds "
        + ", ".join(f"{k} {v:.1f}" for k, v in fits.items()),
    ]
    print("\n".join(lines))
    if args.record:
        record("Training on UCI Online Retail", " ".join(["python", *sys.argv]), lines)


if __name__ == "__main__":
    main()
