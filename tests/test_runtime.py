"""Server processes' interpreter settings (relevo.runtime), in a child interpreter: they are
process-wide, and this one runs the tests."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from relevo.runtime import BACKGROUND_NICENESS, background_thread_priority

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


def test_a_background_thread_runs_behind_request_handling_and_only_it() -> None:
    main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: list[int] = []

    def background() -> None:
        background_thread_priority()
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    thread = threading.Thread(target=background)
    thread.start()
    thread.join()
    assert seen == [min(19, main + BACKGROUND_NICENESS)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main  # not the caller's
