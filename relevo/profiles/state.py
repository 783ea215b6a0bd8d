"""Fold events into a profile's computed attributes: a pure function over plain dicts.

The computed state is JSON and stored with the profile; ``apply_event`` is used both for
incremental updates (new events in log order) and for full rebuilds after a merge (all events
of the person sorted by time), so both paths give the same answer for in-order events.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

from relevo.profiles.device import device_from_context
from relevo.profiles.traffic import touch_from_message

PRODUCT_VIEWED = "Product Viewed"
PRODUCT_ADDED = "Product Added"
ORDER_COMPLETED = "Order Completed"
ORDER_REFUNDED = "Order Refunded"
# Segment e-commerce v2 and e-mail events with a computed attribute of their own.
COUNTED_EVENTS = {
    "Products Searched": "searches",
    "Product List Viewed": "list_views",
    "Product Removed": "cart_removals",
    "Cart Viewed": "cart_views",
    "Checkout Started": "checkouts_started",
    "Email Opened": "email_opens",
    "Email Link Clicked": "email_clicks",
}
EMAIL_EVENTS = ("Email Opened", "Email Link Clicked")
INTEREST_WEIGHTS = {
    PRODUCT_VIEWED: 1.0,
    "Product Clicked": 0.5,
    PRODUCT_ADDED: 3.0,
    ORDER_COMPLETED: 5.0,
}
MAX_INTERESTS = 50
MAX_GROUPS = 20  # accounts (Segment `group` calls) kept per person, most recently seen first
MAX_EVENT_NAMES = 500  # distinct event names counted per person; more are counted as overflow
MAX_GROUP_TRAITS = 200  # traits kept per account
# Events Relevo itself records about a person (exposures, recommendation feedback, audience
# changes): kept in the timeline, but they are not the person's behaviour, so they move no
# behaviour counter, session or last-seen.
SYSTEM_EVENTS = frozenset(
    {
        "Experiment Viewed",
        "Recommendation Shown",
        "Recommendation Clicked",
        "Audience Entered",
        "Audience Exited",
        "Experience Viewed",
        "Experience Impression",
        "Experience Clicked",
        "Experience Dismissed",
        "Experience Submitted",
        "Experience Converted",
    }
)
DAY_MS = 86_400_000
# Behaviour counters (relevo.profiles.behaviour reads them): per event name, daily buckets
# kept this many days, the current session's count, the latest time; per declared property,
# daily buckets of each value seen (at most MAX_BUCKETED_VALUES) and daily sums.
BEHAVIOUR_DAYS = 400
MAX_BUCKETED_VALUES = 50
PRUNE_PAST = 100  # buckets a counter holds before old ones are dropped (amortised)
# Which properties are bucketed: (event name or "*", property, "values" | "sum"). Declared per
# installation (ProfileRules.bucketed); these are the Segment e-commerce spec's.
DEFAULT_BUCKETED = (
    ("*", "category", "values"),
    ("*", "brand", "values"),
    ("*", "section", "values"),
    ("*", "revenue", "sum"),
    ("*", "price", "sum"),
)


def record_overflow(state: dict[str, Any], what: str, by: int = 1) -> None:
    """A cap was reached: what did not fit is counted, never silently lost."""
    limits = state.setdefault("overflow", {})
    limits[what] = limits.get(what, 0) + by


@dataclass(frozen=True)
class ProfileRules:
    session_timeout_ms: int = 30 * 60_000
    interest_half_life_ms: float = 30 * 86_400_000.0
    # The properties behaviour counters keep buckets of (see DEFAULT_BUCKETED).
    bucketed: tuple[tuple[str, str, str], ...] = DEFAULT_BUCKETED

    @functools.cached_property
    def _bucketed_by_event(self) -> dict[str, tuple[tuple[str, str], ...]]:
        return {}

    def bucketed_for(self, event: str) -> tuple[tuple[str, str], ...]:
        """(property, "values" | "sum") pairs bucketed for this event name (remembered per
        name: this runs for every event folded)."""
        known = self._bucketed_by_event
        found = known.get(event)
        if found is None:
            found = tuple((p, k) for name, p, k in self.bucketed if name in ("*", event))
            if len(known) < 10_000:
                known[event] = found
        return found


# Not frozen: the materializer makes one per event it reads, and a frozen dataclass's __init__
# (a setattr through object per field) costs five times a plain one's.
@dataclass(slots=True)
class EventRecord:
    """The columns of a stored event the computation needs."""

    seq: int
    type: str
    event: str | None
    timestamp: int
    payload: dict[str, Any]
    # Sent with a server or secret key; a browser key's group call is only a claim.
    trusted: bool = True


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def order_revenue(properties: dict[str, Any]) -> float:
    """Segment's order value: revenue, else total, else the sum over products."""
    for key in ("revenue", "total", "value"):
        number = _number(properties.get(key))
        if number is not None:
            return number
    total = 0.0
    for product in _products(properties):
        price = _number(product.get("price")) or 0.0
        quantity = _number(product.get("quantity"))
        total += price * (quantity if quantity is not None else 1.0)
    return total


