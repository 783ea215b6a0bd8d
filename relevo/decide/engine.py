"""Choosing and rendering what fills each placement of one decision: the pure-ish core between
the visitor as read once (relevo.decide.visitor) and the answer.

Per placement, its experiences (highest priority first) are judged (relevo.decide.eligibility);
the first eligible one is tried: its variant chosen (relevo.decide.variants), its recommendation
block answered, its template rendered. A variant that fails (a template that raises, a block
that comes back empty, a strategy this server lacks) is recorded as an error of the experience
and the next eligible experience is tried, then the placement's default. Placements are tried
in rounds, so that every block of a round has its product cards from one catalog read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from relevo.decide.arms import Arm
from relevo.decide.blocks import Block, BlockRequest, Blocks, quiz_answers
from relevo.decide.eligibility import Judged, VisitorState
from relevo.decide.render import card, template_variables
from relevo.decide.variants import choose_variant
from relevo.errors import RelevoError
from relevo.experiences.model import (
    Experience,
    Placement,
    Quiz,
    RecommendationBlock,
    Variant,
    is_browser_trigger,
)
from relevo.experiences.templates import TemplateFailed, render

EXPERIENCE = "experience"
DEFAULT = "default"
EMPTY = "empty"
SERVER_RENDERED = ("receipt", "email")  # kinds whose answer always carries the HTML block

# The HTML block of a receipt or e-mail placement whose variant has no template of its own.
BLOCK_TEMPLATE = (
    '<div class="relevo-block relevo-{{ placement }}">'
    "{% if content.headline %}<h3>{{ content.headline }}</h3>{% endif %}"
    "{% if content.text %}<p>{{ content.text }}</p>{% endif %}"
    "{% if recommendations %}<ul>{% for p in recommendations %}<li>"
    '{% if p.url %}<a href="{{ p.url }}">{{ p.title or p.product_id }}</a>'
    "{% else %}{{ p.title or p.product_id }}{% endif %}"
    "{% if p.sale_price or p.price %} <span>{{ p.sale_price or p.price }}</span>{% endif %}"
    "</li>{% endfor %}</ul>{% endif %}</div>"
)


@dataclass(frozen=True)
class Failure:
    experience_id: str
    variant_id: str
    placement_id: str
    code: str
    message: str


@dataclass
class Attempt:
    """One try at filling a placement: an experience's variant, or the placement's default."""

    placement: Placement
    judged: Judged | None  # None: the default
    variant: Variant | None
    block: RecommendationBlock | None
    quiz: tuple[Quiz, dict[str, str]] | None = None
    answered: Block | None = None
    failure: tuple[str, str] | None = None  # (code, message)
    merchandising: bool = True  # False: a "rules off" arm answers without the workspace's rules


@dataclass
class Filled:
    placement: Placement
    source: str
    experience: Experience | None = None
    variant: Variant | None = None
    content: dict[str, Any] = field(default_factory=dict)
    html: str | None = None
    recommendations: dict[str, Any] | None = None
    block: Block | None = None
    trigger: Any = None  # a browser trigger to arm


@dataclass
class PlacementPlan:
    placement: Placement
    judged: list[Judged]
    candidates: Iterator[Judged]
    tried: list[tuple[Judged, str]] = field(default_factory=list)  # (judged, failure code)
    filled: Filled | None = None
    default_tried: bool = False
    arms: list[Arm] = field(default_factory=list)  # experiments reached: their exposures
    held_back: list[str] = field(
        default_factory=list
    )  # experiences an experiment's control skipped


def quiz_of(variant: Variant) -> Quiz | None:
    interactive = variant.interactive
    return interactive if isinstance(interactive, Quiz) else None


def _variant_of(judged: Judged, visitor: VisitorState, plan: PlacementPlan) -> Variant | None:
    """The variant the visitor sees of an eligible experience: its experiment's arm (None: the
    control, which holds the experience back), else the hash over the variants' weights."""
    experience = judged.experience
    arm = visitor.arms.by_experience.get(experience.id)
    if arm is not None:
        plan.arms.append(arm)
        wanted = arm.variation.variant
        if wanted is None:
            plan.held_back.append(experience.id)
            return None
        found = next((v for v in experience.variants if v.id == wanted), None)
        if found is not None:
            return found
    return choose_variant(
        experience.id, f"{visitor.identity[0]}:{visitor.identity[1]}", experience.variants
    )


def _attempt(plan: PlacementPlan, visitor: VisitorState) -> Attempt | None:
    """The next thing to try for the placement (None: it is filled, or nothing is left)."""
    if plan.filled is not None:
        return None
    for judged in plan.candidates:
        variant = _variant_of(judged, visitor, plan)
        if variant is None:
            continue
        quiz = quiz_of(variant)
        block = variant.recommendations
        answers: dict[str, str] = {}
        if quiz is not None:
            answers = quiz_answers(quiz, visitor.document.get("preferences") or {})
            if answers and block is None:
                block = quiz.recommendations  # answered: its block, by the answers
        attempt = Attempt(plan.placement, judged, variant, block)
        if quiz is not None and answers:
            attempt.quiz = (quiz, answers)
        return attempt
    if plan.default_tried:
        return None
    plan.default_tried = True
    block = plan.placement.recommendations
    arm = visitor.arms.by_placement.get(plan.placement.id)
    if arm is not None and block is not None:
        plan.arms.append(arm)  # a recommendation placement's settings under test
        block = arm.variation.recommendations or block
        return Attempt(plan.placement, None, None, block,
                       merchandising=arm.variation.merchandising)  # fmt: skip
    return Attempt(plan.placement, None, None, block)


