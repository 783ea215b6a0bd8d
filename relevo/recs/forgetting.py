"""A GDPR erasure reaching trained models: the stored versions, the bundle being trained, and
(through relevo.recs.live.LiveBundles.forget) the bundles servers hold in memory.

What each model keeps of one person, and so forgets (`Recommender.forget_users`):
    for_you          the repeat part's purchases and the collaborative part's rows of the
                     people x items matrix (EASE / iALS)
    ease, item_knn, ials    `user_rows`, each person's row of the people x items matrix
    buy_again        `purchases`, each person's decayed purchases
    session          the stored past sessions, each one person's (with its owner)
    bundle           `user_ids`: the person's id becomes "", so nothing finds their index
What is item-level, over everyone, and stays until the next training (which no longer sees
the erased person's events): item-item weights (EASE), neighbour lists (item-kNN, similar),
item factors (iALS), association rules (bought_together), later-order pairs (bought_after),
re-buy rates and buyer counts, popularity (trending); recently_viewed keeps nothing.

Domain code: the model store comes in through the `StoredVersions` protocol, the log of
erasures through `Erasures`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Protocol

from relevo.recs.bundle import Bundle

# Erasures a little older than the training's start count too: the clock of the process that
# recorded the erasure may differ from this one, and forgetting someone who is not in the
# bundle costs nothing.
CLOCK_SLACK_MS = 5 * 60_000


class StoredVersions(Protocol):
    def rewrite_versions(self, workspace_id: int, rewrite: Callable[[Path], bool]) -> int: ...


class Erasures(Protocol):
    def erased_since(self, workspace_id: int, since_ms: int) -> set[int]:
        """Profile ids erased at or after `since_ms` (epoch milliseconds)."""
        ...


def forget_in_stored_models(
    models: StoredVersions, workspace_id: int, profile_ids: Collection[int]
) -> int:
    """Rewrite every stored version of the workspace without these people; returns how many
    versions held one of them (and were rewritten)."""
    wanted = {str(p) for p in profile_ids}
    if not wanted:
        return 0

    def rewrite(folder: Path) -> bool:
        if not wanted & Bundle.saved_user_ids(folder):
            return False  # nobody of them in this version: no need to load its models
        bundle = Bundle.load(folder)
        if bundle.forget(profile_ids) == 0:
            return False
        bundle.replace_saved(folder)
        return True

    return models.rewrite_versions(workspace_id, rewrite)


def forget_erased_since(
    bundle: Bundle, erasures: Erasures, workspace_id: int, since_ms: int
) -> int:
    """Forget in a freshly trained bundle the people erased since its training started (their
    events were read before the erasure deleted them); returns how many were in it."""
    return bundle.forget(erasures.erased_since(workspace_id, since_ms - CLOCK_SLACK_MS))
