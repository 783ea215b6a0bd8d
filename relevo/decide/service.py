"""One decision end to end (``POST /v1/decide``): the placements asked for, the visitor read
once for all of them, each placement filled (relevo.decide.engine), a signed token per
placement, the exposures recorded, the failures kept for an admin, and with ``debug`` why each
experience won or lost.

The visitor is read once: their traits, computed state and scores in one (awaited) read, their
audiences judged once on the document conditions see (with the request's context), their
exposure counters in one read when an experience has caps, and their recent product events in
one read shared by every recommendation block.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol, TypeVar

from relevo.audiences.behaviour import behaviour_answer
from relevo.audiences.context import request_context
from relevo.audiences.model import matching, memberships
from relevo.audiences.service import Audiences
from relevo.decide import frequency
from relevo.decide.arms import NO_ARMS, Arm, arms_for, exposure, touches
from relevo.decide.blocks import BlockRequest, Blocks
from relevo.decide.debug import debug_view
from relevo.decide.eligibility import VisitorState, caps_of, judge
from relevo.decide.engine import EXPERIENCE, Engine, Failure, Filled, PlacementPlan
from relevo.decide.exposures import Exposure, ExposureSource, visitor_keys
from relevo.decide.messages import EXPERIENCE_VIEWED, message_id, system_message
from relevo.decide.recorder import ExposureRecorder
from relevo.decide.tokens import DecisionClaims, sign, visitor_hash
from relevo.experiences.service import Experiences, LiveExperience
from relevo.experiments.exposure import EXPERIMENT_VIEWED, exposure_message_id
from relevo.experiments.running import RunningSet
from relevo.identity.identities import Identity
from relevo.recs.service import Signals
from relevo.tracking.jobs import IngestJob, StoredBatch
from relevo.tracking.messages import TrackedMessage

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_PLACEMENTS = 20
PROFILE_ID = "profile_id"  # a lookup by profile id, as an e-mail link's token proves one
FAILURE_EVERY_SECONDS = 10.0  # the same failure of a variant is recorded at most this often


class ExperimentSource(Protocol):
    """relevo.experiments.service.Experiments: what decisions read of experiments."""

    def running(self, workspace_id: int) -> RunningSet: ...

    async def assigned_awaited(self, workspace_id: int, profile_id: int) -> dict[str, str]: ...


class EventWriter(Protocol):
    """relevo.tracking.writer.IngestWriter: durable, group-committed."""

    async def submit(self, job: IngestJob) -> StoredBatch: ...


@dataclass(frozen=True)
class DecideRequest:
    workspace_id: int
    identity: Identity  # the decision's visitor: tokens, variants and exposures name it
    lookups: tuple[Identity, ...]  # how to find their profile, strongest proof first
    channel: str
    context: dict[str, Any]
    placements: tuple[str, ...]
    debug: bool = False
    browser: bool = False
    problems: tuple[dict[str, Any], ...] = ()  # e.g. an identity token that proved nothing


@dataclass
class Decision:
    decision_id: str
    placements: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    debug: dict[str, Any] | None = None

    def view(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "decision_id": self.decision_id,
            "placements": self.placements,
            "errors": self.errors,
        }
        if self.debug is not None:
            answer["debug"] = self.debug
        return answer


def new_decision_id() -> str:
    return f"dec_{uuid.uuid4().hex}"


async def _nothing(value: T) -> T:
    return value


def _primitive(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _cart_ids(context: dict[str, Any]) -> tuple[str, ...]:
    cart = context.get("cart") or {}
    items = cart.get("items") if isinstance(cart, dict) else None
    ids = [
        str(item.get("product_id"))
        for item in items or []
        if isinstance(item, dict) and _primitive(item.get("product_id"))
    ]
    return tuple(dict.fromkeys(i[:255] for i in ids if i))[:500]


def _product_id(context: dict[str, Any]) -> str | None:
    product = context.get("product")
    if isinstance(product, dict) and _primitive(product.get("product_id")):
        return str(product["product_id"])[:255] or None
    return None


@dataclass(frozen=True)
class DecisionParts:
    """What decisions and their feedback are made from (built by relevo.services)."""

    experiences: Experiences
    audiences: Audiences
    blocks: Blocks
    exposures: ExposureSource
    recorder: ExposureRecorder
    writer: EventWriter
    token_key: Callable[[int], bytes]  # a workspace's key for tokens and counter keys
    experiments: ExperimentSource


class Decider:
    def __init__(self, parts: DecisionParts) -> None:
        self.experiences = parts.experiences
        self.audiences = parts.audiences
        self.blocks = parts.blocks
        self.exposures = parts.exposures
        self.recorder = parts.recorder
        self.writer = parts.writer
        self.token_key = parts.token_key
        self.experiments = parts.experiments
        self.engine = Engine(parts.blocks)
        # (workspace, experience, variant, code) -> when this process last recorded it
        self._failures_seen: dict[tuple[int, str, str, str], float] = {}
        self._writing: set[asyncio.Future[StoredBatch]] = set()  # exposures being written

    def writing(self) -> int:
        """Decisions whose exposure events the writer has not stored yet."""
        return len(self._writing)

    def _written(self, decision_id: str, done: asyncio.Future[StoredBatch]) -> None:
        self._writing.discard(done)
        if done.cancelled():
            log.warning("exposures of %s not recorded: the server stopped", decision_id)
        elif done.exception() is not None:
            log.warning("exposures of %s not recorded: %s", decision_id, done.exception())

    # -- the visitor ---------------------------------------------------------------------------
    async def _person(
        self, request: DecideRequest
    ) -> tuple[Identity | None, tuple[Any, dict[str, Any] | None] | None]:
        store = self.audiences.store
        for lookup in request.lookups:
            if lookup[0] == PROFILE_ID:  # an e-mail link's proof: the profile it names
                found = store.person_of_profile(request.workspace_id, int(lookup[1]))
                if found is not None:
                    return None, found  # its recent events: read by the visitor's own id
                continue
            found = await store.person_awaited(request.workspace_id, *lookup)
            if found is not None:
                return lookup, found
        return None, None

    async def _visitor(
        self,
        request: DecideRequest,
        now_ms: int,
        capped: Sequence[str],
        tested: tuple[RunningSet, list[str], list[str]] | None,
        wants_signals: bool,
    ) -> tuple[VisitorState, Identity | None, list[str], Signals | None]:
        matched, found = await self._person(request)
        context = request_context(request.context, now_ms)
        if found is not None:
            person, scores = found
            profile_id, traits, computed = person.profile_id, person.traits, person.computed
        else:
            profile_id, traits, computed, scores = None, {}, {}, None
        audiences = self.audiences
        timeout = audiences.rules.session_timeout_ms
        document = audiences.document(traits, computed, now_ms, context, scores)
        every = audiences.all(request.workspace_id)
        judged = memberships(every, document, computed, now_ms, timeout) if request.debug else []
        matched_ids = (
            frozenset(m.audience.id for m in judged if m.matched)
            if request.debug
            else frozenset(a.id for a in matching(every, document, computed, now_ms, timeout))
        )
        keys = visitor_keys(self.token_key(request.workspace_id), request.identity, profile_id)
        # What follows the person's read needs only their profile: read concurrently.
        if capped:
            await self.recorder.written(request.workspace_id, keys)
        counts = (
            self.exposures.counts_awaited(request.workspace_id, keys) if capped else _nothing({})
        )
        assignments = (
            self.experiments.assigned_awaited(request.workspace_id, profile_id)
            if tested is not None and profile_id is not None
            else _nothing({})
        )
        signals = (
            self.blocks.signals(request.workspace_id, matched or request.identity)
            if wants_signals
            else _nothing(None)
        )
        rows, stored, read_signals = await asyncio.gather(counts, assignments, signals)
        arms = NO_ARMS
        if tested is not None:
            running, experience_ids, placement_ids = tested
            unit = f"{request.identity[0]}:{request.identity[1]}"
            arms = arms_for(running, unit, stored, experience_ids, placement_ids)
        session = frequency.current_session(
            computed, [r for found_rows in rows.values() for r in found_rows], now_ms, timeout
        )
        visitor = VisitorState(
            identity=request.identity,
            profile_id=profile_id,
            document=document,
            computed=computed,
            known=frozenset(a.id for a in every),
            audience_ids=matched_ids,
            memberships={m.audience.id: m for m in judged},
            answers={"$event": behaviour_answer(computed, now_ms, timeout)},
            now_ms=now_ms,
            session_key=session,
            exposures={e: frequency.seen(r, session, now_ms) for e, r in rows.items()},
            arms=arms,
        )
        return visitor, matched, keys, read_signals

    # -- the decision --------------------------------------------------------------------------
    async def decide(self, request: DecideRequest, now_ms: int) -> Decision:
        decision = Decision(new_decision_id(), errors=list(request.problems))
        live = self.experiences.live(request.workspace_id)
        wanted: list[tuple[Any, list[LiveExperience]]] = []
        for placement_id in dict.fromkeys(request.placements):
            placement = live.placements.get(placement_id)
            if placement is None:
                decision.errors.append(
                    {"placement": placement_id, "code": "unknown_placement",
                     "message": f"no placement {placement_id[:100]!r} in this workspace "
                     "(GET /v1/placements lists them)"}
                )  # fmt: skip
                continue
            if placement.channel != request.channel:
                decision.errors.append(
                    {"placement": placement_id, "code": "wrong_channel",
                     "message": f"placement {placement_id!r} is for channel "
                     f"{placement.channel!r}, not {request.channel!r}"}
                )  # fmt: skip
                continue
            wanted.append((placement, live.by_placement.get(placement_id, [])))
        capped = [
            e.experience.id for _, found in wanted for e in found if caps_of(e.experience).any
        ]
        running = self.experiments.running(request.workspace_id)
        experience_ids = [e.experience.id for _, found in wanted for e in found]
        placement_ids = [placement.id for placement, _ in wanted]
        tested = (
            (running, experience_ids, placement_ids)
            if touches(running, experience_ids, placement_ids)
            else None
        )
        # The visitor's recent product events, read with their counters when any block might
        # need them (a block whose experiences all turn out ineligible wastes that one read).
        wants_signals = any(
            placement.recommendations is not None
            or any(
                v.recommendations is not None or v.interactive is not None
                for e in found
                for v in e.experience.variants
            )
            for placement, found in wanted
        )
        visitor, matched, keys, signals = await self._visitor(
            request, now_ms, capped, tested, wants_signals
        )
        plans = []
        for placement, found in wanted:
            judged = [judge(e, visitor) for e in found]
            eligible = iter([j for j in judged if j.eligible])
            plans.append(PlacementPlan(placement, judged, eligible))
        signals_identity = matched or request.identity
        blocks = BlockRequest(
            request.workspace_id,
            signals_identity,
            _product_id(visitor.document.get("context") or {}),
            _cart_ids(visitor.document.get("context") or {}),
            now_ms,
            request.browser,
            signals,  # None unless a placement or experience here has a block
            visitor.audience_ids,
        )
        failures, problems = self.engine.fill(
            plans, visitor, blocks, visitor.document.get("context") or {}
        )
        decision.errors += problems
        key = self.token_key(request.workspace_id)
        visitor_id = visitor_hash(key, request.identity)
        for plan in plans:
            assert plan.filled is not None
            decision.placements[plan.placement.id] = self._view(
                plan.filled, request, decision.decision_id, key, visitor_id, now_ms
            )
        await self._record(request, decision, plans, failures, keys, visitor, now_ms)
        if request.debug:
            decision.debug = debug_view(visitor, plans)
        return decision

    def _view(
        self,
        filled: Filled,
        request: DecideRequest,
        decision_id: str,
        key: bytes,
        visitor_id: str,
        now_ms: int,
    ) -> dict[str, Any]:
        placement, experience, variant = filled.placement, filled.experience, filled.variant
        claims = DecisionClaims(
            request.workspace_id,
            decision_id,
            placement.id,
            experience.id if experience else None,
            variant.id if variant else None,
            visitor_id,
            now_ms // 1000,
        )
        named = None if experience is None else {"id": experience.id, "name": experience.name}
        return {
            "placement": placement.id,
            "kind": placement.kind,
            "selector": placement.selector,
            "mode": placement.mode,
            "source": filled.source,
            "experience": named,
            "variant": variant.id if variant else None,
            "label": experience.label if experience else None,
            "trigger": None if filled.trigger is None else filled.trigger.model_dump(mode="json"),
            "content": filled.content,
            "html": filled.html,
            "recommendations": filled.recommendations,
            "interactive": None
            if variant is None or variant.interactive is None
            else variant.interactive.model_dump(mode="json"),
            "token": sign(key, claims),
        }  # fmt: skip

    # -- what a decision records ---------------------------------------------------------------
    async def _record(
        self,
        request: DecideRequest,
        decision: Decision,
        plans: Sequence[PlacementPlan],
        failures: Sequence[Failure],
        keys: Sequence[str],
        visitor: VisitorState,
        now_ms: int,
    ) -> None:
        """Exposures (as system events, durable before the answer), the caps' counters (just
        after it) and the failures, for GET /v1/experiences/{id}/errors. None of it fails the
        decision."""
        shown = [p.filled for p in plans if p.filled is not None and p.filled.source == EXPERIENCE]
        messages: list[TrackedMessage] = []
        for filled in shown:
            assert filled.experience is not None and filled.variant is not None
            properties = {
                "decision_id": decision.decision_id,
                "placement": filled.placement.id,
                "experience_id": filled.experience.id,
                "variant_id": filled.variant.id,
                "channel": request.channel,
            }
            messages.append(
                system_message(
                    request.identity,
                    EXPERIENCE_VIEWED,
                    message_id(decision.decision_id, filled.placement.id),
                    properties,
                    now_ms,
                )
            )
        reached: dict[str, Arm] = {}
        holdout = visitor.arms.holdout
        for arm in ([holdout] if holdout is not None else []) + [a for p in plans for a in p.arms]:
            if arm.records:
                reached.setdefault(arm.running.experiment.id, arm)
        for experiment_id, arm in reached.items():
            # One per (experiment, unit): the writer drops the repeats of a message id, and
            # storing the first writes the person's sticky assignment.
            messages.append(
                system_message(
                    request.identity,
                    EXPERIMENT_VIEWED,
                    exposure_message_id(experiment_id, keys[0]),
                    exposure(arm, visitor.document, visitor.audience_ids).properties(),
                    now_ms,
                )
            )
        # An experience armed by a browser trigger is counted when its impression comes.
        counted = [
            f.experience.id
            for f in shown
            if f.experience is not None and f.trigger is None and caps_of(f.experience).any
        ]
        if counted:
            # Off the answer's path, in group commits; this process's next decision for the
            # visitor waits for it (ExposureRecorder.written).
            self.recorder.record(
                Exposure(request.workspace_id, keys[0], tuple(counted), now_ms,
                         frequency.today(now_ms), visitor.session_key)
            )  # fmt: skip
        if messages:
            # Handed to the event writer, which commits them with the next group (durable
            # within milliseconds); the answer does not wait for that commit, which was most of
            # a decision's time. A writer that refuses them (its queue full) is logged.
            job = IngestJob(request.workspace_id, messages, [])
            written = asyncio.ensure_future(self.writer.submit(job))
            self._writing.add(written)
            written.add_done_callback(partial(self._written, decision.decision_id))
        now = time.monotonic()
        for failure in failures:
            # A broken experience fails every decision: its error is kept once a while.
            seen = (request.workspace_id, failure.experience_id, failure.variant_id, failure.code)
            if now - self._failures_seen.get(seen, -1e18) < FAILURE_EVERY_SECONDS:
                continue
            self._failures_seen[seen] = now
            if len(self._failures_seen) > 10_000:
                self._failures_seen.clear()
            try:
                await asyncio.to_thread(
                    self.experiences.record_error,
                    request.workspace_id,
                    failure.experience_id,
                    failure.variant_id,
                    failure.placement_id,
                    failure.code,
                    failure.message,
                )
            except Exception:
                log.exception("recording a failure of experience %s", failure.experience_id)
