"""What an API server process costs to start: `create_app` on an empty SQLite database in a
fresh interpreter, its wall time, peak memory (max RSS), the number of modules imported, and
whether a training-only library (scikit-learn, implicit, matplotlib) came with it. Usage:

    .venv/bin/python bench/startup.py [--runs 5] [--tree PATH] [--record]

`--tree` measures another copy of the code (e.g. an older commit unpacked with
`git archive COMMIT relevo | tar -x -C PATH`), for a before/after on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import record

TRAINING_ONLY = ("sklearn", "implicit", "matplotlib")
_PROBE = """
import json, resource, sys, time
started = time.perf_counter()
from relevo.api.app import create_app
from relevo.settings import Settings
folder = sys.argv[1]
create_app(Settings(database_url=f"sqlite:///{folder}/relevo.db", models_dir=f"{folder}/m"))
took = time.perf_counter() - started
tops = {name.split(".")[0] for name in sys.modules}
print(json.dumps({"seconds": took, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                  / 1024, "modules": len(sys.modules), "tops": sorted(tops)}))
"""


def probe(tree: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, folder], env=env, capture_output=True, text=True,
            check=True, cwd=folder,
        )  # fmt: skip
    found: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    runs = [probe(args.tree) for _ in range(args.runs)]
    seconds = [float(r["seconds"]) for r in runs]  # type: ignore[arg-type]
    rss = [float(r["rss_mb"]) for r in runs]  # type: ignore[arg-type]
    tops = set(runs[0]["tops"])  # type: ignore[call-overload]
    loaded = [name for name in TRAINING_ONLY if name in tops]
    load = os.getloadavg()
    lines = [
        f"tree {args.tree}, {args.runs} fresh interpreters",
        f"create_app: median {statistics.median(seconds):.2f} s "
        f"(min {min(seconds):.2f}, max {max(seconds):.2f})",
        f"peak memory: median {statistics.median(rss):.0f} MB; modules imported: "
        f"{runs[0]['modules']}",
        f"training-only libraries imported: {', '.join(loaded) or 'none'}",
        f"load average at the end (1, 5, 15 min): {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}",
    ]
    for line in lines:
        print(line)
    if args.record:
        record("API server start-up", " ".join(["python", *sys.argv]), lines)


if __name__ == "__main__":
    main()
