"""Recommendation blocks of a decision: the strategy, count and exclusions of a variant or a
placement, answered by relevo.recs with the visitor's signals read once, the placement id (so
rules scoped to it apply) and the audiences already judged; then product cards from the
catalog, at the account's agreed price where there is one (as POST /v1/recommendations'
``details``). A quiz's answers become rules of the request: each answer's filter keeps only
matching products and its boost raises them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from relevo.experiences.model import Quiz, RecommendationBlock
from relevo.identity.identities import Identity
from relevo.recs.service import Context, Outcome, Recommendations, Signals
from relevo.recs.serving import Exclusions
from relevo.rules.account_terms import AccountTerms, agreed_price, priced_card
from relevo.rules.model import Rule, parse_rule

QUIZ_BOOST = 3.0


class CardSource(Protocol):
    def cards(self, workspace_id: int, product_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...


class TermsSource(Protocol):
    def terms(
        self, workspace_id: int, group_ids: Sequence[str], priced: Sequence[str] = ()
    ) -> list[AccountTerms]: ...


@dataclass(frozen=True)
class BlockRequest:
    """What one block needs besides its definition: the same for every block of a request."""

    workspace_id: int
    identity: Identity | None
    product_id: str | None
    cart: tuple[str, ...]
    now_ms: int
    browser: bool
    signals: Signals | None
    audiences: frozenset[str] | None  # the visitor's, already judged (None: not yet)


@dataclass
class Block:
    outcome: Outcome
    strategy: str
    rules: list[Rule] = field(default_factory=list)

    def view(self, cards: Mapping[str, dict[str, Any] | None]) -> dict[str, Any]:
        return {
            "recommendation_id": self.outcome.recommendation_id,
            "strategy": self.strategy,
            "items": [
                {
                    "product_id": item["product_id"],
                    "reason": item["reason"],
                    "product": cards.get(item["product_id"]),
                }
                for item in self.outcome.items
            ],
        }

    def debug(self) -> dict[str, Any]:
        return {
            "recommendation_id": self.outcome.recommendation_id,
            "strategy": self.strategy,
            "fallbacks": self.outcome.fallbacks,
            "rules": self.outcome.rules,
            "rule_notes": self.outcome.notes,
            "request_rules": [r.id for r in self.rules],
        }


def _condition(field_name: str, value: str) -> dict[str, Any]:
    if field_name == "category":
        return {"field": "category", "op": "under", "value": value}
    return {"field": field_name, "op": "eq", "value": value}


def quiz_rules(quiz: Quiz, answers: Mapping[str, Any], filters: bool = True) -> list[Rule]:
    """The rules a quiz's answers make (``filters=False``: their filters only boost)."""
    rules: list[Rule] = []
    for question in quiz.questions:
        given = answers.get(question.id)
        answer = next((a for a in question.answers if a.value == given), None)
        if answer is None:
            continue
        for name, value in answer.filter.items():
            rule_id = f"quiz.{question.id}.{name}"
            rule: dict[str, Any]
            if filters:
                rule = {"id": rule_id, "kind": "filter", "condition": _condition(name, value)}
            else:
                rule = {"id": rule_id, "kind": "boost", "factor": QUIZ_BOOST,
                        "condition": _condition(name, value)}  # fmt: skip
            rules.append(parse_rule(rule))
        for name, value in answer.boost.items():
            rules.append(
                parse_rule(
                    {
                        "id": f"quiz.{question.id}.boost.{name}",
                        "kind": "boost",
                        "factor": QUIZ_BOOST,
                        "condition": _condition(name, value),
                    }
                )
            )
    return rules


def quiz_answers(quiz: Quiz, given: Mapping[str, Any]) -> dict[str, str]:
    """The answers among ``given`` (submitted, or the declared preferences) that the quiz has."""
    found: dict[str, str] = {}
    for question in quiz.questions:
        value = given.get(question.id)
        if any(a.value == value for a in question.answers):
            found[question.id] = str(value)
    return found


class Blocks:
    def __init__(
        self, recommendations: Recommendations, catalog: CardSource, terms: TermsSource
    ) -> None:
        self.recommendations = recommendations
        self.catalog = catalog
        self.terms = terms

    async def signals(self, workspace_id: int, identity: Identity | None) -> Signals | None:
        """Read once, awaited (PostgreSQL), for every block of the request."""
        if identity is None:
            return None
        return await self.recommendations.visitor_signals_awaited(workspace_id, identity)

    def answer(
        self,
        request: BlockRequest,
        block: RecommendationBlock,
        placement_id: str,
        quiz: tuple[Quiz, Mapping[str, str]] | None = None,
        merchandising: bool = True,
    ) -> Block:
        """The block's items (possibly none: the caller falls back). Raises for a strategy
        this server does not know (UnknownStrategy). ``merchandising=False``: without the
        workspace's merchandising rules (an experiment's "rules off" arm)."""
        rules = quiz_rules(quiz[0], quiz[1]) if quiz is not None else []
        outcome = self._ask(request, block, placement_id, rules, merchandising)
        if not outcome.items and quiz is not None and rules:
            # Filters that leave nothing: the answers still order what there is.
            rules = quiz_rules(quiz[0], quiz[1], filters=False)
            outcome = self._ask(request, block, placement_id, rules, merchandising)
        return Block(outcome, block.strategy, rules)

    def _ask(
        self,
        request: BlockRequest,
        block: RecommendationBlock,
        placement_id: str,
        rules: Sequence[Rule],
        merchandising: bool = True,
    ) -> Outcome:
        context = Context(request.product_id, request.cart, None, None, placement_id)
        exclude = block.exclude
        return self.recommendations.answer(
            request.workspace_id,
            block.strategy,
            request.identity,
            context,
            block.count,
            Exclusions(exclude.out_of_stock, exclude.in_view, exclude.in_cart, exclude.purchased),
            request.now_ms,
            audience=block.audience,
            browser=request.browser,
            signals=request.signals,
            audiences=request.audiences,
            extra_rules=rules,
            workspace_rules=merchandising,
        )

    def cards(self, workspace_id: int, blocks: Sequence[Block]) -> dict[str, dict[str, Any] | None]:
        """Product cards of every item of these blocks: one catalog read (and one of account
        prices for a member of an account with a price list)."""
        ids = list(dict.fromkeys(i["product_id"] for b in blocks for i in b.outcome.items))
        if not ids:
            return {}
        found = self.catalog.cards(workspace_id, ids)
        accounts = sorted({a for b in blocks for a in b.outcome.accounts})
        terms = self.terms.terms(workspace_id, accounts, ids) if accounts else []
        return {
            pid: None
            if found.get(pid) is None
            else priced_card(found[pid], agreed_price(terms, pid))
            for pid in ids
        }
