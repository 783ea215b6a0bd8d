"""Whether an experience may fill its placement for one visitor now, and why not: pure, over
the visitor as read once for the whole request (``VisitorState``).

Checks, in order (the first that fails decides, and the debug answer names it):

    holdout     the visitor is not in the global holdout (placement defaults only)
    status      the experience is active
    schedule    now is within its schedule
    audience    the visitor is in its audience (built-in or saved, judged once per request)
    condition   its inline condition holds on the document the audiences see (with the request
                context: ``context.*``)
    trigger     its server-side trigger fired (a browser trigger passes: the snippet arms it)
    frequency   under its caps per session / day / lifetime, and no order since the visitor
                first saw it when it stops after conversion
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from relevo.audiences.model import Membership
from relevo.conditions import Answer
from relevo.decide.arms import NO_ARMS, Arms
from relevo.decide.frequency import Caps, Seen, capped
from relevo.decide.triggers import TriggerOutcome, evaluate_trigger
from relevo.experiences.model import Experience
from relevo.experiences.service import LiveExperience
from relevo.identity.identities import Identity

NEVER_SEEN = Seen(0, 0, 0, None)


@dataclass(frozen=True)
class VisitorState:
    """One visitor as this request sees them: read once, shared by every placement."""

    identity: Identity  # what the decision is for (the token binds it)
    profile_id: int | None
    document: dict[str, Any]  # the audiences' document, with the request context
    computed: dict[str, Any]
    known: frozenset[str]  # the workspace's audiences, built-in and saved
    audience_ids: frozenset[str]  # those the visitor is in now
    answers: Mapping[str, Answer]  # the behaviour operators' answers ($event)
    now_ms: int
    session_key: int = 0
    exposures: Mapping[str, Seen] = field(default_factory=dict)
    # Every audience judged with its reason: only for debug (writing fifty reasons costs
    # more than judging them).
    memberships: Mapping[str, Membership] = field(default_factory=dict)
    arms: Arms = NO_ARMS  # the experiments this decision touches (relevo.decide.arms)


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    why: str

    def view(self) -> dict[str, Any]:
        return {"check": self.name, "passed": self.passed, "why": self.why}


@dataclass(frozen=True)
class Judged:
    experience: Experience
    checks: tuple[Check, ...]
    trigger: TriggerOutcome | None = None

    @property
    def eligible(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> Check | None:
        return next((c for c in self.checks if not c.passed), None)


def caps_of(experience: Experience) -> Caps:
    f = experience.frequency
    return Caps(f.per_session, f.per_day, f.lifetime, f.stop_after_conversion)


def judge(live: LiveExperience, visitor: VisitorState) -> Judged:
    """Never raises: a check that cannot be answered fails with the reason."""
    experience = live.experience
    checks: list[Check] = []

    def done(trigger: TriggerOutcome | None = None) -> Judged:
        return Judged(experience, tuple(checks), trigger)

    if visitor.arms.held_out:
        checks.append(Check("holdout", False, "the visitor is in the global holdout"))
        return done()
    if experience.status != "active":
        checks.append(Check("status", False, f"the experience is {experience.status}"))
        return done()
    starts, ends = experience.window_ms()
    if not starts <= visitor.now_ms < ends:
        checks.append(Check("schedule", False, "outside its schedule"))
        return done()
    if experience.audience is not None:
        if experience.audience not in visitor.known:
            checks.append(Check("audience", False, f"no audience {experience.audience!r} now"))
            return done()
        if experience.audience not in visitor.audience_ids:
            membership = visitor.memberships.get(experience.audience)
            why = f"not in {experience.audience!r}"
            if membership is not None:
                why += f": {membership.why}"
            checks.append(Check("audience", False, why))
            return done()
        checks.append(Check("audience", True, f"in {experience.audience!r}"))
    if live.condition is not None:
        try:
            outcome = live.condition.evaluate(visitor.document, extensions=visitor.answers)
            checks.append(Check("condition", outcome.matched, outcome.reason))
        except Exception as error:
            checks.append(Check("condition", False, f"could not be evaluated ({error})"))
        if not checks[-1].passed:
            return done()
    trigger = None
    if experience.trigger is not None:
        context = visitor.document.get("context") or {}
        trigger = evaluate_trigger(
            experience.trigger, context, visitor.document, visitor.answers, live.trigger_condition
        )
        checks.append(Check("trigger", trigger.fired, trigger.why))
        if not trigger.fired:
            return done(trigger)
    caps = caps_of(experience)
    if caps.any:
        seen = visitor.exposures.get(experience.id, NEVER_SEEN)
        cap = capped(caps, seen, visitor.computed.get("last_order_at"))
        checks.append(Check("frequency", cap is None, cap or "under its caps"))
    return done(trigger)
