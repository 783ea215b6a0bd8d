"""Every recommender on a small synthetic shop whose right answers are known: two groups of
people with their own items, order pairs, a later-order pattern, and sessions. One contract
for all models (group-consistent answers, save/load, batched = single scoring)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from relevo.recs.after import BoughtAfter
from relevo.recs.base import Query, Recommender
from relevo.recs.collaborative import ALS, EASE, ItemKNN
from relevo.recs.data import CatalogItem, Interactions, ItemTable, Kind
from relevo.recs.personal import ForYou
from relevo.recs.repeat import BuyAgain
from relevo.recs.sessions import RecentlyViewed, SessionKNN
from relevo.recs.similar_items import SimilarItems
from relevo.recs.strategies import STRATEGIES
from relevo.recs.together import FrequentlyBoughtTogether
from relevo.recs.training import interactions_and_items
from relevo.recs.trending import Trending

DAY = 86_400_000
GROUP_A = ["a1", "a2", "a3", "a4"]
GROUP_B = ["b1", "b2", "b3", "b4"]


def _shop() -> tuple[Interactions, ItemTable]:
    rows = []
    rng = np.random.default_rng(1)
    for n in range(60):
        group = GROUP_A if n % 2 == 0 else GROUP_B
        user = f"p{n}"
        t0 = (n % 10) * DAY
        # first order: the pair (x1, x2); a later order: x3 (the "after" item); views: x4
        for item in group[:2]:
            rows.append((user, item, t0, Kind.PURCHASE, f"{user}-o1"))
        rows.append((user, group[2], t0 + 20 * DAY, Kind.PURCHASE, f"{user}-o2"))
        for k in range(3):
            rows.append((user, group[int(rng.integers(0, 4))], t0 + 40 * DAY + k, Kind.VIEW, None))
    frame = pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "timestamp": [r[2] for r in rows],
            "kind": [int(r[3]) for r in rows],
            "basket_id": [r[4] for r in rows],
        },
        schema_overrides={"basket_id": pl.Utf8},
    )
    catalog = [
        CatalogItem(i, title=f"{'oak' if i[0] == 'a' else 'steel'} thing {i}", category=i[0])
        for i in GROUP_A + GROUP_B
    ] + [CatalogItem("a-new", title="oak thing new", category="a")]  # nobody has seen it
    return interactions_and_items(frame, catalog)


MODELS = {
    "trending": Trending,
    "buy_again": BuyAgain,
    "ease": EASE,
    "item_knn": ItemKNN,
    "ials": lambda: ALS(factors=8, iterations=10),
    "for_you": ForYou,
    "bought_together": FrequentlyBoughtTogether,
    "bought_after": BoughtAfter,
    "session": SessionKNN,
    "recently_viewed": RecentlyViewed,
    "similar": SimilarItems,
}


@pytest.fixture(scope="module")
def shop() -> tuple[Interactions, ItemTable]:
    return _shop()


def _query(data: Interactions, items: list[str], kind: Kind = Kind.VIEW, **kw: object) -> Query:
    idx = np.asarray([data.item_index(i) for i in items], dtype=np.int32)
    return Query(
        now=100 * DAY,
        history=idx,
        history_times=np.arange(idx.size, dtype=np.int64) + 99 * DAY,
        history_kinds=np.full(idx.size, int(kind), dtype=np.int8),
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("name", sorted(MODELS))
def test_contract_save_load_and_batching(
    name: str, shop: tuple[Interactions, ItemTable], tmp_path: Path
) -> None:
    data, items = shop
    model: Recommender = MODELS[name]()
    model.fit(data, items)
    queries = [
        _query(data, ["a1"], context_items=np.asarray([data.item_index("a1")], np.int32)),
        _query(data, ["b1", "b2"], Kind.PURCHASE),
        Query(now=100 * DAY, user=0),
        Query(now=100 * DAY),  # a stranger: must not fail
    ]
    single = np.vstack([model.score(q) for q in queries])
    assert single.shape == (len(queries), data.n_items)
    np.testing.assert_allclose(model.score_many(queries), single, rtol=1e-5, atol=1e-6)
    model.save(tmp_path)
    again = type(model).load(tmp_path)
    np.testing.assert_allclose(again.score_many(queries), single, rtol=1e-5, atol=1e-6)
    for q in queries:
        for item in np.argsort(-model.score(q))[:2]:
            assert isinstance(model.explain(q, int(item)), str)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_contract_a_forgotten_person_is_scored_as_a_stranger_and_stays_forgotten(
    name: str, shop: tuple[Interactions, ItemTable], tmp_path: Path
) -> None:
    """Whatever a model keeps of a trained person goes with `forget_users`; the user index
    space stays (everyone else keeps their index), and a saved model stays forgotten."""
    data, items = shop
    model: Recommender = MODELS[name]()
    model.fit(data, items)
    as_them = _query(data, ["a1"], Kind.PURCHASE, user=0)
    stranger = _query(data, ["a1"], Kind.PURCHASE)
    someone_else = _query(data, ["b1"], user=1)
    before = model.score(someone_else)
    model.forget_users(np.asarray([0], dtype=np.int64))
    model.forget_users(np.asarray([0, data.n_users + 5], dtype=np.int64))  # again; out of range
    np.testing.assert_array_equal(model.score(as_them), model.score(stranger))
    if name != "session":  # other visits were compared with the forgotten person's sessions
        np.testing.assert_array_equal(model.score(someone_else), before)
    model.save(tmp_path)
    again = type(model).load(tmp_path)
    np.testing.assert_array_equal(again.score(as_them), again.score(stranger))


@pytest.mark.parametrize("name", ["ease", "item_knn", "ials", "for_you", "similar", "session"])
def test_people_of_one_group_get_that_groups_items(
    name: str, shop: tuple[Interactions, ItemTable]
) -> None:
    data, items = shop
    model = MODELS[name]()
    model.fit(data, items)
    for seen, group in ((["a1", "a2"], GROUP_A), (["b1", "b2"], GROUP_B)):
        scores = model.score(_query(data, seen))
        ranked = [data.item_ids[i] for i in np.argsort(-scores) if scores[i] > 0]
        top = [i for i in ranked if i not in seen][:2]
        assert top and all(i in group for i in top), (name, seen, ranked)


def test_bought_together_after_and_similar_know_their_answers(
    shop: tuple[Interactions, ItemTable],
) -> None:
    data, items = shop
    a1 = np.asarray([data.item_index("a1")], np.int32)
    q = Query(now=100 * DAY, context_items=a1)

    fbt = FrequentlyBoughtTogether()
    fbt.fit(data, items)
    best = int(np.argmax(fbt.score(q)))
    assert data.item_ids[best] == "a2"
    assert fbt.explain(q, best) == "bought_together:a1"

    after = BoughtAfter()
    after.fit(data, items)
    best = int(np.argmax(after.score(q)))
    assert data.item_ids[best] == "a3"  # bought in the later order
    assert after.explain(q, best) == "bought_after:a1"

    similar = SimilarItems()
    similar.fit(data, items)
    new = np.asarray([data.item_index("a-new")], np.int32)
    scores = similar.score(Query(now=100 * DAY, context_items=new))
    top = data.item_ids[int(np.argmax(scores))]
    assert top.startswith("a") and scores.max() > 0  # content alone, for an unseen product


def test_bought_after_prefers_other_categories() -> None:
    # Sofa buyers come back for a second sofa as often as for an armchair.
    rows = []
    for n in range(20):
        user = f"p{n}"
        rows += [(user, "sofa", 0, "o1"), (user, "sofa-2", 10 * DAY, "o2")]
        rows += [(user, "armchair", 11 * DAY, "o3")]
    frame = pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "timestamp": [r[2] for r in rows],
            "kind": [int(Kind.PURCHASE)] * len(rows),
            "basket_id": [r[3] for r in rows],
        }
    )
    catalog = [
        CatalogItem("sofa", category="Sofas"),
        CatalogItem("sofa-2", category="Sofas"),
        CatalogItem("armchair", category="Chairs"),
    ]
    data, items = interactions_and_items(frame, catalog)
    model = BoughtAfter()
    model.fit(data, items)
    scores = model.score(Query(now=20 * DAY, context_items=np.asarray([0], np.int32)))
    assert scores[data.item_index("armchair")] > scores[data.item_index("sofa-2")] > 0


def test_every_strategy_is_trained_by_a_registered_model() -> None:
    for name, spec in STRATEGIES.items():
        assert spec.model_key in STRATEGIES, name
        for fallback in spec.fallbacks:
            assert fallback in STRATEGIES, (name, fallback)


def test_session_knn_can_bring_back_an_item_of_the_visit() -> None:
    """Past visits went shoes -> socks -> shoes: after shoes, socks, the shoes come back."""
    rows = []
    for n in range(20):
        for k, item in enumerate(["shoes", "socks", "shoes", "laces" if n % 4 else "belt"]):
            rows.append((f"v{n}", item, n * DAY + k * 60_000))
    frame = pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "timestamp": [r[2] for r in rows],
            "kind": [int(Kind.VIEW)] * len(rows),
            "basket_id": [None] * len(rows),
        },
        schema_overrides={"basket_id": pl.Utf8},
    )
    data, _ = interactions_and_items(frame, [])
    model = SessionKNN()
    model.fit(data)
    scores = model.score(_query(data, ["shoes", "socks"]))
    assert scores[data.item_index("shoes")] > 0
    assert scores[data.item_index("shoes")] > scores[data.item_index("belt")]
