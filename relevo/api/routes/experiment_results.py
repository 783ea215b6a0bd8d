"""Experiment results and the programme's ROI (secret key): GET /v1/experiments/{id}/results and
GET /v1/holdout/report. The analysis is relevo.experiments.analysis; this parses the period."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query

from relevo.api.auth import SecretWorkspace
from relevo.api.deps import ServicesDep
from relevo.api.responses import JSON
from relevo.api.segment_schema import error_responses
from relevo.experiments.analysis.data import Period
from relevo.experiments.analysis.service import ExperimentAnalysis, InvalidPeriod
from relevo.services import Services
from relevo.storage.experiment_data import ExperimentDataStore

router = APIRouter(tags=["experiments"])

_RESPONSES = error_responses(
    {
        400: "A period that does not parse or ends before it starts, or an unknown dimension",
        401: "Missing or unknown secret key",
        403: "A write key: results are read with the secret key",
    }
)
From = Annotated[
    str | None,
    Query(
        alias="from",
        description="Exposures from this date or time (ISO 8601; UTC unless it says), included",
        examples=["2025-01-01"],
    ),
]
To = Annotated[
    str | None,
    Query(alias="to", description="Exposures before this date or time (ISO 8601), excluded"),
]


def _instant(name: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidPeriod(
            f"{name}: {value!r} is not an ISO 8601 date or time (e.g. 2025-01-31 or "
            "2025-01-31T12:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


def period_of(start: str | None, end: str | None) -> Period:
    return Period(_instant("from", start), _instant("to", end))


def analysis(services: Services) -> ExperimentAnalysis:
    return ExperimentAnalysis(ExperimentDataStore(services.db))


@router.get(
    "/v1/experiments/{experiment_id}/results",
    responses={**_RESPONSES, **error_responses({404: "No experiment with this id"})},
    summary="An experiment's results",
    description="Per variation: units, each goal's and guardrail's value, the relative uplift "
    "against control with its confidence interval (Welch, delta method), the always-valid "
    "sequential interval, the chance to beat control and the risk (Bayesian), CUPED where "
    "pre-exposure data exists; the sample-ratio check (flagged at p < 0.001); the primary "
    "goal's cumulative uplift by exposure day; incremental revenue; with `dimension`, every "
    "goal broken down by it with Benjamini-Hochberg adjusted p-values.",
)
def experiment_results(
    experiment_id: Annotated[str, Path(max_length=64, description="The experiment's id")],
    workspace: SecretWorkspace,
    services: ServicesDep,
    start: From = None,
    end: To = None,
    dimension: Annotated[
        str | None,
        Query(description="device, source, visitor_type, segment or audience"),
    ] = None,
) -> JSON:
    found = analysis(services).results(
        workspace.id, experiment_id, period_of(start, end), dimension or None
    )
    return JSON(found.view())


@router.get(
    "/v1/holdout/report",
    responses={**_RESPONSES, **error_responses({404: "No global holdout in this workspace"})},
    summary="The personalization programme's ROI against the global holdout",
    description="Personalized visitors against the holdout over the period: units, the "
    "goals' uplift, and the incremental revenue (revenue-per-visitor difference times the "
    "personalized units) with its interval.",
)
def holdout_report(
    workspace: SecretWorkspace, services: ServicesDep, start: From = None, end: To = None
) -> JSON:
    return JSON(analysis(services).holdout_report(workspace.id, period_of(start, end)))
