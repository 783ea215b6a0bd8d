"""The experiments use cases, for the API and decisions: save drafts (validated against the
experiences and placements they test), start, stop, ship a winner, the global holdout, and the
compiled set of running experiments a decision reads (``running``), refreshed within a second
of any change in any process.

    draft --start--> running --stop--> stopped --start--> running (resumed)
                        \\---------ship {variation}------> shipped   (stopped ones too)

Errors: ``InvalidExperiment`` (400, relevo.experiments.model) for a definition that does not
validate or a state field in a body; ``NotFound`` (404); ``ExperimentConflict`` (409) for a
change the state forbids (a second running experiment on one subject, editing what assigns
visitors once started, deleting a running one).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

from relevo.errors import ConflictError, NotFound
from relevo.experiences.model import Experience, Placement
from relevo.experiments.model import (
    ASSIGNING_FIELDS,
    HOLDOUT_ID,
    MAX_HOLDOUT_SHARE,
    Experiment,
    InvalidExperiment,
    check_references,
    holdout_definition,
    stored,
    validate_experiment,
)
from relevo.experiments.running import RunningExperiment, RunningSet
from relevo.profiles.view import iso
from relevo.storage.experiment_store import ExperimentStore, StoredExperiment

STATE_FIELDS = ("status", "winner", "started_at", "stopped_at", "created_at", "updated_at")
_TRANSITIONS = "POST /v1/experiments/{id}/start, /stop and /ship"


class ExperimentConflict(ConflictError):
    code = "experiment_conflict"


class ExperienceCatalogue(Protocol):
    """relevo.experiences.service.Experiences: what an experiment may test."""

    def experiences(self, workspace_id: int) -> list[Experience]: ...
    def placements(self, workspace_id: int) -> list[Placement]: ...


class AudienceCatalogue(Protocol):
    """relevo.audiences.service.Audiences: the ids a recommendation block may name."""

    def all(self, workspace_id: int) -> Any: ...


@dataclass(frozen=True)
class ExperimentRecord:
    """An experiment and its state, as the API shows it."""

    experiment: Experiment
    status: str
    winner: str | None
    created_at: int
    updated_at: int
    started_at: int | None
    stopped_at: int | None
    allocation: dict[str, Any] | None = None  # thompson: the bandit's current weights

    def as_json(self) -> dict[str, Any]:
        return {
            **stored(self.experiment),
            "status": self.status,
            "winner": self.winner,
            "started_at": iso(self.started_at),
            "stopped_at": iso(self.stopped_at),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


def _record(found: StoredExperiment) -> ExperimentRecord:
    return ExperimentRecord(
        Experiment.model_validate(found.definition), found.status, found.winner,
        found.created_at, found.updated_at, found.started_at, found.stopped_at,
        found.allocation,
    )  # fmt: skip


class Experiments:
    def __init__(
        self,
        store: ExperimentStore,
        experiences: ExperienceCatalogue,
        audiences: AudienceCatalogue,
        strategies: Collection[str],
        check_seconds: float = 1.0,
    ) -> None:
        self.store = store
        self.experiences = experiences
        self.audiences = audiences
        self.strategies = strategies
        self.check_seconds = check_seconds
        # Per workspace: (checked at, revision, compiled set).
        self._running: dict[int, tuple[float, tuple[int, int], RunningSet]] = {}
        self._lock = threading.Lock()

    # -- reading -------------------------------------------------------------------------------
    def all(self, workspace_id: int) -> list[ExperimentRecord]:
        return [_record(found) for found in self.store.experiments(workspace_id)]

    def get(self, workspace_id: int, experiment_id: str) -> ExperimentRecord:
        found = self.store.experiment(workspace_id, experiment_id)
        if found is None:
            raise NotFound(f"no experiment {experiment_id!r} in this workspace")
        return _record(found)

    def find(self, workspace_id: int, experiment_id: str) -> ExperimentRecord | None:
        found = self.store.experiment(workspace_id, experiment_id)
        return None if found is None else _record(found)

    # -- drafts --------------------------------------------------------------------------------
    def save(
        self, workspace_id: int, body: Any, *, create: bool = True, replace: bool = True
    ) -> tuple[ExperimentRecord, bool]:
        """The saved experiment and whether it was created. The state fields of a body are
        the server's: accepted only as they are (a GET's answer sent back), never changed."""
        if not isinstance(body, dict):
            raise InvalidExperiment("body: an experiment is a JSON object")
        experiment_id = body.get("id")
        if experiment_id == HOLDOUT_ID or body.get("kind") == "holdout":
            raise InvalidExperiment(
                f"id: the global holdout ({HOLDOUT_ID!r}) is set by PUT /v1/holdout"
            )
        held = self.find(workspace_id, experiment_id) if isinstance(experiment_id, str) else None
        definition = {k: v for k, v in body.items() if k not in STATE_FIELDS}
        _check_state_unchanged(body, held)
        experiment = self._parse(workspace_id, definition)
        if held is not None and held.status != "draft" and replace:
            _check_assignment_unchanged(held, experiment)
        created = self.store.save(
            workspace_id, experiment.id, experiment.kind, experiment.subject, stored(experiment),
            _now_ms(), create=create, replace=replace,
        )  # fmt: skip
        if created is None:
            if create:
                raise ConflictError(
                    f"experiment {experiment.id!r} exists; PUT /v1/experiments/{experiment.id} "
                    "replaces it"
                )
            raise NotFound(f"no experiment {experiment.id!r} (POST /v1/experiments creates one)")
        self._changed(workspace_id)
        return self.get(workspace_id, experiment.id), created

    def upsert(self, workspace_id: int, body: Any) -> ExperimentRecord:
        return self.save(workspace_id, body)[0]

    def delete(self, workspace_id: int, experiment_id: str) -> int:
        """Deletes the experiment and its assignments (their count is returned)."""
        if experiment_id == HOLDOUT_ID:
            raise InvalidExperiment(f"{HOLDOUT_ID}: PUT /v1/holdout with share 0 turns it off")
        record = self.get(workspace_id, experiment_id)
        if record.status == "running":
            raise ExperimentConflict(
                f"experiment {experiment_id!r} is running: stop it first "
                f"(POST /v1/experiments/{experiment_id}/stop)"
            )
        gone = self.store.delete(workspace_id, experiment_id)
        if gone is None:
            raise NotFound(f"no experiment {experiment_id!r} in this workspace")
        self._changed(workspace_id)
        return gone

    # -- what experiments depend on -----------------------------------------------------------
    def using_experience(self, workspace_id: int, experience_id: str) -> list[str]:
        """Ids of the running or shipped experiments testing the experience: deleting it is
        refused while decisions serve them (drafts and stopped ones keep their results and
        are checked again when started)."""
        return [
            r.experiment.id
            for r in self._served(workspace_id)
            if r.experiment.kind == "experience" and r.experiment.experience == experience_id
        ]

    def variants_tested(self, workspace_id: int, experience_id: str) -> dict[str, list[str]]:
        """Per running or shipped experiment on the experience, the variants it shows."""
        return {
            r.experiment.id: [v.variant for v in r.experiment.variations if v.variant is not None]
            for r in self._served(workspace_id)
            if r.experiment.kind == "experience" and r.experiment.experience == experience_id
        }

    def using_placement(self, workspace_id: int, placement_id: str) -> list[str]:
        return [
            r.experiment.id
            for r in self._served(workspace_id)
            if r.experiment.kind == "placement" and r.experiment.placement == placement_id
        ]

    def using_audience(self, workspace_id: int, audience_id: str) -> list[str]:
        """Ids of the running or shipped experiments whose recommendations read it."""
        return [
            r.experiment.id
            for r in self._served(workspace_id)
            if any(
                v.recommendations is not None and v.recommendations.audience == audience_id
                for v in r.experiment.variations
            )
        ]

    def _served(self, workspace_id: int) -> list[ExperimentRecord]:
        return [r for r in self.all(workspace_id) if r.status in ("running", "shipped")]

    # -- state ---------------------------------------------------------------------------------
    def start(self, workspace_id: int, experiment_id: str) -> ExperimentRecord:
        """Draft or stopped -> running (a stopped one resumes: its first start is kept)."""
        record = self._managed_here(workspace_id, experiment_id)
        if record.status == "running":
            return record
        if record.status == "shipped":
            raise ExperimentConflict(
                f"experiment {experiment_id!r} is shipped: its winner serves everyone; test "
                "something new in a new experiment"
            )
        # What it tests may have changed since it was saved.
        self._check_references(workspace_id, record.experiment)
        other = self.store.start(workspace_id, experiment_id, _now_ms())
        if other is not None:
            experiment = record.experiment
            raise ExperimentConflict(
                f"experiment {other!r} already runs on {experiment.kind} "
                f"{experiment.subject!r}; stop it first (one running experiment per "
                f"{experiment.kind})",
                running=other,
            )
        self._changed(workspace_id)
        return self.get(workspace_id, experiment_id)

    def stop(self, workspace_id: int, experiment_id: str) -> ExperimentRecord:
        record = self._managed_here(workspace_id, experiment_id)
        if record.status == "stopped":
            return record
        if record.status != "running":
            raise ExperimentConflict(
                f"experiment {experiment_id!r} is {record.status}: only a running one stops"
            )
        self.store.set_state(workspace_id, experiment_id, "stopped", _now_ms())
        self._changed(workspace_id)
        return self.get(workspace_id, experiment_id)

    def ship(self, workspace_id: int, experiment_id: str, variation: Any) -> ExperimentRecord:
        """Running or stopped -> shipped: ``variation`` serves every visitor from now."""
        record = self._managed_here(workspace_id, experiment_id)
        ids = [v.id for v in record.experiment.variations]
        if not isinstance(variation, str) or variation not in ids:
            raise InvalidExperiment(
                f"variation: the winner is one of the variations' ids: {', '.join(ids)}"
            )
        if record.status == "draft":
            raise ExperimentConflict(
                f"experiment {experiment_id!r} never started: start it, or change the "
                "experience itself"
            )
        self.store.set_state(workspace_id, experiment_id, "shipped", _now_ms(), winner=variation)
        self._changed(workspace_id)
        return self.get(workspace_id, experiment_id)

    # -- the global holdout --------------------------------------------------------------------
    def holdout(self, workspace_id: int) -> ExperimentRecord | None:
        return self.find(workspace_id, HOLDOUT_ID)

    def set_holdout(
        self, workspace_id: int, share: Any, seed: Any = None, goals: Any = None
    ) -> ExperimentRecord:
        """``share`` of visitors (0 to 0.5) never personalized; 0 turns the holdout off. The
        seed and goals, when not given, stay as they were."""
        if isinstance(share, bool) or not isinstance(share, int | float):
            raise InvalidExperiment(f"share: a number from 0 to {MAX_HOLDOUT_SHARE}")
        if not 0 <= share <= MAX_HOLDOUT_SHARE:
            raise InvalidExperiment(
                f"share: from 0 (off) to {MAX_HOLDOUT_SHARE}, got {share}: a holdout larger "
                "than half the visitors would measure the programme on the smaller side"
            )
        held = self.holdout(workspace_id)
        if seed is None and held is not None:
            seed = held.experiment.seed
        if goals is None and held is not None:
            goals = [g.model_dump(mode="json") for g in held.experiment.goals]
        experiment = validate_experiment(holdout_definition(float(share), seed, goals))
        now_ms = _now_ms()
        self.store.save(
            workspace_id, HOLDOUT_ID, "holdout", None, stored(experiment), now_ms,
            create=True, replace=True, status="stopped",
        )  # fmt: skip
        if share > 0:
            self.store.start(workspace_id, HOLDOUT_ID, now_ms)
        elif held is not None and held.status == "running":
            self.store.set_state(workspace_id, HOLDOUT_ID, "stopped", now_ms)
        self._changed(workspace_id)
        return self.get(workspace_id, HOLDOUT_ID)

    # -- what decisions read -------------------------------------------------------------------
    def running(self, workspace_id: int) -> RunningSet:
        """Per experience and per placement its running experiment (else its latest shipped
        one), and the holdout while it holds anyone out; a change made by any process shows
        within ``check_seconds``."""
        now = time.monotonic()
        cached = self._running.get(workspace_id)
        if cached is not None and now - cached[0] < self.check_seconds:
            return cached[2]
        revision = self.store.revision(workspace_id)
        if cached is not None and cached[1] == revision:
            with self._lock:
                self._running[workspace_id] = (now, revision, cached[2])
            return cached[2]
        compiled = _compile(self.all(workspace_id))
        with self._lock:
            self._running[workspace_id] = (now, revision, compiled)
        return compiled

    def assigned(self, workspace_id: int, profile_id: int) -> dict[str, str]:
        """The person's sticky variation per experiment (relevo.storage.experiment_store)."""
        return self.store.assigned(workspace_id, profile_id)

    async def assigned_awaited(self, workspace_id: int, profile_id: int) -> dict[str, str]:
        return await self.store.assigned_awaited(workspace_id, profile_id)

    # -- shared --------------------------------------------------------------------------------
    def _parse(self, workspace_id: int, body: dict[str, Any]) -> Experiment:
        experiment = validate_experiment(body)
        self._check_references(workspace_id, experiment)
        return experiment

    def _check_references(self, workspace_id: int, experiment: Experiment) -> None:
        check_references(
            experiment,
            experiences={e.id: e for e in self.experiences.experiences(workspace_id)},
            placements={p.id: p for p in self.experiences.placements(workspace_id)},
            strategies=self.strategies,
            audiences={a.id for a in self.audiences.all(workspace_id)},
        )

    def _managed_here(self, workspace_id: int, experiment_id: str) -> ExperimentRecord:
        if experiment_id == HOLDOUT_ID:
            raise InvalidExperiment(f"{HOLDOUT_ID}: set by PUT /v1/holdout (share 0 is off)")
        return self.get(workspace_id, experiment_id)

    def _changed(self, workspace_id: int) -> None:
        """This process sees the change on its next decision; the others within a second."""
        with self._lock:
            self._running.pop(workspace_id, None)


