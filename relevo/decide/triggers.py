"""Server-side triggers, answered when deciding: pure functions over the request context (as
relevo.audiences.context builds it) and the person's behaviour counters.

    page_view     the page's path matches the glob, or "re:<regex>" is found in its URL
    product_view  the request names a product in view
    cart_value    the cart's value is over `over`
    checkout      the page's path matches the checkout glob (default /checkout*)
    event         the person has at least `count` events `name` within `within` (an off-site
                  event such as an e-mail click, or "the 3rd paywall this week"): answered by
                  the behaviour counters, as the audiences' `$event` (compiled with the
                  experience: relevo.experiences.service.LiveExperience.trigger_condition)

Browser triggers (exit intent, scroll depth, time on page, inactivity, add to cart) are not
answered here: the decision carries them and the snippet arms them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from relevo.conditions import Answer, Condition
from relevo.experiences.model import (
    CartValue,
    Checkout,
    EventTrigger,
    PageView,
    ProductView,
    is_browser_trigger,
    path_matches,
    url_matches,
)


@dataclass(frozen=True)
class TriggerOutcome:
    fired: bool
    why: str
    browser: bool = False  # armed by the snippet: the decision carries it


def _page(context: Mapping[str, Any]) -> tuple[str | None, str | None]:
    page = context.get("page") or {}
    return page.get("url"), page.get("path")


def evaluate_trigger(
    trigger: Any,
    context: Mapping[str, Any],
    document: Mapping[str, Any],
    answers: Mapping[str, Answer],
    event_condition: Condition | None,
) -> TriggerOutcome:
    """Never raises: a trigger that cannot be answered has not fired, and says why."""
    if trigger is None:
        return TriggerOutcome(True, "no trigger")
    if is_browser_trigger(trigger):
        return TriggerOutcome(True, f"{trigger.type}: armed in the browser", browser=True)
    try:
        return _server(trigger, context, document, answers, event_condition)
    except Exception as error:
        return TriggerOutcome(False, f"{trigger.type}: could not be evaluated ({error})")


def _server(
    trigger: Any,
    context: Mapping[str, Any],
    document: Mapping[str, Any],
    answers: Mapping[str, Answer],
    event_condition: Condition | None,
) -> TriggerOutcome:
    url, path = _page(context)
    if isinstance(trigger, PageView):
        fired = url_matches(trigger.url, url, path)
        return TriggerOutcome(fired, f"page_view {trigger.url!r} on path {path!r}: {_yes(fired)}")
    if isinstance(trigger, Checkout):
        fired = path is not None and path_matches(trigger.path, path)
        return TriggerOutcome(fired, f"checkout {trigger.path!r} on path {path!r}: {_yes(fired)}")
    if isinstance(trigger, ProductView):
        product = context.get("product")
        fired = isinstance(product, dict) and bool(product.get("product_id"))
        return TriggerOutcome(fired, f"product_view: {'a' if fired else 'no'} product in view")
    if isinstance(trigger, CartValue):
        cart = context.get("cart") or {}
        value = cart.get("value") if isinstance(cart, dict) else None
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else 0
        fired = number > trigger.over
        return TriggerOutcome(fired, f"cart_value {number} over {trigger.over}: {_yes(fired)}")
    if isinstance(trigger, EventTrigger):
        if event_condition is None:
            return TriggerOutcome(False, f"event {trigger.name!r}: not compiled on this server")
        outcome = event_condition.evaluate(document, extensions=answers)
        return TriggerOutcome(outcome.matched, f"event {trigger.name!r}: {outcome.reason}")
    return TriggerOutcome(False, f"unknown trigger {getattr(trigger, 'type', trigger)!r}")


def _yes(fired: bool) -> str:
    return "matched" if fired else "not matched"
