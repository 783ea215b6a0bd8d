"""Keeps profiles up to date from the event log.

One process at a time holds the lease and folds new events (in ``seq`` order, which is commit
order) into the profiles they belong to; a profile that absorbed another in a merge is rebuilt
from all its events instead. The checkpoint and the profile rows are written in one transaction,
so a crash repeats a step rather than counting an event twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from relevo.catalog.product import Product
from relevo.catalog.seen import PRODUCT_EVENTS, products_in_event
from relevo.profiles.records import Head, ProfileRow, ProfileSource, ProfileUpdate, StoredEvent
from relevo.profiles.state import ProfileRules, apply_event, is_system_event, record_overflow
from relevo.profiles.traits import TraitChange, apply_traits
from relevo.runtime import background_thread_priority, collections_paused

log = logging.getLogger(__name__)
KNOWN_PRODUCTS_LIMIT = 500_000


def _encoded(row: ProfileRow) -> tuple[str, str, str]:
    """The row's state as the JSON text it is stored as, encoded right after its fold, while
    much of it is still in the CPU's caches: a profile's objects lie scattered over the heap,
    and encoding each one four times slower than a fresh copy of it was most of the cost of
    encoding them all in ``save`` (about 1 us per event less this way)."""
    dumps = orjson.dumps
    return dumps(row.traits).decode(), dumps(row.trait_times).decode(), dumps(row.computed).decode()


@dataclass(frozen=True)
class StepResult:
    events: int
    profiles: int
    rebuilt: int


def _fold(row: ProfileRow, events: list[StoredEvent], rules: ProfileRules) -> list[TraitChange]:
    changes: list[TraitChange] = []
    if len(events) > 1:  # most profiles of a step have one event: no key tuples to sort by
        events = sorted(events, key=lambda e: (e.record.timestamp, e.record.seq))
    for stored in events:
        record = stored.record
        apply_event(row.computed, record, rules)
        traits = record.payload.get("traits")
        if record.type == "identify" and isinstance(traits, dict):
            changes += apply_traits(
                row.traits,
                row.trait_times,
                traits,
                record.timestamp,
                stored.message_id,
                on_overflow=lambda: record_overflow(row.computed, "traits"),
            )
    return changes


class Materializer:
    def __init__(
        self,
        store: ProfileSource,
        rules: ProfileRules,
        chunk: int = 5000,
        cache_size: int = 200_000,
    ) -> None:
        self.store = store
        self.rules = rules
        self.chunk = chunk
        self.cache_size = cache_size
        self._cache: dict[int, ProfileRow] = {}
        self._known_products: set[tuple[int, str]] = set()

    def reset_cache(self) -> None:
        """Forget cached profiles (another process may have materialized meanwhile)."""
        self._cache.clear()

    def _rows(self, heads: dict[int, Head], wanted: set[int]) -> dict[int, ProfileRow]:
        """Profile rows from the cache where it is current, else from the database.

        Only the lease holder writes computed state, so a cached row stays current until a merge
        bumps ``rebuild_gen`` (the rebuild path reloads) or an erase removes the profile.
        """
        rows: dict[int, ProfileRow] = {}
        missing = []
        for pid in wanted:
            head = heads.get(pid)
            cached = self._cache.get(pid)
            if head is None:
                self._cache.pop(pid, None)  # erased
            elif cached is not None and cached.built_gen == head[2] and head[0] is None:
                cached.rebuild_gen = head[1]
                rows[pid] = cached
            else:
                missing.append(pid)
        for pid, row in self.store.load_profiles(missing).items():
            # Decide from the heads snapshot, which the survivor mapping came from: a merge
            # committed after it is rebuilt in the next step, with its moved events.
            row.merged_into, row.rebuild_gen = heads[pid][0], heads[pid][1]
            rows[pid] = row
        if len(self._cache) > self.cache_size:
            self._cache.clear()
        self._cache.update(rows)
        return rows

    def step(self) -> StepResult:
        with collections_paused():
            return self._step()

    def _step(self) -> StepResult:
        checkpoint = self.store.checkpoint()
        events = self.store.events_after(checkpoint, self.chunk)
        pending_rebuilds = self.store.profiles_awaiting_rebuild()
        if not events and not pending_rebuilds:
            return StepResult(0, 0, 0)
        up_to = events[-1].record.seq if events else checkpoint

        heads = self.store.profile_heads({e.profile_id for e in events} | set(pending_rebuilds))
        survivors = {pid: head[0] or pid for pid, head in heads.items()}
        heads.update(self.store.profile_heads(set(survivors.values()) - heads.keys()))
        rows = self._rows(heads, set(survivors.values()))
        by_profile: dict[int, list[StoredEvent]] = defaultdict(list)
        for stored in events:
            by_profile[survivors.get(stored.profile_id, stored.profile_id)].append(stored)
        for pid in pending_rebuilds:
            by_profile.setdefault(survivors.get(pid, pid), [])

        updates, rebuilt = [], 0
        for pid, profile_events in by_profile.items():
            row = rows.get(pid)
            if row is None:
                continue  # erased (GDPR) while its events were in flight
            if row.rebuild_gen > row.built_gen:
                history = self.store.events_of_profile(pid, checkpoint)
                row.computed, row.traits, row.trait_times = {}, {}, {}
                # One fold in time order over all of the person's events: its trait changes
                # are the merged person's history.
                changes = _fold(row, history + profile_events, self.rules)
                row.built_gen = row.rebuild_gen
                updates.append(ProfileUpdate(row, changes, True, _encoded(row)))
                rebuilt += 1
            elif profile_events and all(is_system_event(e.record) for e in profile_events):
                # Events Relevo recorded about the person (an audience entered, a
                # recommendation shown) change nothing folded: the row is left as it is, so
                # its updated_at does not send the person to the audience job to be judged
                # again (which would record nothing, for every member of a new audience).
                continue
            else:
                changes = _fold(row, profile_events, self.rules)
                updates.append(ProfileUpdate(row, changes, False, _encoded(row)))
        try:
            seen = self._new_products(events)
            self.store.save(updates, up_to, int(time.time() * 1000), seen)
        except Exception:
            self._cache.clear()  # the folded state was not stored
            raise
        return StepResult(len(events), len(updates), rebuilt)

    def _new_products(self, events: list[StoredEvent]) -> dict[int, list[Product]]:
        """Products in this step's events not yet passed to the catalog by this process."""
        known = self._known_products
        found: dict[int, list[Product]] = {}
        for stored in events:
            record = stored.record
            if record.type != "track" or record.event not in PRODUCT_EVENTS:
                continue
            workspace = stored.workspace_id
            properties = record.payload.get("properties")
            if isinstance(properties, dict) and "products" not in properties:
                # One product, nearly always one already passed on: a set lookup rather than
                # products_in_event's lists and closure (3 us an event in a step).
                product_id = properties.get("product_id", properties.get("sku"))
                if (workspace, str(product_id)) in known:
                    continue

            def unknown(product_id: str, w: int = workspace) -> bool:
                return (w, product_id) not in known

            for product in products_in_event(record.event, properties, unknown):
                key = (workspace, product.product_id)
                if key not in known:
                    known.add(key)
                    found.setdefault(workspace, []).append(product)
        if len(known) > KNOWN_PRODUCTS_LIMIT:
            known.clear()  # bounded memory; the catalog ignores repeats anyway
        return found

    def catch_up(self, timeout: float = 600.0) -> int:
        """Fold everything stored so far (CLI imports, tests); returns events processed here.

        If a running server holds the lease, wait for it to get there instead.
        """
        deadline = time.monotonic() + timeout
        while not self.store.try_acquire_lease():
            if self.store.checkpoint() >= self.store.latest_seq():
                return 0
            if time.monotonic() > deadline:
                raise TimeoutError("the profile materializer of a running server is behind")
            time.sleep(0.1)
        self.reset_cache()
        total = 0
        try:
            while True:
                result = self.step()
                total += result.events
                if result.events == 0 and result.rebuilt == 0:
                    return total
        finally:
            self.store.release_lease()


