"""Experiments and the global holdout (secret key): create, list, read, replace and delete
drafts; start, stop, ship a winner. Validated when saved (relevo.experiments.model): a refused
one is a 400 whose message names the part; a change the state forbids is a 409."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, ConfigDict, Field

from relevo.api.auth import SecretWorkspace
from relevo.api.deps import ServicesDep
from relevo.api.responses import JSON
from relevo.api.segment_schema import _inline_refs, error_responses
from relevo.errors import RelevoError
from relevo.experiments.model import MAX_HOLDOUT_SHARE, Experiment, Goal, Status
from relevo.experiments.service import ExperimentRecord, allocated_weights

router = APIRouter(prefix="/v1/experiments", tags=["experiments"])
holdout_router = APIRouter(prefix="/v1/holdout", tags=["experiments"])

_RESPONSES = error_responses(
    {
        400: "A definition that does not validate: the message names the part (an unknown "
        "experience, variant or placement, weights summing to 0, a state field in the body...)",
        401: "Missing or unknown secret key",
        403: "A write key: experiments are changed with the secret key",
    }
)
_ONE = {**_RESPONSES, **error_responses({404: "No experiment with this id"})}
_STATE = {
    **_ONE,
    **error_responses(
        {409: "The state forbids it: another experiment runs on the same experience or "
         "placement (named in `running`), or this one is shipped, or it never started"}
    ),
}  # fmt: skip
ExperimentId = Annotated[str, Path(max_length=64, description="The experiment's id")]


class ExperimentOut(Experiment):
    """An experiment as saved, with its state (set by start, stop and ship, never by a body)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    status: Status
    winner: str | None = Field(description="The variation shipped to everyone")
    started_at: str | None = Field(description="First start (ISO 8601)")
    stopped_at: str | None = Field(description="Stop or ship (ISO 8601)")
    created_at: str
    updated_at: str


class ExperimentList(BaseModel):
    experiments: list[ExperimentOut]


class ShipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    variation: str = Field(max_length=64, description="The winner: one of the variations' ids")


class HoldoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    share: float = Field(
        ge=0, le=MAX_HOLDOUT_SHARE, description="Visitors never personalized; 0 turns it off"
    )
    seed: str | None = Field(None, min_length=1, max_length=255, description="Default: kept")
    goals: list[Goal] | None = Field(None, description="Default: kept (first: revenue)")


class HoldoutOut(BaseModel):
    share: float
    seed: str | None
    status: Status | None
    started_at: str | None
    stopped_at: str | None
    goals: list[Goal]


_EXAMPLE = {
    "id": "hero-copy",
    "name": "Hero copy",
    "hypothesis": {
        "what": "a loyalty headline in the home hero",
        "who": "repeat customers",
        "why": "they respond to recognition more than to discounts",
    },
    "kind": "experience",
    "experience": "loyalty-offer",
    "variations": [
        {"id": "control", "name": "Without the offer", "variant": None},
        {"id": "offer", "name": "Loyalty offer", "variant": "a"},
    ],
    "goals": [{"id": "orders", "event": "Order Completed", "metric": "conversion"}],
}


def _body(description: str) -> dict[str, Any]:
    """The request body as OpenAPI shows it: the Experiment model (parsed by the service, so
    that a refusal names the part in the house's words)."""
    schema = _inline_refs(Experiment.model_json_schema())
    content = {"application/json": {"schema": schema, "example": _EXAMPLE}}
    return {"requestBody": {"required": True, "description": description, "content": content}}


# start and stop take nothing: documented as an optional empty object, which is what a client
# that always sends JSON sends.
_NO_BODY = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {"type": "object", "maxProperties": 0, "description": "Nothing"}
            }
        },
    }
}


def _answer(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"model": model, "description": description}


ExperimentBody = Annotated[dict[str, Any], Body()]


def _same_id(body: dict[str, Any], path_id: str) -> dict[str, Any]:
    """A PUT's body may leave its id out; if given, it is the path's."""
    if body.get("id", path_id) != path_id:
        raise RelevoError(f"id: the body says {body.get('id')!r}, the path {path_id!r}")
    return {**body, "id": path_id}


def _one(record: ExperimentRecord, status_code: int = 200) -> JSON:
    return JSON(record.as_json(), status_code=status_code)


@router.post(
    "",
    status_code=201,
    responses={
        201: _answer(ExperimentOut, "Created, as a draft"),
        **_RESPONSES,
        **error_responses({409: "An experiment with this id exists"}),
    },
    openapi_extra=_body("An experiment: hypothesis, kind, subject, variations, goals (README)"),
    summary="Create an experiment (a draft)",
)
def create_experiment(
    body: ExperimentBody, workspace: SecretWorkspace, services: ServicesDep
) -> JSON:
    record, _ = services.experiments.save(workspace.id, body, replace=False)
    return _one(record, 201)


