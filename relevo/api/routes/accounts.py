"""Accounts API (secret key): an account from Segment `group` calls, with its members; and its
B2B terms (an assortment, a price list) that its members' recommendations and cards obey."""

from __future__ import annotations

import csv
import io
import time
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from relevo.api.auth import SecretWorkspace
from relevo.api.deps import ServicesDep
from relevo.api.responses import JSON
from relevo.api.segment_schema import error_responses
from relevo.errors import NotFound, PayloadTooLarge, RelevoError
from relevo.profiles.accounts import MAX_GROUP_CALLS, MAX_MEMBERS, account_view
from relevo.rules.account_terms import (
    MAX_ASSORTMENT,
    MAX_CATEGORIES,
    MAX_PRICES,
    agreed_amount,
    prices_from_csv,
)
from relevo.rules.condition import category_path
from relevo.services import Services
from relevo.storable import replace_unstorable

_Model = TypeVar("_Model", bound=BaseModel)


def _now_ms() -> int:
    return int(time.time() * 1000)


router = APIRouter(prefix="/v1/groups", tags=["accounts"])

_RESPONSES = error_responses(
    {
        400: "Malformed parameter (limit)",
        401: "Missing or unknown secret key",
        403: "A write key: accounts are read with the secret key",
        404: "No group call named this groupId",
    }
)


@router.get(
    "/{group_id}",
    responses=_RESPONSES,
    summary="An account: traits from its group calls, members (most recently seen first), totals",
)
def get_account(
    group_id: str,
    workspace: SecretWorkspace,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Members listed (at most 1000)")] = 100,
    cursor: Annotated[
        str | None, Query(pattern=r"^\d{1,9}$", description="next_cursor of the previous page")
    ] = None,
) -> JSON:
    """Folded from the latest 20,000 group calls naming the account, totals over up to
    10,000 members (`"complete": false` says a larger account was cut there)."""
    calls = services.accounts.group_calls(workspace.id, group_id, MAX_GROUP_CALLS + 1)
    if not calls:
        raise NotFound(f"no group call has groupId {group_id!r} in this workspace")
    complete = len(calls) <= MAX_GROUP_CALLS
    calls = calls[-MAX_GROUP_CALLS:]
    latest_first = list(dict.fromkeys(c.profile_id for c in reversed(calls)))
    complete = complete and len(latest_first) <= MAX_MEMBERS
    members = services.accounts.members(workspace.id, sorted(latest_first[:MAX_MEMBERS]))
    now_ms = int(time.time() * 1000)
    page = (int(cursor or 0), limit)
    return JSON(account_view(group_id, calls, members, page, now_ms, services.lifecycle, complete))


# -- B2B account terms: assortments and price lists (relevo.rules.account_terms) --

terms_router = APIRouter(prefix="/v1/accounts", tags=["accounts"])

MAX_CSV_BYTES = 20 * 1024 * 1024
_TERMS_RESPONSES = error_responses(
    {
        400: "Malformed terms: the message names the row or field",
        401: "Missing or unknown secret key",
        403: "A write key: account terms are read and changed with the secret key",
        413: f"A CSV over {MAX_CSV_BYTES // (1024 * 1024)} MB",
    }
)
GroupId = Annotated[str, Path(min_length=1, max_length=255, description="The account's groupId")]


class AssortmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_ids: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        default_factory=list, max_length=MAX_ASSORTMENT
    )
    categories: list[Annotated[str, Field(min_length=1, max_length=2000)]] = Field(
        default_factory=list,
        max_length=MAX_CATEGORIES,
        description='Category paths ("Office > Paper" covers what is below it)',
    )


class PriceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: str = Field(min_length=1, max_length=255)
    price: str | float = Field(description='The agreed price: 12.50, "12.50" or "12.50 EUR"')
    currency: str | None = Field(None, pattern="^[A-Za-z]{3}$")


class PricesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prices: list[PriceIn] = Field(max_length=MAX_PRICES)
    replace: bool = Field(False, description="Drop the account's prices not in this list")


def _body(model: type[BaseModel], csv_alternative: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": model.model_json_schema(ref_template=_REF)},
                "text/csv": {"schema": {"type": "string", "description": csv_alternative}},
            },
        }
    }


_REF = "#/components/schemas/{model}"