HOUSEKEEPING_SECONDS = 600.0


class MaterializerThread:
    """Runs the materializer in the background of a server process while it holds the lease,
    and, every ten minutes, the database's housekeeping (one process does it: the holder)."""

    def __init__(
        self,
        materializer: Materializer,
        interval: float,
        housekeeping: Callable[[], None] | None = None,
    ) -> None:
        self.materializer = materializer
        self.interval = interval
        self.housekeeping = housekeeping
        self._last_housekeeping = -1e18
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relevo-profiles", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.materializer.store.release_lease()

    def _run(self) -> None:
        background_thread_priority()  # behind request handling when the cores are busy
        store = self.materializer.store
        while not self._stop.is_set():
            try:
                if not store.holds_lease():
                    if not store.try_acquire_lease():
                        self._stop.wait(1.0)
                        continue
                    self.materializer.reset_cache()
                result = self.materializer.step()
                self._housekeep()
                if result.events == 0 and result.rebuilt == 0:
                    self._stop.wait(self.interval)
            except Exception:
                log.exception("profile materializer step failed; retrying")
                store.release_lease()
                self._stop.wait(1.0)

    def _housekeep(self) -> None:
        now = time.monotonic()
        if self.housekeeping is None or now - self._last_housekeeping < HOUSEKEEPING_SECONDS:
            return
        self._last_housekeeping = now
        try:
            self.housekeeping()
        except Exception:
            log.exception("housekeeping failed; it runs again in ten minutes")
