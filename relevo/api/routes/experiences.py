"""Placements and experiences (secret key): create, list, read, replace, delete, and the
errors decisions met trying an experience. Validated when saved (relevo.experiences.model):
a refused one is a 400 whose message names the part."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query

from relevo.api.auth import SecretWorkspace
from relevo.api.deps import ServicesDep
from relevo.api.responses import JSON
from relevo.api.segment_schema import error_responses
from relevo.errors import RelevoError
from relevo.experiences.model import stored
from relevo.profiles.view import iso

placements_router = APIRouter(prefix="/v1/placements", tags=["experiences"])
router = APIRouter(prefix="/v1/experiences", tags=["experiences"])

_RESPONSES = error_responses(
    {
        400: "A definition that does not validate: the message names the part (an unknown "
        "audience or placement, a template that does not compile, a bad URL pattern...)",
        401: "Missing or unknown secret key",
        403: "A write key: placements and experiences are changed with the secret key",
    }
)
_PLACEMENT = {**_RESPONSES, **error_responses({404: "No placement with this id"})}
_EXPERIENCE = {**_RESPONSES, **error_responses({404: "No experience with this id"})}
ItemId = Annotated[str, Path(max_length=64, description="The id")]

_PLACEMENT_EXAMPLE = {
    "id": "pdp-similar",
    "name": "Product page: similar items",
    "kind": "recommendations",
    "selector": "#similar",
    "recommendations": {"strategy": "similar", "count": 4},
}
_EXPERIENCE_EXAMPLE = {
    "id": "loyalty-offer",
    "name": "Loyalty offer",
    "placement": "home-hero",
    "audience": "repeat-customer",
    "priority": 10,
    "frequency": {"per_session": 1},
    "label": "Picked for you",
    "variants": [
        {
            "id": "a",
            "content": {"headline": "10% off your next order"},
            "template": "<h2>{{ content.headline }}</h2>",
        }
    ],
}
PlacementBody = Annotated[
    dict[str, Any],
    Body(
        description="A placement: id, name, kind, channel, selector, mode, default, "
        "recommendations (README, Experiences)",
        examples=[_PLACEMENT_EXAMPLE],
    ),
]
ExperienceBody = Annotated[
    dict[str, Any],
    Body(
        description="An experience: id, placement, audience or condition, trigger, frequency, "
        "schedule, priority, label, variants (README, Experiences)",
        examples=[_EXPERIENCE_EXAMPLE],
    ),
]


def _same_id(body: dict[str, Any], path_id: str) -> dict[str, Any]:
    """A PUT's body may leave its id out; if given, it is the path's."""
    if body.get("id", path_id) != path_id:
        raise RelevoError(f"id: the body says {body.get('id')!r}, the path {path_id!r}")
    return {**body, "id": path_id}


# -- placements ---------------------------------------------------------------------------------


@placements_router.post(
    "",
    status_code=201,
    responses={**_RESPONSES, **error_responses({409: "A placement with this id exists"})},
    summary="Create a placement",
)
def create_placement(
    body: PlacementBody, workspace: SecretWorkspace, services: ServicesDep
) -> JSON:
    placement, _ = services.experiences.save_placement(workspace.id, body, replace=False)
    return JSON(stored(placement), status_code=201)


@placements_router.get("", responses=_RESPONSES, summary="The workspace's placements")
def list_placements(workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    return JSON({"placements": [stored(p) for p in services.experiences.placements(workspace.id)]})


@placements_router.get("/{placement_id}", responses=_PLACEMENT, summary="One placement")
def get_placement(placement_id: ItemId, workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    return JSON(stored(services.experiences.placement(workspace.id, placement_id)))


@placements_router.put("/{placement_id}", responses=_PLACEMENT, summary="Replace a placement")
def replace_placement(
    placement_id: ItemId, body: PlacementBody, workspace: SecretWorkspace, services: ServicesDep
) -> JSON:
    placement, _ = services.experiences.save_placement(
        workspace.id, _same_id(body, placement_id), create=False
    )
    return JSON(stored(placement))


@placements_router.delete(
    "/{placement_id}",
    responses={
        **_PLACEMENT,
        **error_responses({409: "Experiences fill it: the answer lists them"}),
    },
    summary="Delete a placement (refused while experiences fill it)",
)
def delete_placement(
    placement_id: ItemId, workspace: SecretWorkspace, services: ServicesDep
) -> JSON:
    services.experiences.delete_placement(workspace.id, placement_id)
    return JSON({"deleted": placement_id})


# -- experiences --------------------------------------------------------------------------------


@router.post(
    "",
    status_code=201,
    responses={**_RESPONSES, **error_responses({409: "An experience with this id exists"})},
    summary="Create an experience",
)
def create_experience(
    body: ExperienceBody, workspace: SecretWorkspace, services: ServicesDep
) -> JSON:
    experience, _ = services.experiences.save_experience(workspace.id, body, replace=False)
    return JSON(stored(experience), status_code=201)


@router.get("", responses=_RESPONSES, summary="The workspace's experiences")
def list_experiences(
    workspace: SecretWorkspace,
    services: ServicesDep,
    placement: Annotated[str | None, Query(max_length=64, description="Only this one's")] = None,
) -> JSON:
    found = services.experiences.experiences(workspace.id)
    if placement is not None:
        found = [e for e in found if e.placement == placement]
    return JSON({"experiences": [stored(e) for e in found]})


@router.get("/{experience_id}", responses=_EXPERIENCE, summary="One experience")
def get_experience(
    experience_id: ItemId, workspace: SecretWorkspace, services: ServicesDep
) -> JSON:
    return JSON(stored(services.experiences.experience(workspace.id, experience_id)))


@router.put("/{experience_id}", responses=_EXPERIENCE, summary="Replace an experience")
def replace_experience(
    experience_id: ItemId, body: ExperienceBody, workspace: SecretWorkspace, services: ServicesDep
) -> JSON:
    experience, _ = services.experiences.save_experience(
        workspace.id, _same_id(body, experience_id), create=False
    )
    return JSON(stored(experience))


@router.delete("/{experience_id}", responses=_EXPERIENCE, summary="Delete an experience")
def delete_experience(
    experience_id: ItemId, workspace: SecretWorkspace, services: ServicesDep
) -> JSON:
    services.experiences.delete_experience(workspace.id, experience_id)
    return JSON({"deleted": experience_id})


@router.get(
    "/{experience_id}/errors",
    responses=_EXPERIENCE,
    summary="What went wrong when decisions tried it (newest first): the decision fell back",
)
def experience_errors(
    experience_id: ItemId,
    workspace: SecretWorkspace,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> JSON:
    rows = services.experiences.errors(
        workspace.id, experience_id, limit, int(cursor) if cursor else None
    )
    return JSON(
        {
            "errors": [
                {
                    "variant": r["variant_id"],
                    "placement": r["placement_id"],
                    "code": r["code"],
                    "message": r["message"],
                    "at": iso(r["created_at"]),
                }
                for r in rows
            ],
            "next_cursor": str(rows[-1]["id"]) if len(rows) == limit else None,
        }
    )
