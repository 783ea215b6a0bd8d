"""Adaptive allocation: a thompson experiment's traffic follows the evidence.

Every ``ALLOCATE_EVERY_SECONDS`` the allocation job reads each running thompson experiment's
results for its allocation goal (the same aggregation as its results page), turns each arm
into a bandit arm (conversion: Beta posterior; revenue per visitor: Normal), and stores the
next weights (relevo.experiments.stats.bandit: probability of being best, floored by the
minimum share, fixed during the burn-in). Decisions read them with the running set: only NEW
units are hashed onto them; an assigned person keeps their arm (sticky), and exposures are
logged exactly as with fixed weights.

The draws are seeded by (experiment, round) so that every server computing the same round from
the same data stores the same weights. A bandit's p-values are not those of a fixed split:
``report`` gives its regret and the best variant's uplift instead.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from relevo.experiments.analysis.results import MetricResult
from relevo.experiments.analysis.service import ExperimentAnalysis, ExperimentResults
from relevo.experiments.model import Experiment
from relevo.experiments.stats.bandit import (
    AllocationPolicy,
    BanditArm,
    bandit_report,
    thompson_weights,
)
from relevo.experiments.stats.statistics import ProportionStatistic, SampleMeanStatistic
from relevo.runtime import background_thread_priority
from relevo.storage.experiment_store import StoredExperiment

log = logging.getLogger(__name__)

ALLOCATE_EVERY_SECONDS = 60.0


class AllocationStore(Protocol):
    def running_everywhere(self) -> list[tuple[int, StoredExperiment]]: ...

    def set_allocation(
        self, workspace_id: int, experiment_id: str, allocation: dict[str, Any], now_ms: int
    ) -> None: ...


def _rng(experiment_id: str, round_key: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{experiment_id}:{round_key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def bandit_arms(metric: MetricResult, variations: Sequence[str]) -> list[BanditArm]:
    """Each variation's statistic for the bandit, in the experiment's variation order."""
    arms: list[BanditArm] = []
    for variation in variations:
        sums = metric.arms[variation]
        if metric.metric.kind == "conversion":
            arms.append(ProportionStatistic(n=sums.n, sum=min(sums.x, sums.n)))
        else:  # revenue per visitor (a ratio goal is optimised by its numerator per unit)
            arms.append(SampleMeanStatistic(n=sums.n, sum=sums.x, sum_squares=sums.xx))
    return arms


def _goal(results: ExperimentResults, experiment: Experiment) -> MetricResult:
    wanted = experiment.allocation.goal or experiment.goals[0].id
    found = next((m for m in results.metrics if m.metric.id == wanted), None)
    return found if found is not None else results.metrics[0]


def policy_of(experiment: Experiment) -> AllocationPolicy:
    allocation = experiment.allocation
    saved = [v.weight for v in experiment.variations]
    total = sum(saved)
    return AllocationPolicy(
        minimum_share=min(allocation.min_share, 1 / len(saved)),
        burn_in_units=allocation.burn_in,
        burn_in_weights=tuple(w / total for w in saved) if total > 0 else None,
    )


@dataclass(frozen=True)
class Allocated:
    workspace_id: int
    experiment_id: str
    allocation: dict[str, Any]


class Allocator:
    def __init__(self, store: AllocationStore, analysis: ExperimentAnalysis) -> None:
        self.store = store
        self.analysis = analysis

    def allocate(self, workspace_id: int, experiment: Experiment, now_ms: int) -> dict[str, Any]:
        """The next weights of one thompson experiment, from its results so far."""
        results = self.analysis.results(workspace_id, experiment.id)
        variations = [v.id for v in experiment.variations]
        arms = bandit_arms(_goal(results, experiment), variations)
        round_key = int(now_ms // (ALLOCATE_EVERY_SECONDS * 1000))
        chosen = thompson_weights(arms, _rng(experiment.id, round_key), policy_of(experiment))
        return {
            "weights": list(chosen.weights),
            "reason": chosen.reason,
            "probability_best": None
            if chosen.probability_best is None
            else list(chosen.probability_best),
            "units": [arm.n for arm in arms],
            "at": now_ms,
        }

    def run_once(self, now_ms: int | None = None) -> list[Allocated]:
        """One round over every workspace's running thompson experiments. An experiment whose
        results cannot be read this round keeps its weights (logged), the others go on."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        done: list[Allocated] = []
        for workspace_id, stored in self.store.running_everywhere():
            try:
                experiment = Experiment.model_validate(stored.definition)
                if experiment.allocation.mode != "thompson":
                    continue
                allocation = self.allocate(workspace_id, experiment, now_ms)
                self.store.set_allocation(workspace_id, experiment.id, allocation, now_ms)
                done.append(Allocated(workspace_id, experiment.id, allocation))
            except Exception:
                log.exception("allocating experiment %s of workspace %s", stored, workspace_id)
        return done

    def report(self, workspace_id: int, experiment: Experiment) -> dict[str, Any]:
        """The bandit's regret so far and its best variant's uplift over the control."""
        results = self.analysis.results(workspace_id, experiment.id)
        variations = [v.id for v in experiment.variations]
        goal = _goal(results, experiment)
        arms = bandit_arms(goal, variations)
        control = variations.index(experiment.control or variations[0])
        if min(arm.n for arm in arms) < 2:
            why = "each arm needs two units before its posterior can be drawn"
            return {"goal": goal.metric.id, "ready": False, "why": why}
        found = bandit_report(arms, _rng(experiment.id, 0), control_index=control)
        interval = found.best_variant_uplift_interval
        return {
            "goal": goal.metric.id,
            "ready": True,
            "units": {v: arm.n for v, arm in zip(variations, arms, strict=True)},
            "expected_regret": found.expected_regret,
            "regret_share": found.regret_share,
            "probability_best": dict(zip(variations, found.probability_best, strict=True)),
            "best": variations[found.best_arm],
            "best_variant": variations[found.best_variant],
            "best_variant_uplift": found.best_variant_uplift,
            "best_variant_uplift_ci": [interval.low, interval.high],
        }


class AllocationThread:
    """The allocation job in a server process (beside the audience job): a round every
    ``every`` seconds, first one soon after start."""

    def __init__(self, allocator: Allocator, every: float = ALLOCATE_EVERY_SECONDS) -> None:
        self.allocator = allocator
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="allocation", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        background_thread_priority()  # behind request handling when the cores are busy
        while not self._stop.wait(self.every):
            self.allocator.run_once()
