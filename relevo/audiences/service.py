"""The audiences use cases, for the API, the CLI and jobs: saved and built-in audiences of a
workspace, a person's audiences now (with why), and whole-workspace previews and members."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from relevo.audiences.behaviour import EventQuery, counter_paths
from relevo.audiences.builtins import builtin_audiences
from relevo.audiences.document import person_document, state_read_for
from relevo.audiences.model import (
    Audience,
    Compiler,
    Membership,
    check_id,
    check_webhook,
    matching,
    memberships,
)
from relevo.audiences.records import (
    AudienceSource,
    Dependents,
    NoScores,
    ProfileChunkRow,
    ScoreSource,
    StoredAudience,
)
from relevo.audiences.vectorised import Table, Vectorised, needs
from relevo.conditions import Condition
from relevo.errors import ConflictError, NotFound, RelevoError
from relevo.profiles.lifecycle import LifecycleThresholds
from relevo.profiles.state import ProfileRules
from relevo.runtime import collections_paused

MAX_PAGE = 1000
SAMPLE = 10
_DEPENDENT_NAMES = {
    "rules": "merchandising rule(s)",
    "experiences": "experience(s)",
    "experiments": "running or shipped experiment(s)",
}


def new_webhook_secret() -> str:
    """Standard Webhooks' secret format: whsec_ and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class AudienceInUse(ConflictError):
    code = "audience_in_use"


@dataclass
class Preview:
    count: int
    profiles: int
    sample: list[int]


def state_read(condition: Condition) -> tuple[list[tuple[str, ...]] | None, bool]:
    """The parts of the computed state a condition reads (None: all of it), and whether it
    reads the traits: behaviour operators read their counters, document paths the keys
    their attributes are made from."""
    paths: set[tuple[str, ...]] = set()
    traits = False
    for path in needs(condition.source).paths:
        keys, with_traits = state_read_for(path)
        if keys is None:
            return None, True
        paths.update((key,) for key in keys)
        traits = traits or with_traits
    for _, query in condition.extension_uses:
        if not isinstance(query, EventQuery):
            return None, True
        paths.update(counter_paths(query))
    return sorted(paths), traits


def reads_interests(condition: Condition) -> bool:
    return any(
        path in ("computed", "computed.top_categories", "computed.top_brands")
        or path.startswith(("computed.top_categories.", "computed.top_brands."))
        for path in needs(condition.source).paths
    )


class NoDependents:
    """Until something uses audiences, nothing depends on one."""

    def using_audience(self, workspace_id: int, audience_id: str) -> dict[str, list[str]]:
        return {}


