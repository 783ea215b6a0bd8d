"""Merchandising rules, applied after any recommender or re-ranking: filters, boosts and
buries, pins, diversity caps and brand conflicts, with conditions over the live catalog and the
request. Pure: numpy over catalog columns, no I/O.

    model      the rules as a shop saves them (Pydantic), `parse_rule` -> InvalidRule (400)
    condition  the item condition vocabulary ({"field": "price", "op": "lte", "value": 50} ...)
    catalog    CatalogColumns: the live catalog as columns in a bundle's item index space
    engine     compile_rules once; apply_rules per request (or plan_rules + RulePlan.page to
               fill one page across serving's fallback chain); never raises on a request
    page       the sequential fill under pins, caps and conflicts, over the top candidates only
    outcome    RuleContext in; RuledAnswer out: items with the rules that touched them, trace
"""

from relevo.rules.catalog import CatalogColumns
from relevo.rules.engine import CompiledRule, RulePlan, apply_rules, compile_rules, plan_rules
from relevo.rules.errors import InvalidRule
from relevo.rules.model import Rule, parse_rule
from relevo.rules.outcome import RuleContext, RuledAnswer, RuledItem, RuleTrace

__all__ = [
    "CatalogColumns",
    "CompiledRule",
    "InvalidRule",
    "Rule",
    "RuleContext",
    "RulePlan",
    "RuleTrace",
    "RuledAnswer",
    "RuledItem",
    "apply_rules",
    "compile_rules",
    "parse_rule",
    "plan_rules",
]
