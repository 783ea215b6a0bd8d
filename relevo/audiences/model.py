"""An audience: a named condition over people, validated once, evaluated many times."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from relevo.audiences.behaviour import behaviour_answer, event_extension
from relevo.audiences.builtins import BUILTIN_IDS
from relevo.audiences.records import StoredAudience
from relevo.conditions import Condition, Extension, InvalidCondition, validate
from relevo.conditions.outcome import Outcome
from relevo.errors import RelevoError
from relevo.profiles.state import ProfileRules

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_CONDITION_BYTES = 20_000


@dataclass(frozen=True)
class Audience:
    id: str
    name: str
    description: str
    condition: Condition
    builtin: bool = False
    webhook_url: str | None = None
    webhook_secret: str | None = None

    def view(self) -> dict[str, Any]:
        webhook = None
        if self.webhook_url is not None:
            webhook = {"url": self.webhook_url, "secret": self.webhook_secret}
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "condition": self.condition.source,
            "builtin": self.builtin,
            "webhook": webhook,
        }


@dataclass(frozen=True, slots=True)
class Membership:
    audience: Audience
    outcome: Outcome

    @property
    def matched(self) -> bool:
        return self.outcome.matched

    @property
    def why(self) -> str:
        """Written when read: an answer lists the reasons of the audiences the person is in,
        and writing all fifty cost more than judging them."""
        return self.outcome.reason


class Compiler:
    """Validates conditions with the behaviour operators this installation's counters answer."""

    def __init__(self, rules: ProfileRules) -> None:
        self.rules = rules
        self.extensions: list[Extension] = [event_extension(rules)]

    def condition(self, source: Any, root: str = "condition") -> Condition:
        return validate(source, self.extensions, root=root)

    def audience(
        self, audience_id: str, name: str, description: str, source: Any, builtin: bool = False
    ) -> Audience:
        return Audience(audience_id, name, description, self.condition(source), builtin)

    def stored(self, row: StoredAudience) -> Audience:
        return Audience(
            row.audience_id,
            row.name,
            row.description,
            self.condition(row.condition),
            webhook_url=row.webhook_url,
            webhook_secret=row.webhook_secret,
        )


def check_webhook(url: str | None) -> str | None:
    if url is None:
        return None
    if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", url) or len(url) > 2000:
        raise RelevoError(f"webhook_url {url[:100]!r}: an http(s) URL of at most 2000 characters")
    return url


def check_id(audience_id: str) -> str:
    if not ID_PATTERN.fullmatch(audience_id):
        raise RelevoError(
            f"id {audience_id!r}: lower-case letters, digits, '-' and '_', at most 64, "
            "starting with a letter or digit"
        )
    if audience_id in BUILTIN_IDS:
        raise RelevoError(f"id {audience_id!r} is a built-in audience's; choose another")
    return audience_id


def memberships(
    audiences: Sequence[Audience],
    document: dict[str, Any],
    computed: dict[str, Any],
    now_ms: int,
    timeout_ms: int,
) -> list[Membership]:
    """Every audience judged for one person now, each with the reason that decided."""
    answers = {"$event": behaviour_answer(computed, now_ms, timeout_ms)}
    found = []
    for audience in audiences:
        outcome = audience.condition.evaluate(document, extensions=answers)
        found.append(Membership(audience, outcome))
    return found


def matching(
    audiences: Sequence[Audience],
    document: dict[str, Any],
    computed: dict[str, Any],
    now_ms: int,
    timeout_ms: int,
) -> list[Audience]:
    """The audiences a person is in, without writing reasons (the fast path)."""
    answers = {"$event": behaviour_answer(computed, now_ms, timeout_ms)}
    return [a for a in audiences if a.condition.matches(document, extensions=answers)]


__all__ = ["InvalidCondition"]
