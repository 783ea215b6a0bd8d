"""Recommendations (`POST /v1/recommendations`) and the shown/clicked feedback of an answer."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from relevo.api.auth import ReaderKey
from relevo.api.deps import ServicesDep
from relevo.api.responses import JSON
from relevo.api.segment_schema import error_responses
from relevo.errors import Forbidden, RelevoError
from relevo.identity.identities import ANONYMOUS_ID, USER_ID, Identity, normalise_lookup
from relevo.recs.errors import IdentityNotAllowed
from relevo.recs.service import Context
from relevo.recs.serving import Exclusions
from relevo.rules.account_terms import agreed_price, priced_card
from relevo.tracking.jobs import IngestJob
from relevo.tracking.messages import TrackedMessage, validate_message
from relevo.workspaces.keys import KeyKind, Principal

router = APIRouter(prefix="/v1/recommendations", tags=["recommendations"])

DEFAULT_LIMIT = 10
MAX_LIMIT = 200
MAX_CANDIDATES = 1000

_RESPONSES = error_responses(
    {
        400: "Unknown strategy or malformed request",
        401: "Missing or unknown key",
        403: "A browser key may only ask for its own visitor (anonymous_id), and not for debug",
        429: "Rate limited (browser key): retry after Retry-After seconds",
    }
)


class IdentityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(description="anonymous_id, user_id, email, phone or a custom kind")
    value: str = Field(min_length=1, max_length=255)


class ContextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: str | None = Field(None, description="The product in view")
    cart: list[str] = Field(default_factory=list, max_length=500)
    category: str | None = Field(None, description="Only items of this category path")
    candidates: list[str] | None = Field(
        None,
        max_length=MAX_CANDIDATES,
        description=f"re-rank: the product ids to order for this person (at most {MAX_CANDIDATES})",
    )
    placement: str | None = Field(
        None, max_length=255, description="Where the answer is shown, for rules scoped to it"
    )


class ExcludeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    out_of_stock: bool = True
    in_view: bool = True
    in_cart: bool = True
    purchased: bool = False


class RecommendationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    strategy: str
    identity: IdentityIn | None = None
    context: ContextIn = Field(default_factory=ContextIn)
    limit: int | None = Field(
        None,
        ge=1,
        le=MAX_CANDIDATES,
        description=f"Items in the answer: default 10, at most {MAX_LIMIT}; with candidates "
        f"(re-rank) default and at most the number of candidates ({MAX_CANDIDATES} at most)",
    )
    exclude: ExcludeIn = Field(default_factory=ExcludeIn)
    audience: str | None = Field(
        None,
        max_length=64,
        description="An audience's id, built-in (e.g. repeat-customer) or saved: trending (asked "
        "for, or as a fallback) counts its members' interactions first (popularity only, never "
        "who they are)",
    )
    details: bool = Field(
        False,
        description="Add each item's product card from the catalog (title, brand, category, "
        "prices, availability, image and page URLs, attributes; null if no longer in it); "
        "for a member of an account with a price list, the agreed price",
    )
    debug: bool = Field(
        False,
        description="Add `rules`: every merchandising rule considered, applied or skipped, and "
        "why (secret key only: a browser key asking for it gets a 403)",
    )


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identity: IdentityIn
    shown: list[str] = Field(default_factory=list, max_length=500)
    clicked: list[str] = Field(default_factory=list, max_length=500)


def _identity(caller: Principal, given: IdentityIn | None) -> Identity | None:
    if given is None:
        return None
    identity = normalise_lookup(given.kind, given.value)
    if identity is None:
        raise RelevoError(f"{given.value!r} is not a valid {given.kind}")
    if caller.kind is KeyKind.BROWSER and identity[0] != ANONYMOUS_ID:
        raise IdentityNotAllowed(
            "with a browser key, ask only for the visitor's own anonymous_id; "
            "other identities need the secret key"
        )
    return identity


def _limit(body: RecommendationIn) -> int:
    """The documented bounds hold as given: no parameter silently raises another's limit."""
    candidates = body.context.candidates
    if candidates is not None:
        if body.limit is not None and body.limit > len(candidates):
            raise RelevoError(
                f"limit {body.limit} is more than the {len(candidates)} candidates to re-rank"
            )
        return body.limit or max(1, len(candidates))
    if body.limit is not None and body.limit > MAX_LIMIT:
        raise RelevoError(f"limit is at most {MAX_LIMIT} (got {body.limit})")
    return body.limit or DEFAULT_LIMIT