def _check_state_unchanged(body: dict[str, Any], held: ExperimentRecord | None) -> None:
    current = held.as_json() if held is not None else {"status": "draft"}
    for name in STATE_FIELDS:
        if name in body and body[name] != current.get(name):
            raise InvalidExperiment(f"{name}: set by the server ({_TRANSITIONS}), not by a body")


def _check_assignment_unchanged(held: ExperimentRecord, experiment: Experiment) -> None:
    before, after = stored(held.experiment), stored(experiment)
    changed = [name for name in ASSIGNING_FIELDS if before.get(name) != after.get(name)]
    if changed:
        raise ExperimentConflict(
            f"{changed[0]}: experiment {experiment.id!r} is {held.status}; what assigns "
            f"visitors ({', '.join(ASSIGNING_FIELDS)}) is fixed once started, so its results "
            "compare like with like. Name, hypothesis, goals and analysis may change; test "
            "something else in a new experiment"
        )


def _compile(records: list[ExperimentRecord]) -> RunningSet:
    by_experience: dict[str, RunningExperiment] = {}
    by_placement: dict[str, RunningExperiment] = {}
    holdout: RunningExperiment | None = None
    # Shipped ones first, oldest first, so the latest shipped and then a running one win.
    ordered = sorted(
        (r for r in records if r.status in ("running", "shipped")),
        key=lambda r: (r.status == "running", r.stopped_at or 0, r.experiment.id),
    )
    for record in ordered:
        experiment = record.experiment
        live = RunningExperiment(
            experiment, record.status, record.winner, record.started_at, allocated_weights(record)
        )
        if experiment.kind == "holdout":
            if record.status == "running" and experiment.variations[0].weight > 0:
                holdout = live
        elif experiment.kind == "experience" and experiment.experience is not None:
            by_experience[experiment.experience] = live
        elif experiment.placement is not None:
            by_placement[experiment.placement] = live
    return RunningSet(by_experience, by_placement, holdout)


def allocated_weights(record: ExperimentRecord) -> tuple[float, ...] | None:
    """A thompson experiment's current weights, when the allocation job has set them."""
    allocation = record.allocation or {}
    weights = allocation.get("weights")
    if record.experiment.allocation.mode != "thompson" or not isinstance(weights, list):
        return None
    if len(weights) != len(record.experiment.variations):
        return None  # set for another set of variations: the saved weights until the next
    if not all(isinstance(w, int | float) and w >= 0 for w in weights) or sum(weights) <= 0:
        return None
    return tuple(float(w) for w in weights)


def _now_ms() -> int:
    return int(time.time() * 1000)