@router.get(
    "",
    responses={200: _answer(ExperimentList, "Every experiment, by id"), **_RESPONSES},
    summary="The workspace's experiments (the global holdout among them)",
)
def list_experiments(workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    return JSON({"experiments": [r.as_json() for r in services.experiments.all(workspace.id)]})


@router.get(
    "/{experiment_id}",
    responses={200: _answer(ExperimentOut, "The experiment and its state"), **_ONE},
    summary="One experiment",
)
def get_experiment(
    experiment_id: ExperimentId, workspace: SecretWorkspace, services: ServicesDep
) -> JSON:
    return _one(services.experiments.get(workspace.id, experiment_id))


class AllocationOut(BaseModel):
    """An experiment's traffic weights now and, for a thompson one, the bandit's report."""

    model_config = ConfigDict(extra="allow")
    mode: str = Field(description="fixed | thompson")
    weights: dict[str, float] = Field(description="The weights new units are hashed onto")
    allocation: dict[str, Any] | None = Field(
        None, description="thompson: reason (burn_in | thompson), probability_best, units, at"
    )
    report: dict[str, Any] | None = Field(
        None, description="thompson: expected regret, best variant and its uplift with its CI"
    )


@router.get(
    "/{experiment_id}/allocation",
    responses={200: _answer(AllocationOut, "Weights now, and the bandit's report"), **_ONE},
    summary="An experiment's allocation: its weights now and (thompson) regret and uplift",
)
def get_allocation(
    experiment_id: ExperimentId, workspace: SecretWorkspace, services: ServicesDep
) -> JSON:
    record = services.experiments.get(workspace.id, experiment_id)
    experiment = record.experiment
    variations = [v.id for v in experiment.variations]
    # What decisions hash new units onto: a served experiment's allocated weights, if any.
    served = record.status in ("running", "shipped")
    weights = allocated_weights(record) if served else None
    saved = [v.weight for v in experiment.variations]
    shares = weights or tuple(w / sum(saved) for w in saved)
    thompson = experiment.allocation.mode == "thompson"
    return JSON(
        {
            "mode": experiment.allocation.mode,
            "weights": dict(zip(variations, shares, strict=True)),
            "allocation": record.allocation if thompson else None,
            "report": services.allocator().report(workspace.id, experiment)
            if thompson and record.started_at is not None
            else None,
        }
    )


@router.put(
    "/{experiment_id}",
    responses={200: _answer(ExperimentOut, "Replaced; its state unchanged"), **_STATE},
    openapi_extra=_body(
        "The whole experiment. Once started, what assigns visitors (kind, subject, "
        "variations, control, coverage, seed, hash_version, allocation) is fixed: 409"
    ),
    summary="Replace an experiment",
)
def replace_experiment(
    experiment_id: ExperimentId,
    body: ExperimentBody,
    workspace: SecretWorkspace,
    services: ServicesDep,
) -> JSON:
    record, _ = services.experiments.save(workspace.id, _same_id(body, experiment_id), create=False)
    return _one(record)


@router.delete(
    "/{experiment_id}",
    responses=_STATE,
    summary="Delete an experiment and its assignments (refused while it runs)",
)
def delete_experiment(
    experiment_id: ExperimentId, workspace: SecretWorkspace, services: ServicesDep
) -> JSON:
    gone = services.experiments.delete(workspace.id, experiment_id)
    return JSON({"deleted": experiment_id, "assignments": gone})


@router.post(
    "/{experiment_id}/start",
    openapi_extra=_NO_BODY,
    responses={200: _answer(ExperimentOut, "Running"), **_STATE},
    summary="Start (or resume) an experiment: one running experiment per experience/placement",
)
def start_experiment(
    experiment_id: ExperimentId, workspace: SecretWorkspace, services: ServicesDep
) -> JSON:
    return _one(services.experiments.start(workspace.id, experiment_id))


@router.post(
    "/{experiment_id}/stop",
    openapi_extra=_NO_BODY,
    responses={
        200: _answer(ExperimentOut, "Stopped: visitors see what they would without it"),
        **_STATE,
    },
    summary="Stop a running experiment",
)
def stop_experiment(
    experiment_id: ExperimentId, workspace: SecretWorkspace, services: ServicesDep
) -> JSON:
    return _one(services.experiments.stop(workspace.id, experiment_id))


@router.post(
    "/{experiment_id}/ship",
    responses={200: _answer(ExperimentOut, "Shipped: the winner serves every visitor"), **_STATE},
    summary="Ship a winner to every visitor",
)
def ship_experiment(
    experiment_id: ExperimentId,
    body: ShipIn,
    workspace: SecretWorkspace,
    services: ServicesDep,
) -> JSON:
    return _one(services.experiments.ship(workspace.id, experiment_id, body.variation))


def _holdout(services: ServicesDep, workspace_id: int) -> dict[str, Any]:
    record = services.experiments.holdout(workspace_id)
    if record is None:
        return {"share": 0.0, "seed": None, "status": None, "started_at": None,
                "stopped_at": None, "goals": []}  # fmt: skip
    shown = record.as_json()
    return {
        "share": record.experiment.variations[0].weight,
        "seed": record.experiment.seed,
        "status": record.status,
        "started_at": shown["started_at"],
        "stopped_at": shown["stopped_at"],
        "goals": shown["goals"],
    }


@holdout_router.get(
    "",
    responses={200: _answer(HoldoutOut, "The holdout (share 0: none)"), **_RESPONSES},
    summary="The global holdout: the share of visitors never personalized",
)
def get_holdout(workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    return JSON(_holdout(services, workspace.id))


@holdout_router.put(
    "",
    responses={200: _answer(HoldoutOut, "The holdout as set"), **_RESPONSES},
    summary="Set the global holdout's share (0 to 0.5; 0 turns it off)",
)
def put_holdout(body: HoldoutIn, workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    goals = None if body.goals is None else [g.model_dump(mode="json") for g in body.goals]
    services.experiments.set_holdout(workspace.id, body.share, body.seed, goals)
    return JSON(_holdout(services, workspace.id))