def _products(properties: dict[str, Any]) -> list[dict[str, Any]]:
    products = properties.get("products")
    if isinstance(products, list):
        return [p for p in products if isinstance(p, dict)]
    return [properties] if properties.get("product_id") or properties.get("sku") else []


# Interest scores decay forward (Cormode et al.): a bucket keeps one number per key, the sum of
# its events' weights each times 2 ** ((at - base) / half_life), and under the key "" (never an
# interest: blank keys are refused) [base, latest event time]. The score at `now` is that sum
# times 0.5 ** ((max(now, latest) - base) / half_life), what the former [score, time] pair per
# key gave (never taken before the bucket's latest event), with a third of the objects to fold
# and encode. Buckets stored as pairs are converted when an event next reaches them, and read
# as they are until then.
BUCKET_TIMES = ""
_MAX_EXPONENT = 500.0  # 2.0 ** 500: the base moves up long before a float overflows (2 ** 1024)


def _add_interest(
    bucket: dict[str, Any], key: Any, weight: float, at: int, half_life: float
) -> None:
    if not isinstance(key, str) or not key.strip():
        return
    key = key.strip()
    times = bucket.get(BUCKET_TIMES)
    if times is None:
        times = _forward(bucket, at, half_life)
    base = times[0]
    exponent = (at - base) / half_life
    if exponent > _MAX_EXPONENT:
        _rebase(bucket, at, half_life)
        exponent = 0.0
    if at > times[1]:
        times[1] = at
    bucket[key] = bucket.get(key, 0.0) + weight * 2.0**exponent
    if len(bucket) > MAX_INTERESTS + 1:
        del bucket[min((k for k in bucket if k != BUCKET_TIMES), key=bucket.__getitem__)]


def _forward(bucket: dict[str, Any], at: int, half_life: float) -> list[int]:
    """The bucket's [base, latest], its [score, time] pairs (the former format) converted."""
    pairs = {k: v for k, v in bucket.items() if isinstance(v, list)}
    latest = int(max((ref for _, ref in pairs.values()), default=at))
    for k, (score, ref) in pairs.items():
        bucket[k] = score * 0.5 ** ((latest - ref) / half_life)
    times = bucket[BUCKET_TIMES] = [latest, latest]
    return times


def _rebase(bucket: dict[str, Any], at: int, half_life: float) -> None:
    times = bucket[BUCKET_TIMES]
    factor = 0.5 ** ((at - times[0]) / half_life)
    for k, value in bucket.items():
        if k != BUCKET_TIMES:
            bucket[k] = value * factor
    times[0] = at


def top_interests(
    bucket: dict[str, Any], now_ms: int, half_life: float, limit: int = 5
) -> list[dict[str, Any]]:
    times = bucket.get(BUCKET_TIMES)
    decay = (
        0.5 ** ((max(now_ms, times[1]) - times[0]) / half_life) if isinstance(times, list) else 1.0
    )
    scored = [
        (
            key,
            value[0] * 0.5 ** (max(0.0, now_ms - value[1]) / half_life)
            if isinstance(value, list)
            else value * decay,
        )
        for key, value in bucket.items()
        if key != BUCKET_TIMES
    ]
    scored.sort(key=lambda item: (-item[1], item[0]))
    return [{"name": key, "score": round(score, 4)} for key, score in scored[:limit]]


