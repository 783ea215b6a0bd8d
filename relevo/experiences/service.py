"""The placements and experiences use cases, for the API, the demo seeds and decisions:
save (validated), list, delete (refused while something uses it), and the live, compiled
set a decision reads (``live``), refreshed within a second of any change in any process."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from relevo.conditions import Condition
from relevo.errors import ConflictError, NotFound, RelevoError
from relevo.experiences.model import (
    EventTrigger,
    Experience,
    InvalidExperience,
    Placement,
    parse_experience,
    parse_placement,
    stored,
)
from relevo.storage.experience_store import ExperienceStore


class ConditionCompiler(Protocol):
    """relevo.audiences.service.Audiences: the one condition language, and the audiences."""

    def condition(self, source: Any) -> Condition: ...
    def all(self, workspace_id: int) -> Any: ...


class InUse(ConflictError):
    code = "in_use"


class TestedBy(Protocol):
    """relevo.experiments.service.Experiments: the experiments decisions serve on a subject."""

    def using_experience(self, workspace_id: int, experience_id: str) -> list[str]: ...
    def using_placement(self, workspace_id: int, placement_id: str) -> list[str]: ...
    def variants_tested(self, workspace_id: int, experience_id: str) -> dict[str, list[str]]: ...


def _tested(kind: str, item_id: str, experiments: list[str]) -> InUse:
    return InUse(
        f"{kind} {item_id!r} is tested by {len(experiments)} running or shipped experiment(s): "
        f"{', '.join(experiments)}; stop them (a shipped one: delete it) first",
        dependents={"experiments": experiments},
    )


@dataclass(frozen=True)
class LiveExperience:
    """An experience as a decision reads it: its targeting compiled once."""

    experience: Experience
    condition: Condition | None  # the inline condition
    trigger_condition: Condition | None  # an `event` trigger, as a behaviour condition
    order: int  # its place among the placement's experiences (priority first, then id)


@dataclass(frozen=True)
class LiveSet:
    placements: dict[str, Placement] = field(default_factory=dict)
    # Per placement id, highest priority first (ties: by id, so every server agrees).
    by_placement: dict[str, list[LiveExperience]] = field(default_factory=dict)


def event_condition(trigger: EventTrigger) -> dict[str, Any]:
    return {
        "$event": {
            "name": trigger.name,
            "within": trigger.within,
            "count": {"$gte": trigger.count},
        }
    }


class Experiences:
    def __init__(
        self,
        store: ExperienceStore,
        conditions: ConditionCompiler,
        strategies: Collection[str],
        check_seconds: float = 1.0,
    ) -> None:
        self.store = store
        self.conditions = conditions
        self.strategies = strategies
        self.check_seconds = check_seconds
        # Per workspace: (checked at, revision, compiled set).
        self._live: dict[int, tuple[float, tuple[int, int, int, int], LiveSet]] = {}
        self._lock = threading.Lock()
        self.tested_by: TestedBy | None = None  # set by relevo.services (they depend on us)

    # -- placements ----------------------------------------------------------------------------
    def placements(self, workspace_id: int) -> list[Placement]:
        return [Placement.model_validate(d) for d in self.store.placements(workspace_id)]

    def placement(self, workspace_id: int, placement_id: str) -> Placement:
        for found in self.placements(workspace_id):
            if found.id == placement_id:
                return found
        raise NotFound(f"no placement {placement_id!r} in this workspace")

    def save_placement(
        self, workspace_id: int, body: Any, *, create: bool = True, replace: bool = True
    ) -> tuple[Placement, bool]:
        """The saved placement and whether it was created."""
        placement = parse_placement(body, strategies=self.strategies)
        if replace and placement.kind != "recommendations" and self.tested_by is not None:
            tested = self.tested_by.using_placement(workspace_id, placement.id)
            if tested:
                raise InUse(
                    f"kind: experiment(s) {', '.join(tested)} test this placement's "
                    "recommendations; it stays a recommendations placement until they stop",
                    dependents={"experiments": tested},
                )
        created = self.store.save_placement(
            workspace_id, placement.id, stored(placement), _now_ms(),
            create=create, replace=replace,
        )  # fmt: skip
        if created is None:
            if create:
                raise ConflictError(
                    f"placement {placement.id!r} exists; PUT /v1/placements/{placement.id} "
                    "replaces it"
                )
            raise NotFound(f"no placement {placement.id!r} (POST /v1/placements creates one)")
        self._changed(workspace_id)
        return placement, created

    def upsert_placement(self, workspace_id: int, body: Any) -> Placement:
        return self.save_placement(workspace_id, body)[0]

    def delete_placement(self, workspace_id: int, placement_id: str) -> None:
        using = [
            d["id"]
            for d in self.store.experiences(workspace_id)
            if d.get("placement") == placement_id
        ]
        if using:
            raise InUse(
                f"placement {placement_id!r} is filled by {len(using)} experience(s): "
                f"{', '.join(using)}; delete or move them first",
                dependents={"experiences": using},
            )
        tested = (
            self.tested_by.using_placement(workspace_id, placement_id) if self.tested_by else []
        )
        if tested:
            raise _tested("placement", placement_id, tested)
        if not self.store.delete_placement(workspace_id, placement_id):
            raise NotFound(f"no placement {placement_id!r} in this workspace")
        self._changed(workspace_id)

    # -- experiences ---------------------------------------------------------------------------
    def experiences(self, workspace_id: int) -> list[Experience]:
        return [Experience.model_validate(d) for d in self.store.experiences(workspace_id)]

    def experience(self, workspace_id: int, experience_id: str) -> Experience:
        found = self.store.experience(workspace_id, experience_id)
        if found is None:
            raise NotFound(f"no experience {experience_id!r} in this workspace")
        return Experience.model_validate(found)

    def parse(self, workspace_id: int, body: Any) -> Experience:
        placements = {p.id: p for p in self.placements(workspace_id)}
        audiences = {a.id for a in self.conditions.all(workspace_id)}
        return parse_experience(
            body,
            placements=placements,
            audiences=audiences,
            strategies=self.strategies,
            check_condition=self.conditions.condition,
        )

    def save_experience(
        self, workspace_id: int, body: Any, *, create: bool = True, replace: bool = True
    ) -> tuple[Experience, bool]:
        experience = self.parse(workspace_id, body)
        if replace and self.tested_by is not None:
            self._keeps_tested_variants(workspace_id, experience)
        created = self.store.save_experience(
            workspace_id, experience.id, stored(experience), _now_ms(),
            create=create, replace=replace,
        )  # fmt: skip
        if created is None:
            if create:
                raise ConflictError(
                    f"experience {experience.id!r} exists; PUT /v1/experiences/{experience.id} "
                    "replaces it"
                )
            raise NotFound(f"no experience {experience.id!r} (POST /v1/experiences creates one)")
        self._changed(workspace_id)
        return experience, created

    def _keeps_tested_variants(self, workspace_id: int, experience: Experience) -> None:
        """A running or shipped experiment's variants stay while decisions serve them."""
        assert self.tested_by is not None
        kept = {v.id for v in experience.variants}
        for experiment_id, variants in self.tested_by.variants_tested(
            workspace_id, experience.id
        ).items():
            gone = [v for v in variants if v not in kept]
            if gone:
                raise InUse(
                    f"variants: experiment {experiment_id!r} shows variant {gone[0]!r}; keep "
                    "it until the experiment is stopped",
                    dependents={"experiments": [experiment_id]},
                )

    def upsert_experience(self, workspace_id: int, body: Any) -> Experience:
        return self.save_experience(workspace_id, body)[0]

    def delete_experience(self, workspace_id: int, experience_id: str) -> None:
        tested = (
            self.tested_by.using_experience(workspace_id, experience_id) if self.tested_by else []
        )
        if tested:
            raise _tested("experience", experience_id, tested)
        if not self.store.delete_experience(workspace_id, experience_id):
            raise NotFound(f"no experience {experience_id!r} in this workspace")
        self.store.delete_errors(workspace_id, experience_id)
        self._changed(workspace_id)

    def experiences_using_audience(self, workspace_id: int, audience_id: str) -> list[str]:
        """Ids of experiences that target the audience or recommend among its members."""
        using = []
        for experience in self.experiences(workspace_id):
            blocks = [v.recommendations for v in experience.variants]
            blocks += [
                v.interactive.recommendations
                for v in experience.variants
                if v.interactive is not None and v.interactive.kind == "quiz"
            ]
            if experience.audience == audience_id or any(
                b is not None and b.audience == audience_id for b in blocks
            ):
                using.append(experience.id)
        return using

    def errors(
        self, workspace_id: int, experience_id: str, limit: int, before_id: int | None = None
    ) -> list[dict[str, Any]]:
        self.experience(workspace_id, experience_id)  # a 404 for an unknown one
        return self.store.errors(workspace_id, experience_id, limit, before_id)

    def record_error(
        self, workspace_id: int, experience_id: str, variant_id: str | None, placement_id: str,
        code: str, message: str,
    ) -> None:  # fmt: skip
        self.store.record_error(
            workspace_id, experience_id, variant_id, placement_id, code, message, _now_ms()
        )

    # -- what decisions read -------------------------------------------------------------------
    def live(self, workspace_id: int) -> LiveSet:
        """The workspace's placements and experiences, compiled; a change made by any
        process shows within ``check_seconds``. An experience saved under conditions this
        server cannot compile (another installation's counters) is left out, never fatal."""
        now = time.monotonic()
        cached = self._live.get(workspace_id)
        if cached is not None and now - cached[0] < self.check_seconds:
            return cached[2]
        revision = self.store.revision(workspace_id)
        if cached is not None and cached[1] == revision:
            with self._lock:
                self._live[workspace_id] = (now, revision, cached[2])
            return cached[2]
        compiled = self._compile(workspace_id)
        with self._lock:
            self._live[workspace_id] = (now, revision, compiled)
        return compiled

    def _compile(self, workspace_id: int) -> LiveSet:
        placements = {p.id: p for p in self.placements(workspace_id)}
        by_placement: dict[str, list[Experience]] = {}
        for experience in self.experiences(workspace_id):
            if experience.placement in placements:
                by_placement.setdefault(experience.placement, []).append(experience)
        live: dict[str, list[LiveExperience]] = {}
        for placement_id, found in by_placement.items():
            found.sort(key=lambda e: (-e.priority, e.id))
            compiled = []
            for order, experience in enumerate(found):
                try:
                    condition = (
                        None
                        if experience.condition is None
                        else self.conditions.condition(experience.condition)
                    )
                    trigger = experience.trigger
                    trigger_condition = (
                        self.conditions.condition(event_condition(trigger))
                        if isinstance(trigger, EventTrigger)
                        else None
                    )
                except (RelevoError, InvalidExperience):
                    continue
                compiled.append(LiveExperience(experience, condition, trigger_condition, order))
            live[placement_id] = compiled
        return LiveSet(placements, live)

    def _changed(self, workspace_id: int) -> None:
        """This process sees the change on its next decision; the others within a second."""
        with self._lock:
            self._live.pop(workspace_id, None)


def _now_ms() -> int:
    return int(time.time() * 1000)
