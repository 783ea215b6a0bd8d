"""What a page reports about a decision (``POST /v1/decide/events``): impressions, clicks,
dismissals, submits and conversions, each with the placement's decision token.

A token is refused, per event and with the reason, when it is forged (a bad signature, another
workspace's), expired (over 24 h), another visitor's, or replayed (the same token and type
again: their messageId is derived from both, so the event store finds the duplicate); refusals
are counted per experience and reason (``GET /v1/decide/refusals``).

Accepted events are stored as system events of the visitor. A submit also stores what the
visitor told: an e-mail capture's address as a claim with their consent (as the tracking path
stores a browser key's identify: an identity never linked without proof), a self-selection as
the declared preference ``traits.preferences.<trait>``, a quiz's answers as declared
preferences, and the answer then carries the quiz's recommendation block by those answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from relevo.decide import frequency
from relevo.decide.blocks import BlockRequest, quiz_answers
from relevo.decide.eligibility import caps_of
from relevo.decide.exposures import Exposure, visitor_keys
from relevo.decide.messages import FEEDBACK_EVENTS, message_id, system_message
from relevo.decide.service import DecisionParts
from relevo.decide.tokens import (
    REPLAYED,
    DecisionClaims,
    Refused,
    fingerprint,
    verify,
    visitor_hash,
)
from relevo.encoded import EncodedJson
from relevo.experiences.model import (
    EmailCapture,
    Experience,
    Quiz,
    SelfSelection,
    Variant,
    is_browser_trigger,
)
from relevo.identity.claims import Claim
from relevo.identity.identities import EMAIL, Identity, normalise_email
from relevo.tracking.jobs import IngestJob
from relevo.tracking.messages import TrackedMessage

log = logging.getLogger(__name__)

MAX_EVENTS = 50
NOT_INTERACTIVE = "not_interactive"  # a submit for a variant that asks nothing
INVALID_SUBMIT = "invalid_submit"  # a submit whose properties the form does not take


@dataclass(frozen=True)
class Reported:
    token: str
    type: str
    properties: dict[str, Any] = field(default_factory=dict)


def clicked(reported: Reported) -> dict[str, str]:
    """What a click names, when it does: the product of a card (`product_id`), or the
    link's `href`; anything else the snippet sends with it is not kept."""
    if reported.type != "click":
        return {}
    given = reported.properties
    product, href = given.get("product_id"), given.get("href")
    if isinstance(product, str) and 0 < len(product) <= 255:
        return {"product_id": product}
    if isinstance(href, str) and 0 < len(href) <= 2000:
        return {"href": href}
    return {}


@dataclass(frozen=True)
class FeedbackRequest:
    workspace_id: int
    identity: Identity
    events: tuple[Reported, ...]
    browser: bool = False


@dataclass
class FeedbackAnswer:
    accepted: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    recommendations: dict[str, Any] | None = None

    def view(self) -> dict[str, Any]:
        found: dict[str, Any] = {"accepted": self.accepted, "refused": self.refused}
        if self.recommendations is not None:
            found["recommendations"] = self.recommendations
        return found


@dataclass
class _Accepted:
    index: int
    claims: DecisionClaims
    reported: Reported
    messages: list[TrackedMessage]
    experience: Experience | None
    quiz: tuple[Quiz, dict[str, str]] | None = None