class Audiences:
    def __init__(
        self,
        store: AudienceSource,
        rules: ProfileRules,
        thresholds: LifecycleThresholds,
        dependents: Dependents | None = None,
        cache_seconds: float = 1.0,
        scores: ScoreSource | None = None,
    ) -> None:
        self.store = store
        self.scores: ScoreSource = scores or NoScores()
        self.rules = rules
        self.thresholds = thresholds
        self.dependents: Dependents = dependents or NoDependents()
        self.compiler = Compiler(rules)
        self.builtins = [
            self.compiler.audience(a["id"], a["name"], a["description"], a["condition"], True)
            for a in builtin_audiences(thresholds)
        ]
        self.cache_seconds = cache_seconds
        # Compiled saved audiences per workspace: requests read them at most once a second
        # (a change made in another process shows within that second).
        self._cache: dict[int, tuple[float, list[Audience]]] = {}
        self._lock = threading.Lock()

    # -- definitions --------------------------------------------------------------------------
    def saved(self, workspace_id: int) -> list[Audience]:
        now = time.monotonic()
        cached = self._cache.get(workspace_id)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        compiled = []
        for row in self.store.saved(workspace_id):
            try:
                compiled.append(self.compiler.stored(row))
            except RelevoError:
                continue  # saved under other counters' declaration: it matches nobody now
        with self._lock:
            self._cache[workspace_id] = (now, compiled)
        return compiled

    def all(self, workspace_id: int) -> list[Audience]:
        return [*self.builtins, *self.saved(workspace_id)]

    def find(self, workspace_id: int, audience_id: str) -> Audience:
        for audience in self.builtins:
            if audience.id == audience_id:
                return audience
        row = self.store.get(workspace_id, audience_id)
        if row is None:
            raise NotFound(f"no audience has id {audience_id!r} in this workspace")
        return self.compiler.stored(row)

    def condition(self, source: Any) -> Condition:
        return self.compiler.condition(source)

    def create(
        self,
        workspace_id: int,
        audience_id: str,
        name: str,
        description: str,
        source: Any,
        webhook_url: str | None = None,
    ) -> Audience:
        secret = new_webhook_secret() if webhook_url is not None else None
        row = self._checked(audience_id, name, description, source, webhook_url, secret)
        self.store.create(workspace_id, row)
        self._cache.pop(workspace_id, None)
        return self.compiler.stored(row)

    def replace(
        self,
        workspace_id: int,
        audience_id: str,
        name: str,
        description: str,
        source: Any,
        webhook_url: str | None = None,
    ) -> Audience:
        # The new secret is kept only when the audience had none yet.
        row = self._checked(
            audience_id, name, description, source, webhook_url, new_webhook_secret()
        )
        saved = self.store.replace(workspace_id, row)
        if saved is None:
            raise NotFound(f"no audience has id {audience_id!r} in this workspace; POST creates it")
        self._cache.pop(workspace_id, None)
        return self.compiler.stored(saved)

    def _checked(
        self,
        audience_id: str,
        name: str,
        description: str,
        source: Any,
        webhook_url: str | None,
        secret: str | None,
    ) -> StoredAudience:
        """The row to save, once its id, condition and webhook URL are valid."""
        check_id(audience_id)
        self.compiler.condition(source)
        now = int(time.time() * 1000)
        return StoredAudience(
            audience_id, name, description, source, now, now, check_webhook(webhook_url), secret
        )

    def delete(self, workspace_id: int, audience_id: str) -> None:
        if any(a.id == audience_id for a in self.builtins):
            raise RelevoError(f"{audience_id!r} is a built-in audience: it cannot be deleted")
        using = self.dependents.using_audience(workspace_id, audience_id)
        dependents = {kind: ids for kind, ids in using.items() if ids}
        if dependents:
            listed = "; ".join(
                f"{len(ids)} {_DEPENDENT_NAMES.get(kind, kind)}: {', '.join(ids)}"
                for kind, ids in dependents.items()
            )
            raise AudienceInUse(
                f"audience {audience_id!r} is used by {listed}; change or delete them first",
                dependents=dependents,
            )
        if not self.store.delete(workspace_id, audience_id):
            raise NotFound(f"no audience has id {audience_id!r} in this workspace")
        self._cache.pop(workspace_id, None)

    # -- one person ---------------------------------------------------------------------------
    def document(
        self,
        traits: dict[str, Any],
        computed: dict[str, Any],
        now_ms: int,
        context: dict[str, Any] | None = None,
        scores: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return person_document(
            traits, computed, now_ms, self.rules, self.thresholds, context, scores=scores
        )

    def _scores_of(self, workspace_id: int, profile_id: int | None) -> dict[str, Any] | None:
        if profile_id is None:
            return None
        return self.scores.documents(workspace_id, [profile_id]).get(profile_id)

    async def of_identity(
        self,
        workspace_id: int,
        kind: str,
        value: str,
        now_ms: int,
        context: dict[str, Any] | None = None,
    ) -> tuple[int, list[Membership]] | None:
        """The identity's profile id and audiences now (None: no such person), from one read
        of their state and scores, awaited (PostgreSQL) so the event loop serves others
        meanwhile; the judging runs on the loop."""
        found = await self.store.person_awaited(workspace_id, kind, value)
        return None if found is None else self.judge(workspace_id, found, now_ms, context)

    def judge(
        self,
        workspace_id: int,
        found: tuple[ProfileChunkRow, dict[str, Any] | None],
        now_ms: int,
        context: dict[str, Any] | None = None,
    ) -> tuple[int, list[Membership]]:
        """A person read by ``store.person`` judged against the workspace's audiences (no I/O:
        the caller may read in a thread and judge on its event loop)."""
        person, scores = found
        document = self.document(person.traits, person.computed, now_ms, context, scores)
        judged = memberships(
            self.all(workspace_id),
            document,
            person.computed,
            now_ms,
            self.rules.session_timeout_ms,
        )
        return person.profile_id, judged

    def audiences_of(self, workspace_id: int, profile_id: int | None) -> frozenset[str]:
        """relevo.rules.audiences.AudienceMembership: the audience ids a person is in now
        (an unknown visitor: judged as a profile with nothing yet). Never raises."""
        try:
            row = None if profile_id is None else self.store.profile(workspace_id, profile_id)
            traits, computed = (row.traits, row.computed) if row is not None else ({}, {})
            now = int(time.time() * 1000)
            document = self.document(
                traits, computed, now, None, self._scores_of(workspace_id, profile_id)
            )
            found = matching(
                self.all(workspace_id), document, computed, now, self.rules.session_timeout_ms
            )
            return frozenset(a.id for a in found)
        except Exception:
            return frozenset()

    # -- the whole workspace ------------------------------------------------------------------
    def _table(
        self,
        workspace_id: int,
        rows: list[ProfileChunkRow],
        now_ms: int,
        interests: bool = True,
    ) -> Table:
        rules, thresholds = self.rules, self.thresholds

        def documents() -> list[dict[str, Any]]:
            # Built only when a condition reads the documents (not for counters alone).
            scores = self.scores.documents(workspace_id, [r.profile_id for r in rows])
            return [
                person_document(
                    r.traits,
                    r.computed,
                    now_ms,
                    rules,
                    thresholds,
                    None,
                    interests,
                    scores.get(r.profile_id),
                )
                for r in rows
            ]

        return Table(documents, [r.computed for r in rows], now_ms, self.rules.session_timeout_ms)

    def _matching_ids(
        self, workspace_id: int, condition: Condition, after_id: int = 0
    ) -> Iterator[tuple[int, list[int]]]:
        """(profiles judged, matching ids) per chunk of the workspace, in id order. Only what
        the condition reads is read: a behaviour condition, its events' counters."""
        vectorised = Vectorised(condition, self.compiler.extensions)
        only, traits = state_read(condition)
        interests = reads_interests(condition)
        now = int(time.time() * 1000)
        chunks = self.store.profile_chunks(
            workspace_id, after_id, only_state=only, with_traits=traits
        )
        for rows in chunks:
            with collections_paused():  # what it allocates lives until the chunk is judged
                mask = vectorised.mask(self._table(workspace_id, rows, now, interests))
            yield len(rows), [r.profile_id for r, hit in zip(rows, mask, strict=True) if hit]

    def preview(self, workspace_id: int, source: Any) -> Preview:
        condition = self.compiler.condition(source)
        count = profiles = 0
        sample: list[int] = []
        for judged, ids in self._matching_ids(workspace_id, condition):
            profiles += judged
            count += len(ids)
            sample += ids[: SAMPLE - len(sample)]
        return Preview(count, profiles, sample)

    def members(
        self, workspace_id: int, audience_id: str, limit: int, after_id: int = 0
    ) -> tuple[list[int], int | None]:
        """A page of member profile ids in id order, and the cursor of the next page."""
        condition = self.find(workspace_id, audience_id).condition
        found: list[int] = []
        for _, ids in self._matching_ids(workspace_id, condition, after_id):
            found += ids
            if len(found) > limit:
                break
        page = found[:limit]
        return page, page[-1] if len(found) > limit else None

    def all_members(self, workspace_id: int, audience_id: str) -> Iterator[list[int]]:
        condition = self.find(workspace_id, audience_id).condition
        for _, ids in self._matching_ids(workspace_id, condition):
            if ids:
                yield ids

    def identities(self, profile_ids: list[int]) -> dict[int, dict[str, str]]:
        return self.store.identities(profile_ids)

    def check_trending(self, workspace_id: int, audience_id: str) -> None:
        """relevo.recs.trending.MemberSource: trending among an audience counts the members
        the audience job keeps, for built-in and saved audiences alike; an unknown id is
        refused. In memory (the saved audiences, a second old at most)."""
        if any(a.id == audience_id for a in self.builtins):
            return
        if not any(a.id == audience_id for a in self.saved(workspace_id)):
            raise RelevoError(
                f"audience: no audience has id {audience_id!r} here, built in or saved "
                "(GET /v1/audiences lists them)"
            )

    def trending_members(self, workspace_id: int, audience_id: str) -> list[int]:
        return self.store.stored_members(workspace_id, audience_id)
