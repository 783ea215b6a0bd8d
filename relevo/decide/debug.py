"""What ``debug: true`` adds to a decision (secret key only): the audiences the visitor is in,
the triggers evaluated, the rules applied to each recommendation block, and why every other
experience lost (not eligible: which check and why; failed: the failure; or lower priority).
Pure: from the plans the engine filled."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relevo.decide.eligibility import Judged, VisitorState
from relevo.decide.engine import PlacementPlan


def debug_view(visitor: VisitorState, plans: Sequence[PlacementPlan]) -> dict[str, Any]:
    placements: dict[str, Any] = {}
    for plan in plans:
        filled = plan.filled
        assert filled is not None
        winner = filled.experience.id if filled.experience is not None else None
        failed = {j.experience.id: code for j, code in plan.tried}
        placements[plan.placement.id] = {
            "source": filled.source,
            "experience": winner,
            "experiences": [_why(j, winner, failed, plan.held_back) for j in plan.judged],
            "triggers": [
                {"experience": j.experience.id, "type": j.experience.trigger.type,
                 "fired": j.trigger.fired, "browser": j.trigger.browser, "why": j.trigger.why}
                for j in plan.judged
                if j.trigger is not None and j.experience.trigger is not None
            ],
            "recommendations": None if filled.block is None else filled.block.debug(),
            "experiments": [
                {"experiment": a.running.experiment.id, "variation": a.variation.id,
                 "sticky": a.sticky, "counted": a.exposed}
                for a in plan.arms
            ],
        }  # fmt: skip
    holdout = visitor.arms.holdout
    return {
        "holdout": None if holdout is None else holdout.variation.id,
        "visitor": {
            "profile_id": visitor.profile_id,
            "identity": visitor.identity[0],
            "session": visitor.session_key,
        },
        "audiences": [
            {"id": m.audience.id, "why": m.why} for m in visitor.memberships.values() if m.matched
        ],
        "placements": placements,
    }


def _why(
    judged: Judged, winner: str | None, failed: dict[str, str], held_back: Sequence[str]
) -> dict[str, Any]:
    experience = judged.experience
    found: dict[str, Any] = {"id": experience.id, "priority": experience.priority}
    failed_check = judged.failed
    if experience.id == winner:
        found.update(outcome="chosen", why="the highest-priority eligible experience")
    elif experience.id in held_back:
        found.update(outcome="held_back", why="its experiment's control: shown without it")
    elif failed_check is not None:
        found.update(outcome="not_eligible", check=failed_check.name, why=failed_check.why)
    elif experience.id in failed:
        found.update(outcome="failed", why=failed[experience.id])
    elif winner is not None:
        found.update(outcome="lower_priority", why=f"{winner!r} is eligible and comes first")
    else:
        found.update(outcome="lower_priority", why="not reached")
    found["checks"] = [c.view() for c in judged.checks]
    return found