class Engine:
    def __init__(self, blocks: Blocks) -> None:
        self.blocks = blocks

    def fill(
        self,
        plans: Sequence[PlacementPlan],
        visitor: VisitorState,
        request: BlockRequest,
        context: Mapping[str, Any],
    ) -> tuple[list[Failure], list[dict[str, Any]]]:
        """Fills every plan (``plan.filled``); returns the experiences' failures and the
        defaults' problems (as answer errors)."""
        failures: list[Failure] = []
        problems: list[dict[str, Any]] = []
        while True:
            attempts = [a for a in (_attempt(p, visitor) for p in plans) if a is not None]
            if not attempts:
                break
            for attempt in attempts:
                self._answer_block(attempt, request)
            answered = [a.answered for a in attempts if a.answered is not None]
            cards = self.blocks.cards(request.workspace_id, answered) if answered else {}
            for plan, attempt in self._by_plan(plans, attempts):
                filled = self._render(attempt, visitor, context, cards)
                if attempt.judged is None:
                    if attempt.failure is not None:
                        problems.append(
                            {
                                "placement": plan.placement.id,
                                "code": attempt.failure[0],
                                "message": attempt.failure[1],
                            }
                        )
                    plan.filled = filled or Filled(plan.placement, EMPTY)
                elif filled is not None:
                    plan.filled = filled
                else:
                    assert attempt.failure is not None and attempt.variant is not None
                    code, message = attempt.failure
                    plan.tried.append((attempt.judged, code))
                    failures.append(
                        Failure(
                            attempt.judged.experience.id,
                            attempt.variant.id,
                            plan.placement.id,
                            code,
                            message,
                        )
                    )
        return failures, problems

    @staticmethod
    def _by_plan(
        plans: Sequence[PlacementPlan], attempts: Sequence[Attempt]
    ) -> list[tuple[PlacementPlan, Attempt]]:
        by_id = {p.placement.id: p for p in plans}
        return [(by_id[a.placement.id], a) for a in attempts]

    def _answer_block(self, attempt: Attempt, request: BlockRequest) -> None:
        if attempt.block is None:
            return
        try:
            answered = self.blocks.answer(
                request, attempt.block, attempt.placement.id, attempt.quiz,
                merchandising=attempt.merchandising,
            )  # fmt: skip
        except RelevoError as error:
            attempt.failure = ("recommendations_failed", error.message)
            return
        except Exception as error:  # a decision never fails the page
            attempt.failure = ("recommendations_failed", f"{type(error).__name__}: {error}")
            return
        if not answered.outcome.items:
            why = "; ".join(f"{f['strategy']}: {f['why']}" for f in answered.outcome.fallbacks)
            attempt.failure = (
                "empty_recommendations",
                f"{attempt.block.strategy} recommended nothing" + (f" ({why})" if why else ""),
            )
            if attempt.judged is None:
                attempt.answered = None
            return
        attempt.answered = answered

    def _render(
        self,
        attempt: Attempt,
        visitor: VisitorState,
        context: Mapping[str, Any],
        cards: Mapping[str, dict[str, Any] | None],
    ) -> Filled | None:
        placement = attempt.placement
        if attempt.failure is not None and attempt.judged is not None:
            return None
        if attempt.judged is None:
            default = placement.default
            content = dict(default.content) if default is not None else {}
            template = default.template if default is not None else None
            if default is None and attempt.answered is None:
                return None  # nothing to show: the placement stays empty
        else:
            assert attempt.variant is not None
            content = dict(attempt.variant.content)
            template = attempt.variant.template
        recommendations = None
        shown: list[dict[str, Any]] = []
        if attempt.answered is not None:
            recommendations = attempt.answered.view(cards)
            shown = [card(i["product"], i["product_id"]) for i in recommendations["items"]]
        if template is None and placement.kind in SERVER_RENDERED:
            template = BLOCK_TEMPLATE
        html = None
        if template is not None:
            variables = template_variables(
                visitor.document, content, shown, visitor.document.get("context"), placement.id
            )
            try:
                html = render(template, variables)
            except TemplateFailed as error:
                if attempt.judged is not None:
                    attempt.failure = ("template_failed", str(error))
                    return None
                attempt.failure = ("default_template_failed", str(error))
        if attempt.judged is None:
            return Filled(
                placement, DEFAULT, content=content, html=html,
                recommendations=recommendations, block=attempt.answered,
            )  # fmt: skip
        experience = attempt.judged.experience
        trigger = experience.trigger if is_browser_trigger(experience.trigger) else None
        return Filled(
            placement, EXPERIENCE, experience, attempt.variant, content, html,
            recommendations, attempt.answered, trigger,
        )  # fmt: skip
