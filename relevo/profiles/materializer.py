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
from dataclasses import dataclass

from relevo.profiles.state import ProfileRules, apply_event
from relevo.profiles.traits import TraitChange, apply_traits
from relevo.storage.profile_store import ProfileRow, ProfileStore, ProfileUpdate, StoredEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepResult:
    events: int
    profiles: int
    rebuilt: int


def _fold(row: ProfileRow, events: list[StoredEvent], rules: ProfileRules) -> list[TraitChange]:
    changes: list[TraitChange] = []
    for stored in sorted(events, key=lambda e: (e.record.timestamp, e.record.seq)):
        record = stored.record
        apply_event(row.computed, record, rules)
        traits = record.payload.get("traits")
        if record.type == "identify" and isinstance(traits, dict):
            changes += apply_traits(
                row.traits, row.trait_times, traits, record.timestamp, stored.message_id
            )
    return changes


class Materializer:
    def __init__(self, store: ProfileStore, rules: ProfileRules, chunk: int = 5000) -> None:
        self.store = store
        self.rules = rules
        self.chunk = chunk

    def step(self) -> StepResult:
        checkpoint = self.store.checkpoint()
        events = self.store.events_after(checkpoint, self.chunk)
        pending_rebuilds = self.store.profiles_awaiting_rebuild()
        if not events and not pending_rebuilds:
            return StepResult(0, 0, 0)
        up_to = events[-1].record.seq if events else checkpoint

        rows = self.store.load_profiles({e.profile_id for e in events} | set(pending_rebuilds))
        survivors = {pid: row.merged_into or pid for pid, row in rows.items()}
        missing = set(survivors.values()) - rows.keys()
        rows.update(self.store.load_profiles(missing))

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
                # Events up to the checkpoint are already in the trait log; this step's are not.
                history = self.store.events_of_profile(pid, checkpoint)
                row.computed, row.traits, row.trait_times = {}, {}, {}
                _fold(row, history, self.rules)
                changes = _fold(row, profile_events, self.rules)
                row.built_gen = row.rebuild_gen
                updates.append(ProfileUpdate(row, changes))
                rebuilt += 1
            else:
                updates.append(ProfileUpdate(row, _fold(row, profile_events, self.rules)))
        self.store.save(updates, up_to, int(time.time() * 1000))
        return StepResult(len(events), len(updates), rebuilt)

    def catch_up(self) -> int:
        """Process everything stored so far (CLI imports, tests); returns events processed."""
        total = 0
        while True:
            result = self.step()
            total += result.events
            if result.events == 0 and result.rebuilt == 0:
                return total


class MaterializerThread:
    """Runs the materializer in the background of a server process while it holds the lease."""

    def __init__(self, materializer: Materializer, interval: float) -> None:
        self.materializer = materializer
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relevo-profiles", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.materializer.store.release_lease()

    def _run(self) -> None:
        store = self.materializer.store
        while not self._stop.is_set():
            try:
                if not store.try_acquire_lease():
                    self._stop.wait(1.0)
                    continue
                result = self.materializer.step()
                if result.events == 0 and result.rebuilt == 0:
                    self._stop.wait(self.interval)
            except Exception:
                log.exception("profile materializer step failed; retrying")
                store.release_lease()
                self._stop.wait(1.0)
