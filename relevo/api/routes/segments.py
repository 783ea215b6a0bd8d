"""Segments API (secret key): the automatic segments of the model being served, with how they
were chosen, and how many profiles each holds now."""

from __future__ import annotations

from fastapi import APIRouter

from relevo.api.auth import SecretWorkspace
from relevo.api.deps import ServicesDep
from relevo.api.responses import JSON
from relevo.api.segment_schema import error_responses
from relevo.errors import NotFound
from relevo.jobs.segments import current_segments

router = APIRouter(prefix="/v1/segments", tags=["segments"])

_RESPONSES = error_responses(
    {
        401: "Missing or unknown secret key",
        403: "A write key: segments are read with the secret key",
        404: "No segments yet: `relevo train` has not found enough customers with an order",
    }
)


@router.get(
    "",
    responses=_RESPONSES,
    summary="The automatic segments: sizes, descriptions, typical customers, the criterion",
)
def list_segments(workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    """Customers with an order clustered on recency, frequency, monetary value and category
    shares by `relevo train`; `criterion` and `candidates` say how the number of segments was
    chosen (silhouette of every k tried), `size` is the customers of each at training and
    `profiles` how many profiles carry the segment now (conditions: `segment.id`,
    `segment.label`)."""
    model = current_segments(services, workspace.id)
    if model is None:
        raise NotFound(
            "no segments yet: run `relevo train` once at least 20 customers have ordered"
        )
    listing = model.as_dict()
    profiles = services.scores.segment_sizes(workspace.id)
    for segment in listing["segments"]:
        segment["profiles"] = profiles.get(segment["id"], 0)
    version = services.models.current_version(workspace.id)
    return JSON({"model_version": version, **listing})