def _now_ms() -> int:
    return int(time.time() * 1000)


@router.post("", responses=_RESPONSES, summary="Recommend products with a named strategy")
async def recommendations(body: RecommendationIn, caller: ReaderKey, services: ServicesDep) -> JSON:
    identity = _identity(caller, body.identity)
    if body.debug and caller.kind is not KeyKind.SECRET:
        # The rules are the shop's merchandising plan: not for anyone holding the page's key.
        raise Forbidden("debug shows the shop's rules: ask for it with the secret key")
    given = body.context
    context = Context(
        given.product_id, given.cart, given.category, given.candidates, given.placement
    )
    limit = _limit(body)
    exclusions = Exclusions(**body.exclude.model_dump())
    # Runs on the event loop, not in the thread pool: the work is a short local read and a
    # few milliseconds of numpy, and serving requests one after another per worker keeps the
    # tail short, where dozens of threads contending for the GIL made it long.
    outcome = services.recommendations.answer(
        caller.workspace.id,
        body.strategy,
        identity,
        context,
        limit,
        exclusions,
        _now_ms(),
        audience=body.audience,
        browser=caller.kind is KeyKind.BROWSER,
    )
    if body.details and outcome.items:
        ids = [i["product_id"] for i in outcome.items]
        cards = services.catalog.cards(caller.workspace.id, ids)
        terms = (
            services.account_terms.terms(caller.workspace.id, outcome.accounts, ids)
            if outcome.accounts
            else []
        )
        for item in outcome.items:
            card = cards.get(item["product_id"])
            price = agreed_price(terms, item["product_id"])
            item["product"] = None if card is None else priced_card(card, price)
    answer = {
        "recommendation_id": outcome.recommendation_id,
        "strategy": body.strategy,
        "model_version": outcome.version,
        "items": outcome.items,
        "fallbacks": outcome.fallbacks,
        "unknown_products": outcome.unknown_products,
        "known_visitor": outcome.known_visitor,
    }
    if body.debug:
        answer["rules"] = outcome.rules
        answer["rule_notes"] = outcome.notes
    return JSON(answer)


def _feedback_message(
    rec_id: str, identity: Identity, event: str, products: list[str], now_ms: int
) -> TrackedMessage:
    raw: dict[str, Any] = {
        "type": "track",
        "event": event,
        # Reporting the same thing twice stores it once.
        "messageId": f"{rec_id}:{event}:{','.join(products)}"[:255],
        "properties": {"recommendation_id": rec_id, "product_ids": products},
        ("anonymousId" if identity[0] == ANONYMOUS_ID else "userId"): identity[1],
    }
    result = validate_message(raw, now_ms, max_bytes=None)
    if not isinstance(result, TrackedMessage):
        raise RelevoError(result.reason)
    return result


@router.post(
    "/{recommendation_id}/feedback",
    responses=_RESPONSES,
    summary="Report which recommended items were shown and which were clicked",
)
async def feedback(
    recommendation_id: str, body: FeedbackIn, caller: ReaderKey, services: ServicesDep
) -> JSON:
    """Stored as track events (`Recommendation Shown`, `Recommendation Clicked`) of the visitor,
    so they are durable, countable in audiences and measurable like any other event; a site
    may equally send those events through the tracking API."""
    identity = _identity(caller, body.identity)
    assert identity is not None
    if identity[0] not in (ANONYMOUS_ID, USER_ID):
        raise RelevoError("feedback needs the visitor's anonymous_id or user_id")
    if not recommendation_id.startswith("rec_") or len(recommendation_id) > 64:
        raise RelevoError(f"{recommendation_id!r} is not a recommendation id")
    now = _now_ms()
    messages = [
        _feedback_message(recommendation_id, identity, event, products, now)
        for event, products in (
            ("Recommendation Shown", body.shown),
            ("Recommendation Clicked", body.clicked),
        )
        if products
    ]
    if not messages:
        raise RelevoError("report at least one product in 'shown' or 'clicked'")
    stored = await services.writer.submit(IngestJob(caller.workspace.id, messages, []))
    return JSON({"success": True, "stored": stored.stored, "duplicates": stored.duplicates})