def _count(state: dict[str, Any], key: str, by: float = 1) -> None:
    state[key] = state.get(key, 0) + by


def is_system_event(record: EventRecord) -> bool:
    """An event Relevo recorded about the person (see SYSTEM_EVENTS): it folds into nothing."""
    return record.type == "track" and record.event in SYSTEM_EVENTS


def apply_event(state: dict[str, Any], record: EventRecord, rules: ProfileRules) -> None:
    """Update ``state`` in place with one event."""
    if is_system_event(record):
        return
    ts = record.timestamp
    payload = record.payload
    context = payload.get("context") if isinstance(payload.get("context"), dict) else None
    properties = payload.get("properties") if isinstance(payload.get("properties"), dict) else {}
    properties = properties or {}

    last_seen = state.get("last_seen")
    if last_seen is None or ts - last_seen > rules.session_timeout_ms:
        _count(state, "sessions")
        state["session_started_at"] = ts
        state["session_touch"] = {"channel": "direct"}
        state["session_touch_known"] = False
    # The first event of a session that shows where the visit came from decides its source.
    session_needs_touch = not state.get("session_touch_known", False)
    earliest = "first_seen" not in state or ts < state["first_seen"]
    # Classifying the source parses URLs: only do it when the answer can change something.
    touch = (
        touch_from_message(payload)
        if session_needs_touch or earliest or "first_touch" not in state
        else None
    )
    if touch is not None and session_needs_touch:
        state["session_touch"] = touch
        state["session_touch_known"] = True
    if earliest:
        state["first_seen"] = ts
        if touch is not None:
            state["first_touch"] = touch
    elif touch is not None and "first_touch" not in state:
        state["first_touch"] = touch
    if last_seen is None or ts > last_seen:
        state["last_seen"] = ts
    _count(state, "events")

    if context:
        device = device_from_context(context)
        if device is not None and ts >= state.get("device_at", 0):
            state["device"] = device
            state["device_at"] = ts
        consent = context.get("consent")
        if isinstance(consent, dict) and ts >= state.get("consent_at", 0):
            state["consent"] = consent.get("categoryPreferences", consent)
            state["consent_at"] = ts

    kind = record.type
    if kind == "page":
        _count(state, "page_views")
    elif kind == "screen":
        _count(state, "screen_views")
    elif kind == "track" and record.event:
        _apply_track(state, record.event, properties, ts, rules)
    elif kind == "group" and record.trusted:
        apply_group(state, payload, ts)


def apply_group(state: dict[str, Any], payload: dict[str, Any], ts: int) -> None:
    """The accounts (company, household, team) a person belongs to, with the account's traits,
    each the value of the latest call that set it (calls may arrive out of order)."""
    group_id = payload.get("groupId")
    if not isinstance(group_id, str | int) or isinstance(group_id, bool) or group_id == "":
        return
    key = str(group_id)
    groups = state.setdefault("groups", {})
    group = groups.setdefault(key, {"traits": {}, "times": {}, "first_seen": ts, "last_seen": ts})
    traits = payload.get("traits")
    if isinstance(traits, dict):
        values, times = group["traits"], group.setdefault("times", {})
        for name, value in traits.items():
            if name not in values and len(values) >= MAX_GROUP_TRAITS:
                record_overflow(state, "group_traits")
                continue
            if ts >= times.get(name, ts):
                values[name], times[name] = value, ts
    group["first_seen"] = min(group["first_seen"], ts)
    group["last_seen"] = max(group["last_seen"], ts)
    if len(groups) > MAX_GROUPS:
        del groups[min(groups, key=lambda g: groups[g]["last_seen"])]


