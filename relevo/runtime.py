"""Process-wide settings for long-running server processes."""

from __future__ import annotations

import gc
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Allocations between young-generation collections (CPython's default is 700).
GC_YOUNG_THRESHOLD = 50_000
_tuned = False  # tune_for_server ran: this is a long-running server process


def tune_for_server() -> None:
    """Tune the interpreter for a server process; call once, after start-up work.

    Ingest allocates a handful of short-lived dicts per message, so with the default threshold
    the cyclic collector ran every few messages, often while the ingest thread held the database
    write lock: ~10% of the lock's time went to collections (py-spy, bench/ingest.py). Objects
    alive after start-up are frozen out of collections, and young collections run 70x less often;
    nothing here keeps long-lived cycles from being collected.
    """
    # The ingest thread holds the write lock while it works: let it take the interpreter lock
    # back from request handling within 0.5 ms rather than 5 ms.
    global _tuned
    _tuned = True
    sys.setswitchinterval(0.0005)
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)


def freeze_loaded() -> None:
    """A server just loaded something that lives long (a model bundle, the catalog's cards):
    take what is alive now out of the cyclic collector's traversals. Otherwise each full
    collection walks the millions of objects a model and 50,000 cards are, pausing a worker
    for ~100 ms (seen under decisions' load: GC callbacks timing gen-2 passes). Freezing is
    a list splice, not a collection; in a process that is not a server (tests, the CLI) it
    does nothing, so their garbage stays collectable."""
    if _tuned:
        gc.freeze()


BACKGROUND_NICENESS = 10


def background_thread_priority() -> None:
    """The calling thread yields the cores to request handling: its nice value is raised.

    On Linux a thread has a nice value of its own (setpriority on its thread id), so the
    materializer, the audience job and the allocation job can run behind the workers' requests
    when the cores are busy, and at full speed when they are not. Elsewhere, or where the
    call is refused, nothing changes."""
    if not sys.platform.startswith("linux"):
        return
    try:
        thread = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + BACKGROUND_NICENESS))
    except OSError:
        return


@contextmanager
def collections_paused() -> Iterator[None]:
    """No cyclic garbage collection in this block (the whole process); on again after it.

    For a batch step that allocates many objects which live until the step ends (events,
    profiles): collections during it find no garbage, only survivors to traverse and promote.
    What the step frees is freed by reference counting as usual; a cycle it leaves behind is
    found by the first collection after it.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
