"""Server processes' interpreter settings (relevo.runtime), in a child interpreter: they are
process-wide, and this one runs the tests."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc
from relevo import runtime
runtime.freeze_loaded()
before = gc.get_freeze_count()
runtime.tune_for_server()
after_tuning = gc.get_freeze_count()
loaded = [{"card": [n]} for n in range(10_000)]  # e.g. a catalog's cards, just loaded
runtime.freeze_loaded()
print(before, after_tuning, gc.get_freeze_count())
"""


def test_what_a_server_loads_is_frozen_out_of_collections_and_nothing_elsewhere() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout
    before, after_tuning, after_loading = map(int, out.split())
    assert before == 0  # not a server: freeze_loaded leaves the collector alone
    assert after_tuning > 0  # start-up's survivors
    assert after_loading >= after_tuning + 10_000  # the loaded cards joined them
