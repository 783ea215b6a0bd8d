"""Automatic segments: planted kinds of customers found and told in words, the criterion
reported, assignment, files, stable ids, the plot, and a run on UCI Online Retail."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from relevo.segments import (
    OTHER,
    Bands,
    Centre,
    CustomerInputs,
    Customers,
    FeatureSpace,
    InvalidCustomers,
    NotEnoughCustomers,
    SegmentFilesError,
    SegmentModel,
    customer_from_profile,
    fit_segments,
    label,
    plot_segments,
)
from relevo.segments.describe import (
    category_words,
    frequency_words,
    recency_words,
    unique_labels,
    value_words,
)

UCI = Path(__file__).parents[2] / "shared" / "data" / "uci-online-retail"
DAY_MS = 86_400_000
CATEGORIES = ("home decor", "kitchen", "toys", "garden")
# The planted kinds: how many, and what their labels must say.
PLANTED = {
    "vip": (100, "top value, buys weekly, active, mostly home decor"),
    "regular": (250, "high value, buys monthly, active, mostly kitchen"),
    "fading": (250, "mid value, buys quarterly, lapsing, mostly toys"),
    "one-off": (300, "low value, bought once, lapsed, usual mix of categories"),
}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with threadpool_limits(1):  # a benchmark may share the machine: k-means on one core
        yield


def _mostly(rng: np.random.Generator, main: str) -> dict[str, float]:
    rest = [c for c in CATEGORIES if c != main]
    others = rng.dirichlet(np.ones(len(rest))) * 0.25
    return {main: 0.75, **{name: float(s) for name, s in zip(rest, others, strict=True)}}


def _planted(seed: int = 1, kinds: tuple[str, ...] = tuple(PLANTED)) -> list[CustomerInputs]:
    """Four obvious kinds of customers, and 40 prospects; the customer id says the kind."""
    rng = np.random.default_rng(seed)
    people: list[CustomerInputs] = []
    for kind in kinds:
        for i in range(PLANTED[kind][0]):
            if kind == "vip":  # ~40 orders in ~300 days, ~5,000 spent, last week
                tenure, orders = rng.uniform(280, 340), int(rng.integers(34, 46))
                revenue, recency = float(np.exp(rng.normal(8.5, 0.3))), rng.uniform(1, 6)
                categories = _mostly(rng, "home decor")
            elif kind == "regular":  # ~10 orders in ~300 days, ~650
                tenure, orders = rng.uniform(250, 350), int(rng.integers(8, 13))
                revenue, recency = float(np.exp(rng.normal(6.5, 0.3))), rng.uniform(5, 25)
                categories = _mostly(rng, "kitchen")
            elif kind == "fading":  # 3 orders in ~250 days, ~200, 2-5 months ago
                tenure, orders = rng.uniform(200, 300), 3
                revenue, recency = float(np.exp(rng.normal(5.3, 0.3))), rng.uniform(60, 150)
                categories = _mostly(rng, "toys")
            else:  # one order 7-12 months ago; its products had no category
                recency = rng.uniform(200, 360)
                tenure, orders, revenue = recency, 1, float(np.exp(rng.normal(3.5, 0.3)))
                categories = {}
            people.append(
                CustomerInputs(f"{kind}-{seed}-{i}", recency, orders, revenue, tenure, categories)
            )
    people += [CustomerInputs(f"prospect-{i}", 0.0, 0, 0.0, 0.0, {}) for i in range(40)]
    return [people[i] for i in rng.permutation(len(people))]


def _kind(customer_id: str) -> str:
    return customer_id.rsplit("-", 2)[0]


Planted = tuple[list[CustomerInputs], SegmentModel]


@pytest.fixture(scope="module")
def planted() -> Planted:
    people = _planted()
    with threadpool_limits(1):
        return people, fit_segments(people, k_range=(2, 8))


# --- the planted truth ------------------------------------------------------------------


def test_the_planted_kinds_are_found_and_told_in_words(planted: Planted) -> None:
    people, model = planted
    assert model.selection.criterion == "silhouette"
    assert model.selection.k == 4
    assert [s.id for s in model.segments] == ["seg-1", "seg-2", "seg-3", "seg-4"]
    assignments = model.assign(people)
    buyers = [(p, a) for p, a in zip(people, assignments, strict=True) if p.orders]
    truth = [_kind(p.customer_id) for p, _ in buyers]
    found = [a.segment_id for _, a in buyers]
    assert adjusted_rand_score(truth, found) == 1.0
    by_kind = {_kind(p.customer_id): a.label for p, a in buyers}
    assert by_kind == {kind: words for kind, (_, words) in PLANTED.items()}
    # seg-1 is the most valuable kind, and so on down.
    assert [s.label for s in model.segments] == [words for _, words in PLANTED.values()]
    assert [s.size for s in model.segments] == [size for size, _ in PLANTED.values()]
    assert model.customers == 900 and model.prospects == 40
    assert "prospects" in model.covers


def test_the_criterion_table_reports_every_k(planted: Planted) -> None:
    _, model = planted
    table = model.selection.candidates
    assert [c.k for c in table] == list(range(2, 9))
    assert all(-1.0 <= c.silhouette <= 1.0 and c.inertia > 0 for c in table)
    best = max(table, key=lambda c: c.silhouette)
    assert best.k == model.selection.k == 4
    assert best.silhouette > 0.5
    listed = model.as_dict()
    assert listed["criterion"] == "silhouette" and listed["k"] == 4
    assert [row["k"] for row in listed["candidates"]] == list(range(2, 9))
    assert [s["size"] for s in listed["segments"]] == [100, 250, 250, 300]
    assert all(s["summary"].startswith(f"{s['size']:,} customers") for s in listed["segments"])
    json.dumps(listed)  # what the API will answer is plain JSON


def test_assign_gives_the_training_customers_their_segments(planted: Planted) -> None:
    people, model = planted
    assignments = model.assign(people)
    assert [a.customer_id for a in assignments] == [p.customer_id for p in people]
    prospects = [a for p, a in zip(people, assignments, strict=True) if p.orders == 0]
    assert len(prospects) == 40
    assert all(a.segment_id is None and a.label is None for a in prospects)
    assert {a.reason for a in prospects} == {"prospect: no order yet"}
    sizes: dict[str | None, int] = {}
    for a in assignments:
        sizes[a.segment_id] = sizes.get(a.segment_id, 0) + 1
    expected: dict[str | None, int] = {s.id: s.size for s in model.segments}
    assert sizes == {None: 40, **expected}
    # A new customer like the VIPs lands with them.
    vip = CustomerInputs("new", 2.0, 40, 5200.0, 300.0, {"home decor": 9.0, "toys": 1.0})
    assert model.assign([vip])[0].segment_id == "seg-1"


def test_k_chosen_on_a_sample_then_fitted_on_everyone() -> None:
    people = _planted(seed=5)
    model = fit_segments(people, sample_size=300, seed=2)
    assert model.selection.sample_size == 300 and model.selection.k == 4
    assert [s.size for s in model.segments] == [size for size, _ in PLANTED.values()]
    assert [s.label for s in model.segments] == [words for _, words in PLANTED.values()]


def test_fitting_twice_gives_the_same_segments() -> None:
    people = _planted(seed=3)
    first = fit_segments(people).as_dict()
    assert fit_segments(people).as_dict() == first
    assert fit_segments(list(reversed(people))).as_dict()["segments"] == first["segments"]


def test_save_and_load_round_trip(planted: Planted, tmp_path: Path) -> None:
    people, model = planted
    model.save(tmp_path / "segments")
    assert sorted(p.name for p in (tmp_path / "segments").iterdir()) == [
        "segments.json",
        "segments.npz",
    ]
    loaded = SegmentModel.load(tmp_path / "segments")
    assert loaded.as_dict() == model.as_dict()
    assert loaded.assign(people) == model.assign(people)
    assert np.array_equal(loaded.centroids, model.centroids)
    assert loaded.last_number == model.last_number and loaded.bands == model.bands

    document = json.loads((tmp_path / "segments" / "segments.json").read_text())
    (tmp_path / "segments" / "segments.json").write_text(json.dumps({**document, "format": 99}))
    with pytest.raises(SegmentFilesError, match="format 99"):
        SegmentModel.load(tmp_path / "segments")
    with pytest.raises(SegmentFilesError, match="relevo train"):
        SegmentModel.load(tmp_path / "nowhere")


def _ids_by_kind(model: SegmentModel, people: list[CustomerInputs]) -> dict[str, str]:
    pairs = {(_kind(a.customer_id), a.segment_id) for a in model.assign(people) if a.segment_id}
    assert len(pairs) == len({kind for kind, _ in pairs}), "a kind split between segments"
    return {kind: segment_id for kind, segment_id in pairs if segment_id}


def test_ids_follow_the_kinds_across_retraining(planted: Planted) -> None:
    people, model = planted
    first = _ids_by_kind(model, people)
    assert first == {"vip": "seg-1", "regular": "seg-2", "fading": "seg-3", "one-off": "seg-4"}
    # Other customers of the same kinds: each kind keeps its id.
    people = _planted(seed=7)
    again = fit_segments(people, previous=model)
    assert _ids_by_kind(again, people) == first
    # The fading customers gone: their id is gone too, the others keep theirs (whatever words
    # the new spread of customers gives them).
    people = _planted(seed=8, kinds=("vip", "regular", "one-off"))
    without = fit_segments(people, k_range=(2, 8), previous=again)
    assert _ids_by_kind(without, people) == {k: i for k, i in first.items() if k != "fading"}
    # They come back: a new number, never the retired seg-3, which a condition may still name.
    people = _planted(seed=9)
    back = fit_segments(people, previous=without)
    assert _ids_by_kind(back, people) == {**first, "fading": "seg-5"}
    assert back.last_number == 5
    # Ordered by value all the same.
    assert [s.id for s in back.segments] == ["seg-1", "seg-2", "seg-5", "seg-4"]


# --- features -------------------------------------------------------------------------


def test_features_are_log_standardised_with_weighted_category_shares() -> None:
    customers = Customers.from_inputs(_planted()).buyers()
    space = FeatureSpace.fit(customers, top_categories=3, category_weight=0.5)
    assert space.categories == ("kitchen", "toys", "home decor", OTHER)  # garden pooled
    features = space.transform(customers)
    rfm, block = features[:, :3], features[:, 3:]
    assert np.allclose(rfm.mean(axis=0), 0.0) and np.allclose(rfm.std(axis=0), 1.0)
    assert np.isclose(block.var(axis=0).sum(), 0.5 * 3)  # a third of the whole spread
    # Customers with no known category sit at the average shares.
    unknown = np.flatnonzero(customers.category_shares.sum(axis=1) == 0)
    assert len(unknown) == 300
    assert np.allclose(space.shares(customers.take(unknown)), space.fill_shares)
    assert np.isclose(space.fill_shares.sum(), 1.0)
    assert space.names[:3] == ("recency_days", "orders", "revenue")


def test_customers_from_a_frame_equal_customers_from_records() -> None:
    records = [
        CustomerInputs("a", 3.0, 4, 120.0, 90.0, {"toys": 30.0, "garden": 10.0}),
        CustomerInputs("b", 40.0, 1, 15.5, 40.0, {}),
        CustomerInputs("c", 0.0, 0, 0.0, 0.0, {}),
    ]
    frame = pl.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "recency_days": [3.0, 40.0, 0.0],
            "orders": [4, 1, 0],
            "revenue": [120.0, 15.5, 0.0],
            "tenure_days": [90.0, 40.0, 0.0],
        }
    )
    long = pl.DataFrame(
        {"customer_id": ["a", "a", "a", "z"], "category": ["toys", "garden", "toys", "toys"]}
    ).with_columns(score=pl.Series([20.0, 10.0, 10.0, 5.0]))
    one, other = Customers.from_inputs(records), Customers.from_frame(frame, long)
    assert one.ids == other.ids and one.category_names == other.category_names == ("toys", "garden")
    for column in ("recency_days", "orders", "revenue", "tenure_days", "category_shares"):
        assert np.array_equal(getattr(one, column), getattr(other, column)), column
    assert one.category_shares[0].tolist() == [0.75, 0.25]
    assert one.buyers().ids == ("a", "b")


def test_inputs_the_segments_cannot_use_are_refused() -> None:
    with pytest.raises(InvalidCustomers, match="listed twice"):
        Customers.from_inputs([CustomerInputs("a", 1, 1, 1, 1), CustomerInputs("a", 1, 1, 1, 1)])
    with pytest.raises(InvalidCustomers, match="empty or infinite"):
        Customers.from_inputs([CustomerInputs("a", float("nan"), 1, 1.0, 1.0)])
    with pytest.raises(InvalidCustomers, match="no column orders, revenue, tenure_days"):
        Customers.from_frame(pl.DataFrame({"customer_id": ["a"], "recency_days": [1.0]}))
    with pytest.raises(NotEnoughCustomers, match="at least 20"):
        fit_segments([CustomerInputs(str(i), i, 1, 10.0 * i, i) for i in range(10)])
    with pytest.raises(InvalidCustomers, match="k_range"):
        fit_segments(_planted(), k_range=(1, 4))
    # Refunds above spend and a last order in the future count as zero, not as an error.
    odd = Customers.from_inputs([CustomerInputs("a", -2.0, 1, -5.0, 10.0)])
    assert odd.recency_days[0] == 0.0 and odd.revenue[0] == 0.0


def test_a_profiles_computed_state_as_segment_inputs() -> None:
    now = 1_700_000_000_000
    computed = {
        "orders": 3,
        "revenue": 120.5,
        "last_order_at": now - 10 * DAY_MS,
        "first_order_at": now - 100 * DAY_MS,
        "interests": {
            "categories": {"Home": [4.0, now - 30 * DAY_MS], "Toys": [4.0, now - 60 * DAY_MS]}
        },
    }
    person = customer_from_profile("p1", computed, now, interest_half_life_ms=30 * DAY_MS)
    assert (person.recency_days, person.orders, person.revenue, person.tenure_days) == (
        10.0,
        3,
        120.5,
        100.0,
    )
    assert person.categories == {"Home": 2.0, "Toys": 1.0}  # decayed to now
    refunded = customer_from_profile(
        "p1", {**computed, "refunded": 20.5}, now, interest_half_life_ms=30 * DAY_MS
    )
    assert refunded.revenue == 100.0
    prospect = customer_from_profile("p2", {"events": 4}, now, interest_half_life_ms=1.0)
    assert (prospect.orders, prospect.recency_days, prospect.categories) == (0, 0.0, {})


# --- words ----------------------------------------------------------------------------

BANDS = Bands(
    revenue=(100.0, 500.0, 2000.0),
    recency_days=(30.0, 120.0),
    category_shares={"home decor": 0.3, "kitchen": 0.3, "toys": 0.2, "garden": 0.2},
)


def _centre(**change: object) -> Centre:
    values: dict[str, object] = {
        "recency_days": 10.0,
        "orders": 12.0,
        "revenue": 3000.0,
        "tenure_days": 360.0,
        "days_per_order": 30.0,
        "categories": {"home decor": 0.7, "kitchen": 0.1, "toys": 0.1, "garden": 0.1},
    }
    return Centre(**{**values, **change})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("revenue", "words"),
    [(2000.0, "top value"), (1999.0, "high value"), (500.0, "high value"), (499.0, "mid value"),
     (100.0, "mid value"), (99.0, "low value")],
)  # fmt: skip
def test_value_words_follow_the_revenue_bands(revenue: float, words: str) -> None:
    assert value_words(revenue, BANDS) == words


@pytest.mark.parametrize(
    ("orders", "days", "words"),
    [(1.0, 5.0, "bought once"), (1.5, 5.0, "bought once"), (2.0, 10.0, "buys weekly"),
     (5.0, 11.0, "buys monthly"), (5.0, 45.0, "buys monthly"), (3.0, 90.0, "buys quarterly"),
     (2.0, 121.0, "buys rarely")],
)  # fmt: skip
def test_frequency_words_follow_days_per_order(orders: float, days: float, words: str) -> None:
    assert frequency_words(_centre(orders=orders, days_per_order=days)) == words


@pytest.mark.parametrize(
    ("days", "words"), [(0.0, "active"), (30.0, "active"), (31.0, "lapsing"), (120.0, "lapsing"),
                        (121.0, "lapsed")],
)  # fmt: skip
def test_recency_words_follow_the_recency_bands(days: float, words: str) -> None:
    assert recency_words(days, BANDS) == words


@pytest.mark.parametrize(
    ("shares", "words"),
    [
        ({"home decor": 0.7, "kitchen": 0.1, "toys": 0.1, "garden": 0.1}, "mostly home decor"),
        ({"toys": 0.35, "garden": 0.35, "home decor": 0.15, "kitchen": 0.15},
         "mostly garden and toys"),
        ({"toys": 0.32, "home decor": 0.28, "kitchen": 0.2, "garden": 0.2}, "more toys than most"),
        ({"home decor": 0.3, "kitchen": 0.3, "toys": 0.2, "garden": 0.2},
         "usual mix of categories"),
        # As much home decor as everyone: not what sets the segment apart.
        ({"home decor": 0.34, "kitchen": 0.26, "toys": 0.2, "garden": 0.2},
         "usual mix of categories"),
        ({OTHER: 0.9, "toys": 0.1}, "usual mix of categories"),
        ({}, None),
    ],
)  # fmt: skip
def test_category_words_say_what_the_segment_buys_more_of(
    shares: dict[str, float], words: str | None
) -> None:
    overall = {**BANDS.category_shares, OTHER: 0.1} if OTHER in shares else BANDS.category_shares
    assert category_words(shares, overall if shares else {}) == words


def test_a_label_joins_the_words_and_is_deterministic() -> None:
    centre = _centre()
    assert label(centre, BANDS) == "top value, buys monthly, active, mostly home decor"
    assert label(centre, BANDS) == label(_centre(), BANDS)
    no_categories = Bands(BANDS.revenue, BANDS.recency_days, {})
    assert label(_centre(categories={}), no_categories) == "top value, buys monthly, active"
    assert unique_labels(["seg-1", "seg-2", "seg-3"], ["a", "b", "a"]) == [
        "a (seg-1)",
        "b",
        "a (seg-3)",
    ]


# --- the plot -------------------------------------------------------------------------


def test_the_plot_is_written_as_a_png(planted: Planted, tmp_path: Path) -> None:
    people, model = planted
    path = plot_segments(model, Customers.from_inputs(people), tmp_path / "plots" / "seg.png")
    data = path.read_bytes()
    assert path == tmp_path / "plots" / "seg.png"
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000


# --- UCI Online Retail ----------------------------------------------------------------

# The data set has no categories: a few keywords of the product descriptions stand in for them
# (first match wins); the products they miss add to no category.
UCI_CATEGORIES = (
    ("christmas", r"CHRISTMAS|XMAS|ADVENT|SANTA|REINDEER|SNOWFLAKE|NATIVITY"),
    ("bags", r"\bBAGS?\b|SHOPPER|TOTE"),
    (
        "kitchen & dining",
        r"CAKE|\bTEA\b|TEACUP|MUG|\bCUPS?\b|SAUCER|PLATE|BOWL|\bJAR|CUTLERY|PANTRY|BAKING|"
        r"KITCHEN|COFFEE|\bJAM\b|BOTTLE|LUNCH BOX|NAPKIN|DOILY|RECIPE|SPOON|\bJUG\b|TRAY|"
        r"\bTINS?\b|APRON|OVEN|EGG",
    ),
    (
        "stationery & gift wrap",
        r"PAPER|\bCARDS?\b|WRAP|NOTEBOOK|\bPEN\b|PENCIL|STICKER|RIBBON|TAPE|CHALK|ENVELOPE|"
        r"GIFT TAG|JOURNAL|ERASER|RULER|CRAYON",
    ),
    (
        "toys & games",
        r"CHILDRENS|DOLLY|\bTOYS?\b|GAME|SPACEBOY|PLAYHOUSE|JIGSAW|KIDS|FELTCRAFT|\bDOLL|"
        r"SKIPPING|PUZZLE|BALLOON|SPINNING TOP|SOLDIER",
    ),
    (
        "jewellery & accessories",
        r"NECKLACE|EARRING|BRACELET|\bRINGS?\b|JEWEL|\bHAIR|PURSE|UMBRELLA|CHARM|BROOCH|"
        r"WALLET|SCARF|HANDBAG|KEY ?RING",
    ),
    ("garden", r"GARDEN|PARASOL|WATERING|PLANT|FLOWER POT|BIRD FEEDER|BIRDHOUSE|PICNIC"),
    (
        "home decor",
        r"HOLDER|T-LIGHT|CANDLE|LANTERN|FRAME|\bSIGN\b|DOORMAT|CLOCK|CUSHION|BUNTING|"
        r"DECORATION|HANGING|LIGHTS|WICKER|DRAWER|CABINET|KNOB|MIRROR|VASE|ORNAMENT|PLAQUE|"
        r"HOOK|WALL|DOORSTOP|HEART|STORAGE|BOX|BASKET|LAMP|QUILT|THROW|CHANDELIER",
    ),
)


def _uci_customers() -> Customers:
    with gzip.open(UCI / "online_retail.csv.gz") as file:
        raw = pl.read_csv(
            file.read(),
            schema_overrides={"InvoiceNo": pl.Utf8, "StockCode": pl.Utf8, "CustomerID": pl.Utf8},
        )
    # Purchases of known customers: cancellations and lines without a positive quantity and
    # price left out, as in the usual RFM preparation of this data set.
    lines = raw.filter(
        pl.col("CustomerID").is_not_null()
        & ~pl.col("InvoiceNo").str.starts_with("C")
        & (pl.col("Quantity") > 0)
        & (pl.col("UnitPrice") > 0)
    ).with_columns(
        pl.col("InvoiceDate").str.to_datetime("%Y-%m-%d %H:%M:%S"),
        (pl.col("Quantity") * pl.col("UnitPrice")).alias("value"),
        pl.col("Description").fill_null("").str.to_uppercase(),
    )
    end = lines["InvoiceDate"].max()
    days = 86_400.0
    per_customer = (
        lines.group_by("CustomerID")
        .agg(
            pl.col("InvoiceNo").n_unique().alias("orders"),
            pl.col("value").sum().alias("revenue"),
            ((pl.lit(end) - pl.col("InvoiceDate").max()).dt.total_seconds() / days).alias(
                "recency_days"
            ),
            ((pl.lit(end) - pl.col("InvoiceDate").min()).dt.total_seconds() / days).alias(
                "tenure_days"
            ),
        )
        .rename({"CustomerID": "customer_id"})
        .sort("customer_id")
    )
    category = pl.lit(None, dtype=pl.Utf8)
    for name, pattern in reversed(UCI_CATEGORIES):
        category = (
            pl.when(pl.col("Description").str.contains(pattern))
            .then(pl.lit(name))
            .otherwise(category)
        )
    spend = (
        lines.filter(pl.col("StockCode").str.contains(r"^\d{5}"))  # products, not postage
        .with_columns(category.alias("category"))
        .group_by("CustomerID", "category")
        .agg(pl.col("value").sum().alias("score"))
        .rename({"CustomerID": "customer_id"})
    )
    return Customers.from_frame(per_customer, spend)


@pytest.mark.skipif(
    not UCI.is_dir(), reason=f"the UCI Online Retail data set is not at {UCI} (shared/data)"
)
def test_segments_of_uci_online_retail(tmp_path: Path) -> None:
    started = time.perf_counter()
    customers = _uci_customers()
    read = time.perf_counter()
    model = fit_segments(customers)
    fitted = time.perf_counter()
    path = plot_segments(model, customers, tmp_path / "uci_segments.png")
    plotted = time.perf_counter()
    print(
        f"\nUCI: {len(customers):,} customers, inputs {read - started:.1f} s, fit "
        f"{fitted - read:.1f} s, plot {plotted - fitted:.1f} s; {model.covers}"
    )
    for c in model.selection.candidates:
        print(f"  k={c.k} silhouette={c.silhouette:.3f} smallest={c.smallest_share:.1%}")
    for s in model.segments:
        print(f"  {s.id} {s.size:>5,} ({s.share:.1%}) {s.label} | {s.summary}")
    assert len(customers) == 4338 and model.prospects == 0
    assert 2 <= model.selection.k <= 8 and len(model.segments) == model.selection.k
    assert [c.k for c in model.selection.candidates] == list(range(3, 9))
    assert sum(s.size for s in model.segments) == 4338
    assert all(s.label and s.size > 0 for s in model.segments)
    assert len({s.label for s in model.segments}) == len(model.segments)
    # The most valuable segment buys more often and more recently than the least valuable.
    top, bottom = model.segments[0].centre, model.segments[-1].centre
    assert top.revenue > bottom.revenue and top.orders > bottom.orders
    assert top.recency_days < bottom.recency_days
    assert fitted - read < 60
    assert path.stat().st_size > 20_000