async def _read(
    request: Request, model: type[_Model]
) -> tuple[_Model | None, list[dict[str, str]]]:
    """The JSON body as `model`, or the rows of a CSV body (Content-Type text/csv)."""
    raw = await request.body()
    if len(raw) > MAX_CSV_BYTES:
        raise PayloadTooLarge(f"the body is over {MAX_CSV_BYTES} bytes")
    if request.headers.get("content-type", "").split(";")[0].strip() == "text/csv":
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise RelevoError("the CSV is not UTF-8") from None
        # Stored as PostgreSQL can store it (no NUL), the same on both databases.
        reader = csv.DictReader(io.StringIO(replace_unstorable(text)))
        try:
            if not reader.fieldnames:
                raise RelevoError("the CSV has no header row")
            rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
        except csv.Error as error:
            raise RelevoError(f"CSV line {reader.line_num}: {error}") from None
        return None, rows
    try:
        data = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as error:
        raise RelevoError(f"the body is not JSON: {error}") from None
    try:
        return model.model_validate(replace_unstorable(data)), []
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in error.errors(include_url=False)[:5]
        )
        raise RelevoError(problems) from None


@terms_router.post(
    "/{group_id}/assortment",
    responses=_TERMS_RESPONSES,
    openapi_extra=_body(AssortmentIn, "a CSV with a header: product_id and/or category columns"),
    summary="Set what an account's members may buy (replaces the account's assortment)",
)
async def set_assortment(
    group_id: GroupId, request: Request, workspace: SecretWorkspace, services: ServicesDep
) -> JSON:
    """Its members' recommendations, re-ranks and product cards show only these products and
    the products under these categories. JSON, or CSV with `product_id` and/or `category`."""
    given, rows = await _read(request, AssortmentIn)
    if given is None:
        given = AssortmentIn(
            product_ids=[r["product_id"] for r in rows if r.get("product_id")],
            categories=[r["category"] for r in rows if r.get("category")],
        )
        if not rows or not ({"product_id", "category"} & rows[0].keys()):
            raise RelevoError("the CSV needs a product_id or a category column")
    categories = [category_path(c) for c in given.categories if category_path(c)]
    services.account_terms.set_assortment(
        workspace.id, group_id, given.product_ids, categories, _now_ms()
    )
    return JSON(_assortment(services, workspace.id, group_id))


def _assortment(services: Services, workspace_id: int, group_id: str) -> dict[str, Any]:
    found = services.account_terms.assortment(workspace_id, group_id)
    if found is None:
        raise NotFound(f"account {group_id!r} has no assortment: it sees the whole catalog")
    return {"group_id": group_id, **found}


@terms_router.get(
    "/{group_id}/assortment",
    responses={**_TERMS_RESPONSES, **error_responses({404: "No assortment for this account"})},
    summary="An account's assortment",
)
def get_assortment(group_id: GroupId, workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    return JSON(_assortment(services, workspace.id, group_id))


@terms_router.delete(
    "/{group_id}/assortment",
    responses={**_TERMS_RESPONSES, **error_responses({404: "No assortment for this account"})},
    summary="Drop an account's assortment: its members see the whole catalog again",
)
def delete_assortment(group_id: GroupId, workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    if not services.account_terms.delete_assortment(workspace.id, group_id):
        raise NotFound(f"account {group_id!r} has no assortment")
    return JSON({"deleted": group_id})


@terms_router.post(
    "/{group_id}/prices",
    responses=_TERMS_RESPONSES,
    openapi_extra=_body(PricesIn, "a CSV with a header: product_id, price[, currency]"),
    summary="Set an account's agreed prices (upsert; replace=true drops the others)",
)
async def set_prices(
    group_id: GroupId,
    request: Request,
    workspace: SecretWorkspace,
    services: ServicesDep,
    replace: Annotated[bool, Query(description="CSV: drop the prices not in the file")] = False,
) -> JSON:
    """JSON `{"prices": [{"product_id", "price", "currency"}], "replace"}`, or a CSV with
    `product_id`, `price` and optionally `currency` columns (`?replace=true`)."""
    given, rows = await _read(request, PricesIn)
    prices: list[tuple[str, str, str | None]] = []
    if given is not None:
        replace = given.replace
        for n, p in enumerate(given.prices):
            prices.append((p.product_id, *agreed_amount(f"prices[{n}]", p.price, p.currency)))
    else:
        prices = prices_from_csv(rows)
    stored = services.account_terms.set_prices(workspace.id, group_id, prices, replace, _now_ms())
    return JSON({"group_id": group_id, "stored": stored, "replaced": replace})


@terms_router.get("/{group_id}/prices", responses=_TERMS_RESPONSES, summary="An account's prices")
def get_prices(
    group_id: GroupId,
    workspace: SecretWorkspace,
    services: ServicesDep,
    after: Annotated[
        str | None, Query(max_length=255, description="next_after of the page before")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSON:
    prices = services.account_terms.prices(workspace.id, group_id, after, limit)
    return JSON(
        {
            "group_id": group_id,
            "prices": prices,
            "next_after": prices[-1]["product_id"] if len(prices) == limit else None,
        }
    )