def _apply_track(
    state: dict[str, Any], name: str, properties: dict[str, Any], ts: int, rules: ProfileRules
) -> None:
    counts = state.setdefault("event_counts", {})
    if name in counts or len(counts) < MAX_EVENT_NAMES:
        counts[name] = counts.get(name, 0) + 1
        _count_behaviour(state, name, properties, ts, rules)
    else:
        record_overflow(state, "event_names")
    counted = COUNTED_EVENTS.get(name)
    if counted is not None:
        _count(state, counted)
        if name in EMAIL_EVENTS and ts >= state.get("last_email_engagement_at", 0):
            state["last_email_engagement_at"] = ts
    if name == PRODUCT_VIEWED:
        _count(state, "product_views")
    elif name == PRODUCT_ADDED:
        _count(state, "cart_adds")
        # An open cart: items added since the last order (the abandoned-cart signal).
        if ts > state.get("last_order_at", 0) and "cart_open_since" not in state:
            state["cart_open_since"] = ts
    elif name == ORDER_COMPLETED:
        _count(state, "orders")
        if ts >= state.get("cart_open_since", ts + 1):
            state.pop("cart_open_since", None)
        state["revenue"] = round(state.get("revenue", 0.0) + order_revenue(properties), 2)
        if ts >= state.get("last_order_at", 0):
            state["last_order_at"] = ts
        if ts < state.get("first_order_at", ts + 1):
            state["first_order_at"] = ts
    elif name == ORDER_REFUNDED:
        state["refunded"] = round(state.get("refunded", 0.0) + abs(order_revenue(properties)), 2)
    weight = INTEREST_WEIGHTS.get(name)
    if weight is None:
        return
    interests = state.setdefault("interests", {"categories": {}, "brands": {}})
    for product in _products(properties):
        half_life = rules.interest_half_life_ms
        _add_interest(interests["categories"], product.get("category"), weight, ts, half_life)
        _add_interest(interests["brands"], product.get("brand"), weight, ts, half_life)


def _count_behaviour(
    state: dict[str, Any], name: str, properties: dict[str, Any], ts: int, rules: ProfileRules
) -> None:
    """One event into its name's behaviour counters: ``{"d": {day: n}, "s": [session start,
    n], "last": ts, "v": {prop: {value: {day: n}}}, "sum": {prop: {day: total}}}``. A session
    count whose start is not the current session's is stale and restarts."""
    behaviour = state.setdefault("behaviour", {})
    counter = behaviour.get(name)
    if counter is None:
        counter = behaviour[name] = {"d": {}, "s": [0, 0], "last": ts}
    day = str(ts // DAY_MS)
    days = counter["d"]
    if day in days:
        days[day] += 1
    else:
        days[day] = 1
        if len(days) > PRUNE_PAST:
            _prune(counter, ts)
    started = state.get("session_started_at", ts)
    session = counter["s"]
    if ts >= started:
        if session[0] == started:
            session[1] += 1
        else:
            counter["s"] = [started, 1]
    if ts > counter["last"]:
        counter["last"] = ts
    for prop, kind in rules.bucketed_for(name):
        value = properties.get(prop)
        if value is None:
            continue
        if kind == "sum":
            number = _number(value)
            if number is not None:
                sums = counter.setdefault("sum", {}).setdefault(prop, {})
                sums[day] = sums.get(day, 0.0) + number
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            values = counter.setdefault("v", {}).setdefault(prop, {})
            key = str(value)
            buckets = values.get(key)
            if buckets is None:
                if len(values) >= MAX_BUCKETED_VALUES:
                    record_overflow(state, "bucketed_values")
                    continue
                buckets = values[key] = {}
            buckets[day] = buckets.get(day, 0) + 1


def _prune(counter: dict[str, Any], ts: int) -> None:
    """Drop a counter's buckets past the behaviour window, its values' and sums' too (when it
    holds many days: readers filter by day anyway, so an old bucket left is never counted)."""
    oldest = ts // DAY_MS - BEHAVIOUR_DAYS
    _drop_before(counter["d"], oldest)
    for values in counter.get("v", {}).values():
        for value in list(values):
            _drop_before(values[value], oldest)
            if not values[value]:
                del values[value]  # frees its place under MAX_BUCKETED_VALUES
    for sums in counter.get("sum", {}).values():
        _drop_before(sums, oldest)


def _drop_before(buckets: dict[str, Any], oldest: int) -> None:
    for key in [k for k in buckets if int(k) < oldest]:
        del buckets[key]


def rebuild(records: list[EventRecord], rules: ProfileRules) -> dict[str, Any]:
    """The state of a profile computed from all of its events."""
    state: dict[str, Any] = {}
    for record in sorted(records, key=lambda r: (r.timestamp, r.seq)):
        apply_event(state, record, rules)
    return state