class Submitted(Exception):
    """A submit refused: the reason for the answer and a message for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _variant(experience: Experience | None, variant_id: str | None) -> Variant | None:
    if experience is None:
        return None
    return next((v for v in experience.variants if v.id == variant_id), None)


class Feedback:
    def __init__(self, parts: DecisionParts) -> None:
        self.experiences = parts.experiences
        self.audiences = parts.audiences
        self.blocks = parts.blocks
        self.exposures = parts.exposures
        self.recorder = parts.recorder
        self.writer = parts.writer
        self.token_key = parts.token_key

    async def report(self, request: FeedbackRequest, now_ms: int) -> FeedbackAnswer:
        answer = FeedbackAnswer()
        key = self.token_key(request.workspace_id)
        visitor = visitor_hash(key, request.identity)
        live = self.experiences.live(request.workspace_id)
        refusals: list[tuple[str, str]] = []
        accepted: list[_Accepted] = []
        person: dict[str, Any] | None = None  # the traits, read once if a submit needs them

        def refuse(index: int, reason: str, experience_id: str | None) -> None:
            answer.refused.append({"index": index, "reason": reason})
            refusals.append((experience_id or "", reason))

        for index, reported in enumerate(request.events):
            checked = verify(key, request.workspace_id, reported.token, visitor, now_ms / 1000)
            if isinstance(checked, Refused):
                claims = checked.claims
                refuse(index, checked.reason, claims.experience_id if claims else None)
                continue
            experience = next(
                (
                    e.experience
                    for e in live.by_placement.get(checked.placement, [])
                    if e.experience.id == checked.experience_id
                ),
                None,
            )
            event = FEEDBACK_EVENTS[reported.type]
            target = clicked(reported)
            # A click names what was clicked: two cards of one block are two clicks, the same
            # card reported twice is a replay.
            base = message_id("dec", fingerprint(reported.token), reported.type, *target.values())
            properties = {
                "decision_id": checked.decision_id,
                "placement": checked.placement,
                "experience_id": checked.experience_id,
                "variant_id": checked.variant_id,
                **target,
            }
            messages = [system_message(request.identity, event, base, properties, now_ms)]
            item = _Accepted(index, checked, reported, messages, experience)
            if reported.type == "submit":
                if person is None:
                    person = await self._traits(request)
                try:
                    self._submitted(item, request.identity, person, base, now_ms)
                except Submitted as refused:
                    refuse(index, refused.reason, checked.experience_id)
                    continue
            accepted.append(item)
        results = await asyncio.gather(
            *(
                self.writer.submit(IngestJob(request.workspace_id, item.messages, []))
                for item in accepted
            )
        )
        stored: list[_Accepted] = []
        for item, result in zip(accepted, results, strict=True):
            if result.duplicates:
                refuse(item.index, REPLAYED, item.claims.experience_id)
            else:
                stored.append(item)
        answer.accepted = len(stored)
        answer.refused.sort(key=lambda r: int(r["index"]))
        if refusals:
            await asyncio.to_thread(self.exposures.refused, request.workspace_id, refusals, now_ms)
        await self._count_impressions(request, stored, now_ms)
        quiz = next((i for i in reversed(stored) if i.quiz is not None), None)
        if quiz is not None:
            answer.recommendations = await self._quiz_block(request, quiz, now_ms)
        return answer

    async def _traits(self, request: FeedbackRequest) -> dict[str, Any]:
        found = await self.audiences.store.person_awaited(request.workspace_id, *request.identity)
        return {} if found is None else dict(found[0].traits)

    def _submitted(
        self,
        item: _Accepted,
        identity: Identity,
        traits: dict[str, Any],
        base: str,
        now_ms: int,
    ) -> None:
        """Adds the identify message of what the visitor told (raises Submitted if the
        variant asks nothing, or not this)."""
        variant = _variant(item.experience, item.claims.variant_id)
        form = None if variant is None else variant.interactive
        if form is None:
            raise Submitted(NOT_INTERACTIVE)
        given = item.reported.properties
        told = message_id(base, "told")
        preferences = dict(traits.get("preferences") or {})
        if isinstance(form, EmailCapture):
            email = normalise_email(given.get("email"))
            consent = given.get("consent")
            if email is None or not isinstance(consent, bool):
                raise Submitted(INVALID_SUBMIT)
            message = system_message(identity, "", told, {}, now_ms, traits={"email": email})
            # The address is what a browser key's identify makes of it: a claim, never linked.
            payload = {
                **message.payload,
                "context": {
                    **(message.payload.get("context") or {}),
                    "consent": {"categoryPreferences": {form.consent: consent}},
                },
            }
            claim = Claim(EMAIL, email, "unverified")
            item.messages.append(_with(message, payload, [identity], (claim,)))
            return
        if isinstance(form, SelfSelection):
            value = given.get("value")
            if not any(o.value == value for o in form.options):
                raise Submitted(INVALID_SUBMIT)
            preferences[form.trait] = value
        elif isinstance(form, Quiz):
            raw = given.get("answers")
            answers = quiz_answers(form, raw) if isinstance(raw, dict) else {}
            if not answers or len(answers) != len(raw or {}):
                raise Submitted(INVALID_SUBMIT)
            preferences.update(answers)
            item.quiz = (form, answers)
        traits["preferences"] = preferences
        message = system_message(
            identity, "", told, {}, now_ms, traits={"preferences": preferences}
        )
        item.messages.append(message)

    async def _count_impressions(
        self, request: FeedbackRequest, stored: Sequence[_Accepted], now_ms: int
    ) -> None:
        """An experience armed by a browser trigger counts toward its caps when it shows."""
        shown = [
            i.experience.id
            for i in stored
            if i.reported.type == "impression"
            and i.experience is not None
            and is_browser_trigger(i.experience.trigger)
            and caps_of(i.experience).any
        ]
        if not shown:
            return
        found = await self.audiences.store.person_awaited(request.workspace_id, *request.identity)
        profile_id = None if found is None else found[0].profile_id
        computed = {} if found is None else found[0].computed
        keys = visitor_keys(self.token_key(request.workspace_id), request.identity, profile_id)
        await self.recorder.written(request.workspace_id, keys)
        rows = await self.exposures.counts_awaited(request.workspace_id, keys)
        timeout = self.audiences.rules.session_timeout_ms
        session = frequency.current_session(
            computed, [r for found_rows in rows.values() for r in found_rows], now_ms, timeout
        )
        exposure = Exposure(request.workspace_id, keys[0], tuple(shown), now_ms,
                            frequency.today(now_ms), session)  # fmt: skip
        self.recorder.record(exposure)

    async def _quiz_block(
        self, request: FeedbackRequest, item: _Accepted, now_ms: int
    ) -> dict[str, Any] | None:
        assert item.quiz is not None
        quiz, answers = item.quiz
        block_request = BlockRequest(
            request.workspace_id,
            request.identity,
            None,
            (),
            now_ms,
            request.browser,
            await self.blocks.signals(request.workspace_id, request.identity),
            None,  # the rules' audiences are judged by the recommendations themselves
        )
        try:
            block = self.blocks.answer(
                block_request, quiz.recommendations, item.claims.placement, (quiz, answers)
            )
        except Exception:
            log.exception("a quiz's recommendations failed")
            return None
        return block.view(self.blocks.cards(request.workspace_id, [block]))


def _with(
    message: TrackedMessage,
    payload: dict[str, Any],
    identities: list[Identity],
    claims: tuple[Claim, ...],
) -> TrackedMessage:
    return dataclasses.replace(
        message,
        payload=payload,
        payload_json=EncodedJson(orjson.dumps(payload).decode()),
        identities=identities,
        claims=claims,
        trusted=False,
    )
