"""relevo.rules.live: what one server process holds of a workspace's rules and live catalog,
with stub sources and a hand-driven clock: a change (made by any process) is seen after at most
`check_seconds` and not re-read before; the catalog follows price changes and new products in
the bundle's item index space, and is rebuilt for a new bundle version."""

from __future__ import annotations

from typing import Any

from relevo.rules.live import LiveRules


class Rules:
    def __init__(self) -> None:
        self.rules: list[dict[str, Any]] = []
        self.reads = 0

    def revision(self, workspace_id: int) -> tuple[int, int]:
        return len(self.rules), sum(len(str(r)) for r in self.rules)

    def definitions(self, workspace_id: int) -> list[dict[str, Any]]:
        self.reads += 1
        return list(self.rules)


class Catalog:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.asked: list[int | None] = []

    def catalog_rows(self, workspace_id: int, since_ms: int | None) -> list[dict[str, Any]]:
        self.asked.append(since_ms)
        return [r for r in self.rows if since_ms is None or r["updated_at"] >= since_ms]


def _live() -> tuple[LiveRules, Rules, Catalog, list[float]]:
    """The clock drives both the check interval (seconds) and the wall clock (ms)."""
    now = [0.0]
    rules, catalog = Rules(), Catalog()
    live = LiveRules(rules, catalog, 1.0, clock=lambda: now[0], wall_ms=lambda: int(now[0] * 1e3))
    return live, rules, catalog, now


def test_a_rule_change_is_seen_within_the_check_interval() -> None:
    live, rules, _, now = _live()
    assert live.rules(1) == []
    rules.rules.append({"id": "sale-only", "kind": "filter",
                        "condition": {"field": "on_sale", "op": "eq", "value": True}})  # fmt: skip
    now[0] = 0.5
    assert live.rules(1) == []  # not looked at again yet
    now[0] = 1.0
    assert [r.id for r in live.rules(1)] == ["sale-only"]
    reads = rules.reads
    now[0] = 2.5
    live.rules(1)
    assert rules.reads == reads  # same revision: not re-read
    rules.rules.append({"id": "broken", "kind": "pin"})  # saved by an older version, say
    live.invalidate(1)
    assert [r.id for r in live.rules(1)] == ["sale-only"]  # skipped, never raised


def test_the_catalog_follows_changes_and_new_products() -> None:
    live, _, catalog, now = _live()
    catalog.rows = [
        {"product_id": "a", "price": "10", "updated_at": 100},
        {"product_id": "b", "price": "20", "updated_at": 100},
    ]
    now[0] = 10.0
    columns = live.catalog(1, "v1", ["b", "a"])
    assert columns.item_ids == ["b", "a"] and columns.price.tolist() == [20, 10]
    catalog.rows = [
        {"product_id": "a", "price": "10", "updated_at": 100},
        {"product_id": "b", "price": "25", "updated_at": 10_500},
        {"product_id": "new", "price": "5", "updated_at": 9_000},  # committed late
    ]
    now[0] = 10.5
    assert live.catalog(1, "v1", ["b", "a"]).price.tolist() == [20, 10]  # until the next look
    now[0] = 11.0
    version = columns.version
    columns = live.catalog(1, "v1", ["b", "a"])
    assert columns.item_ids == ["b", "a", "new"] and columns.price.tolist() == [25, 10, 5]
    assert catalog.asked[-1] == 8_000  # the rows of the seconds before the last look, not all
    now[0] = 12.0
    live.catalog(1, "v1", ["b", "a"])
    assert catalog.asked[-1] == 9_000
    assert columns.version == version + 1  # rows read again are not applied again
    rebuilt = live.catalog(1, "v2", ["a"])  # a new bundle: its own index space
    assert rebuilt.item_ids == ["a", "b", "new"] and catalog.asked[-1] is None
