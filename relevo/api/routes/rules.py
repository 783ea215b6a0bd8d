"""Merchandising rules (secret key): create, list, read, replace, delete. A rule is validated
when saved (relevo.rules.model); a refused one is a 400 whose message names the field."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path

from relevo.api.auth import SecretWorkspace
from relevo.api.deps import ServicesDep
from relevo.api.responses import JSON
from relevo.api.segment_schema import error_responses
from relevo.errors import NotFound, RelevoError
from relevo.recs.strategies import STRATEGIES
from relevo.rules.model import Rule, parse_rule
from relevo.services import Services

router = APIRouter(prefix="/v1/rules", tags=["rules"])

_RESPONSES = error_responses(
    {
        400: "A rule that does not validate: the message names the field",
        401: "Missing or unknown secret key",
        403: "A write key: rules are read and changed with the secret key",
    }
)
_ONE = {**_RESPONSES, **error_responses({404: "No rule with this id"})}
RuleBody = Annotated[
    dict[str, Any],
    Body(
        description="A rule: id, kind (filter, boost, bury, pin, diversity, brand_conflict) "
        "and the kind's fields; scope, priority, schedule, audience, enabled (README, "
        "Merchandising rules)",
        examples=[
            {
                "id": "sale-only",
                "kind": "filter",
                "mode": "include",
                "condition": {"field": "on_sale", "op": "eq", "value": True},
            }
        ],
    ),
]
RuleId = Annotated[str, Path(max_length=64, description="The rule's id")]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _changed(services: Services, workspace_id: int) -> None:
    """This worker sees the change on its next request; the others within a second."""
    if services.recommendations.rules is not None:
        services.recommendations.rules.invalidate(workspace_id)


def _parsed(body: dict[str, Any]) -> tuple[Rule, dict[str, Any]]:
    rule = parse_rule(body, strategies=STRATEGIES)
    # Stored as validated (defaults filled in), so every server reads the same rule.
    return rule, rule.model_dump(mode="json", by_alias=True, exclude_none=True)


@router.post(
    "",
    status_code=201,
    responses={**_RESPONSES, **error_responses({409: "A rule with this id exists"})},
    summary="Create a merchandising rule",
)
def create_rule(body: RuleBody, workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    rule, definition = _parsed(body)
    services.merchandising.create(workspace.id, rule.id, definition, rule.audience, _now_ms())
    _changed(services, workspace.id)
    return JSON(services.merchandising.get(workspace.id, rule.id), status_code=201)


@router.get("", responses=_RESPONSES, summary="The workspace's merchandising rules")
def list_rules(workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    return JSON({"rules": services.merchandising.all(workspace.id)})


@router.get("/{rule_id}", responses=_ONE, summary="One merchandising rule")
def get_rule(rule_id: RuleId, workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    rule = services.merchandising.get(workspace.id, rule_id)
    if rule is None:
        raise NotFound(f"no rule {rule_id!r} in this workspace")
    return JSON(rule)


@router.put("/{rule_id}", responses=_ONE, summary="Replace a merchandising rule")
def replace_rule(
    rule_id: RuleId, body: RuleBody, workspace: SecretWorkspace, services: ServicesDep
) -> JSON:
    """The body is the whole rule; its `id` may be left out, and if given is the path's."""
    if body.get("id", rule_id) != rule_id:
        raise RelevoError(f"id: the body says {body.get('id')!r}, the path {rule_id!r}")
    rule, definition = _parsed({**body, "id": rule_id})
    services.merchandising.replace(workspace.id, rule.id, definition, rule.audience, _now_ms())
    _changed(services, workspace.id)
    return JSON(services.merchandising.get(workspace.id, rule.id))


@router.delete("/{rule_id}", responses=_ONE, summary="Delete a merchandising rule")
def delete_rule(rule_id: RuleId, workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    services.merchandising.delete(workspace.id, rule_id)
    _changed(services, workspace.id)
    return JSON({"deleted": rule_id})
