"""Experiments as a shop saves them, validated when saved (``parse_experiment``): a refused one
is a 400 whose message names the part (``variations[1].variant: no variant 'c' in ...``).

An experiment tests an experience's variants, or a recommendation placement's settings:

    {"id": "hero-copy", "name": "Hero copy",
     "hypothesis": {"what": "a loyalty headline", "who": "repeat customers",
                    "why": "they respond to recognition more than to discounts"},
     "kind": "experience", "experience": "loyalty-offer",
     "variations": [{"id": "control", "variant": null},
                    {"id": "b", "variant": "a", "weight": 1}],
     "goals": [{"id": "orders", "event": "Order Completed", "metric": "conversion"}]}

``variant: null`` is the control "without this experience": the placement falls through to its
next experience or its default. A placement experiment's variations each carry a
``recommendations`` block (strategy, count, rules) that overrides the placement's own, or null
(the placement as set). The workspace's global holdout (``HOLDOUT_ID``, kind ``holdout``) is
set by ``PUT /v1/holdout``, never here.

The state (status, winner, started_at, stopped_at) belongs to the server: POST and PUT cannot
set it (relevo.experiments.service).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from relevo.errors import RelevoError
from relevo.experiences.model import ID, Experience, Placement, RecommendationBlock

HOLDOUT_ID = "global-holdout"
HOLDOUT_VARIATION = "holdout"  # never personalized: placement defaults only
PERSONALIZED_VARIATION = "personalized"
MAX_HOLDOUT_SHARE = 0.5
MAX_VARIATIONS = 20
MAX_GOALS = 20
VARIATION_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
Kind = Literal["experience", "placement", "holdout"]
Status = Literal["draft", "running", "stopped", "shipped"]
Dimension = Literal["device", "source", "visitor_type", "segment", "audience"]
DIMENSIONS: tuple[Dimension, ...] = ("device", "source", "visitor_type", "segment", "audience")
# What decides who sees what: fixed once an experiment has started, so its results compare
# like with like (names, hypothesis, goals and analysis settings may still change).
ASSIGNING_FIELDS = (
    "kind", "experience", "placement", "variations", "control", "coverage", "seed",
    "hash_version", "allocation",
)  # fmt: skip

_Text = Annotated[str, Field(min_length=1, max_length=1000)]
_Name = Annotated[str, Field(min_length=1, max_length=200)]
_Property = Annotated[str, Field(min_length=1, max_length=255)]


class InvalidExperiment(RelevoError):
    code = "invalid_experiment"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hypothesis(_Strict):
    what: _Text  # what changes
    who: _Text  # for whom
    why: _Text  # why it should work

    @field_validator("what", "who", "why")
    @classmethod
    def _said(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("say it in words: blank text is no hypothesis")
        return text


class Variation(_Strict):
    id: str = Field(pattern=VARIATION_ID)
    name: str = Field("", max_length=200)
    weight: float = Field(1.0, ge=0, le=1e6)
    variant: str | None = Field(None, pattern=VARIATION_ID)  # kind experience; None: control
    recommendations: RecommendationBlock | None = None  # kind placement; None: as placed
    # kind placement: false answers the block without the workspace's merchandising rules
    # (a "rules off" arm; a B2B account's assortment still applies: it is a contract).
    merchandising: bool = True


class Allocation(_Strict):
    mode: Literal["fixed", "thompson"] = "fixed"
    min_share: float = Field(0.05, ge=0, le=0.5)  # thompson: no arm starves below this
    burn_in: int = Field(500, ge=0, le=10_000_000)  # units per arm before adapting
    goal: str | None = Field(None, pattern=ID)  # what thompson optimises; None: the primary


class Denominator(_Strict):
    event: _Name
    property: _Property | None = None  # None: count the events


class Goal(_Strict):
    id: str = Field(pattern=ID)
    name: str = Field("", max_length=200)
    event: _Name  # e.g. "Order Completed"
    metric: Literal["conversion", "revenue", "aov", "ratio"] = "conversion"
    property: _Property | None = None  # the numerator of revenue, aov and ratio
    denominator: Denominator | None = None  # ratio only
    window_hours: float = Field(72, gt=0, le=24 * 366)  # attribution after first exposure

    @model_validator(mode="after")
    def _metric_parts(self) -> Goal:
        if self.metric == "conversion" and self.property is not None:
            raise ValueError(
                "property: a conversion goal counts who did the event; revenue, aov and "
                "ratio read a property"
            )
        if self.metric in ("revenue", "aov") and self.property is None:
            return self.model_copy(update={"property": "revenue"})  # the Segment spec's field
        if self.metric == "ratio" and self.denominator is None:
            raise ValueError("denominator: a ratio goal divides by {event, property}")
        if self.metric != "ratio" and self.denominator is not None:
            raise ValueError("denominator: only a ratio goal has one")
        return self


class Analysis(_Strict):
    alpha: float = Field(0.05, gt=0, lt=0.5)
    cuped_days: int = Field(7, ge=0, le=90)  # pre-exposure window; 0: no CUPED
    sequential_tuning: float = Field(5000, gt=0, le=1e9)  # the confidence sequence's tuning
    dimensions: list[Dimension] = Field(default_factory=lambda: list(DIMENSIONS))

    @field_validator("dimensions")
    @classmethod
    def _once_each(cls, dimensions: list[Dimension]) -> list[Dimension]:
        return list(dict.fromkeys(dimensions))


class Experiment(_Strict):
    id: str = Field(pattern=ID)
    name: _Name
    description: str = Field("", max_length=2000)
    hypothesis: Hypothesis
    kind: Kind
    experience: str | None = Field(None, pattern=ID)
    placement: str | None = Field(None, pattern=ID)
    variations: list[Variation] = Field(min_length=2, max_length=MAX_VARIATIONS)
    control: str | None = None  # a variation id; None: the first
    coverage: float = Field(1.0, gt=0, le=1)
    seed: str | None = Field(None, min_length=1, max_length=255)  # None: the id
    hash_version: Literal[1, 2] = 2
    allocation: Allocation = Allocation()
    goals: list[Goal] = Field(min_length=1, max_length=MAX_GOALS)  # the first is primary
    guardrails: list[Goal] = Field(default_factory=list, max_length=MAX_GOALS)
    analysis: Analysis = Analysis()

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        ids = [v.id for v in self.variations]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"variations: ids repeat: {', '.join(repeated)}")
        if sum(v.weight for v in self.variations) <= 0:
            raise ValueError("variations: the weights sum to 0; give some arm a weight")
        if self.control is not None and self.control not in ids:
            raise ValueError(f"control: no variation {self.control!r} (one of {', '.join(ids)})")
        _check_subject(self)
        goal_ids = [g.id for g in (*self.goals, *self.guardrails)]
        repeated = sorted({i for i in goal_ids if goal_ids.count(i) > 1})
        if repeated:
            raise ValueError(
                f"goals: ids repeat across goals and guardrails: {', '.join(repeated)}"
            )
        allocation = self.allocation
        if allocation.goal is not None and allocation.goal not in goal_ids:
            raise ValueError(
                f"allocation.goal: no goal {allocation.goal!r} (one of the goals' ids)"
            )
        if allocation.mode == "thompson":
            if self.kind == "holdout":
                raise ValueError("allocation.mode: the holdout's split is fixed")
            if allocation.min_share * len(self.variations) > 1:
                raise ValueError(
                    f"allocation.min_share: {len(self.variations)} arms cannot each keep "
                    f"{allocation.min_share}"
                )
        filled = {
            "control": self.control or ids[0],
            "seed": self.seed or self.id,
            "allocation": allocation
            if allocation.mode == "fixed" or allocation.goal is not None
            else allocation.model_copy(update={"goal": self.goals[0].id}),
        }
        return self.model_copy(update=filled)

    @property
    def subject(self) -> str | None:
        """The experience or placement tested (None: the holdout)."""
        return self.experience if self.kind == "experience" else self.placement

    def variation(self, variation_id: str) -> Variation | None:
        return next((v for v in self.variations if v.id == variation_id), None)


def _check_subject(experiment: Experiment) -> None:
    kind = experiment.kind
    variations = experiment.variations
    if kind == "experience":
        if experiment.experience is None:
            raise ValueError("experience: the id of the experience whose variants are tested")
        if experiment.placement is not None:
            raise ValueError("placement: an experience experiment names its experience only")
        for number, v in enumerate(variations):
            if v.recommendations is not None or not v.merchandising:
                part = "recommendations" if v.recommendations is not None else "merchandising"
                raise ValueError(
                    f"variations[{number}].{part}: an experience's variations name "
                    "a variant (or null for the control); recommendations and merchandising "
                    "are a placement experiment's"
                )
    elif kind == "placement":
        if experiment.placement is None:
            raise ValueError("placement: the id of the recommendation placement tested")
        if experiment.experience is not None:
            raise ValueError("experience: a placement experiment names its placement only")
        for number, v in enumerate(variations):
            if v.variant is not None:
                raise ValueError(
                    f"variations[{number}].variant: a placement's variations carry "
                    "recommendations (or null: the placement's own); variants are an "
                    "experience experiment's"
                )
    else:
        if experiment.id != HOLDOUT_ID:
            raise ValueError(f"kind: the one holdout is {HOLDOUT_ID!r}, set by PUT /v1/holdout")
        if experiment.experience is not None or experiment.placement is not None:
            raise ValueError("kind: the holdout tests the whole programme, no one subject")
        if [v.id for v in variations] != [HOLDOUT_VARIATION, PERSONALIZED_VARIATION]:
            raise ValueError(f"variations: {HOLDOUT_VARIATION!r}, then {PERSONALIZED_VARIATION!r}")


_EXPERIMENT: TypeAdapter[Experiment] = TypeAdapter(Experiment)


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False)[:3]:
        where = _path(item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        # A model's own check names its part ("control: ..."), below where the model sits.
        part = _PART.match(message)
        if part and where:
            problems.append(f"{where}.{message}")
        else:
            problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems) or "body: not an experiment"


_PART = re.compile(r"^[a-z_]+(\[\d+\])?(\.[a-z_]+)*: ")


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def validate_experiment(data: Any) -> Experiment:
    """The definition alone, checked and with its defaults filled in."""
    if not isinstance(data, dict):
        raise InvalidExperiment("body: an experiment is a JSON object")
    try:
        return _EXPERIMENT.validate_python(data)
    except ValidationError as error:
        raise InvalidExperiment(_describe(error)) from None


def parse_experiment(
    data: Any,
    *,
    experiences: Mapping[str, Experience],
    placements: Mapping[str, Placement],
    strategies: Collection[str],
    audiences: Collection[str],
) -> Experiment:
    """A validated experiment whose references exist in the workspace: the experience and its
    variants, the recommendation placement, the strategies and audiences its blocks name."""
    experiment = validate_experiment(data)
    check_references(
        experiment, experiences=experiences, placements=placements, strategies=strategies,
        audiences=audiences,
    )  # fmt: skip
    return experiment


def check_references(
    experiment: Experiment,
    *,
    experiences: Mapping[str, Experience],
    placements: Mapping[str, Placement],
    strategies: Collection[str],
    audiences: Collection[str],
) -> None:
    if experiment.kind == "experience":
        assert experiment.experience is not None
        experience = experiences.get(experiment.experience)
        if experience is None:
            raise InvalidExperiment(
                f"experience: no experience {experiment.experience!r} in this workspace "
                "(GET /v1/experiences lists them)"
            )
        variants = [v.id for v in experience.variants]
        for number, variation in enumerate(experiment.variations):
            if variation.variant is not None and variation.variant not in variants:
                raise InvalidExperiment(
                    f"variations[{number}].variant: no variant {variation.variant!r} in "
                    f"experience {experience.id!r} (its variants: {', '.join(variants)})"
                )
    elif experiment.kind == "placement":
        assert experiment.placement is not None
        placement = placements.get(experiment.placement)
        if placement is None:
            raise InvalidExperiment(
                f"placement: no placement {experiment.placement!r} in this workspace "
                "(GET /v1/placements lists them)"
            )
        if placement.kind != "recommendations":
            raise InvalidExperiment(
                f"placement: {placement.id!r} is a {placement.kind} placement; a placement "
                "experiment tests a recommendations one (experience experiments test the rest)"
            )
        for number, variation in enumerate(experiment.variations):
            block = variation.recommendations
            if block is None:
                continue
            where = f"variations[{number}].recommendations"
            if block.strategy not in strategies:
                raise InvalidExperiment(
                    f"{where}.strategy: unknown strategy {block.strategy!r}; available: "
                    f"{', '.join(sorted(strategies))}"
                )
            if block.audience is not None and block.audience not in audiences:
                raise InvalidExperiment(f"{where}.audience: no audience {block.audience!r}")


def holdout_definition(
    share: float, seed: str | None, goals: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """The global holdout as an experiment: ``share`` of visitors never personalized."""
    return {
        "id": HOLDOUT_ID,
        "name": "Global holdout",
        "hypothesis": {
            "what": "personalization as a whole: experiences, recommendations, rules",
            "who": "every visitor",
            "why": "the programme's cumulative impact, measured against visitors who only "
            "ever see the placements' defaults",
        },
        "kind": "holdout",
        "variations": [
            {"id": HOLDOUT_VARIATION, "name": "Holdout", "weight": share},
            {"id": PERSONALIZED_VARIATION, "name": "Personalized", "weight": 1 - share},
        ],
        "control": HOLDOUT_VARIATION,
        "seed": seed,
        "goals": goals
        or [{"id": "revenue", "name": "Revenue per visitor", "event": "Order Completed",
             "metric": "revenue", "property": "revenue"}],
    }  # fmt: skip


def stored(experiment: Experiment) -> dict[str, Any]:
    """As saved: validated, defaults filled in, so every server reads the same definition."""
    return experiment.model_dump(mode="json", exclude_none=False)
