"""A GDPR erasure reaches every trained model: a known person who bought distinctive items is
forgotten in memory, in the saved files of every stored version (rewritten while servers may be
loading them), in a bundle that was training while they were erased, and in bundles a server
loads later."""

from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from rich.progress import Progress, TaskID

from relevo.cli.recs import train_workspace
from relevo.recs.base import Query, Recommender
from relevo.recs.bundle import Bundle
from relevo.recs.collaborative import ALS, EASE, ItemKNN
from relevo.recs.data import CatalogItem, Interactions, ItemTable, Kind
from relevo.recs.forgetting import forget_in_stored_models
from relevo.recs.live import LiveBundles
from relevo.recs.personal import ForYou
from relevo.recs.repeat import BuyAgain
from relevo.recs.sessions import SessionKNN
from relevo.recs.strategies import STRATEGIES
from relevo.recs.training import interactions_and_items, train_bundle
from relevo.storage.model_store import LOCK, ModelStore
from tests.conftest import Api

DAY = 86_400_000
GROUP_A = ["a1", "a2", "a3", "a4"]
GROUP_B = ["b1", "b2", "b3", "b4"]
ZED = 999  # the person who is erased; nobody else ever touched the z items
ZED_ITEMS = ["z1", "z2", "z3", "z4"]
OTHERS = [100 + n for n in range(40)]
NAMES = [name for name, spec in STRATEGIES.items() if spec.model_key == name]
PERSONAL_MODELS: dict[str, Callable[[], Recommender]] = {
    "ease": EASE,
    "item_knn": ItemKNN,
    "ials": lambda: ALS(factors=8, iterations=10),
    "buy_again": BuyAgain,
    "for_you": ForYou,
}


def _shop() -> tuple[Interactions, ItemTable]:
    rows: list[tuple[str, str, int, Kind, str | None]] = []
    rng = np.random.default_rng(3)
    for n, person in enumerate(OTHERS):
        group = GROUP_A if n % 2 == 0 else GROUP_B
        user, t0 = str(person), (n % 10) * DAY
        for item in group[:2]:
            rows.append((user, item, t0, Kind.PURCHASE, f"{user}-o1"))
        rows.append((user, group[2], t0 + 20 * DAY, Kind.PURCHASE, f"{user}-o2"))
        for k in range(3):
            item = group[int(rng.integers(0, 4))]
            rows.append((user, item, t0 + 40 * DAY + k * 60_000, Kind.VIEW, None))
    zed = str(ZED)
    rows += [
        (zed, "z1", DAY, Kind.PURCHASE, "z-o1"),
        (zed, "z2", DAY, Kind.PURCHASE, "z-o1"),
        (zed, "a1", DAY, Kind.PURCHASE, "z-o1"),
        (zed, "z3", 30 * DAY, Kind.PURCHASE, "z-o2"),
        (zed, "z3", 60 * DAY, Kind.PURCHASE, "z-o3"),
        (zed, "z1", 61 * DAY, Kind.VIEW, None),
        (zed, "z4", 61 * DAY + 60_000, Kind.VIEW, None),
    ]
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
        CatalogItem(i, title=f"{ {'a': 'oak', 'b': 'steel', 'z': 'glass'}[i[0]] } thing {i}")
        for i in GROUP_A + GROUP_B + ZED_ITEMS
    ]
    return interactions_and_items(frame, catalog)


@pytest.fixture(scope="module")
def shop() -> tuple[Interactions, ItemTable]:
    return _shop()


def _bundle(shop: tuple[Interactions, ItemTable]) -> Bundle:
    data, items = shop
    return train_bundle(data, items, "v1", NAMES)


def _query(data: Interactions, user: int | None, items: Sequence[str] = ()) -> Query:
    idx = np.asarray([data.item_index(i) for i in items], dtype=np.int32)
    return Query(
        now=100 * DAY,
        user=user,
        history=idx,
        history_times=np.arange(idx.size, dtype=np.int64) + 99 * DAY,
        history_kinds=np.full(idx.size, int(Kind.VIEW), dtype=np.int8),
        context_items=idx,
    )


def _held(folder: Path, user: int, n_users: int, z_columns: list[int]) -> dict[str, bool]:
    """Every array of a saved model or bundle that can hold something of ZED (user index
    `user`), and whether it does: rows of people x items matrices, past sessions (the z items
    are only ever in ZED's), the bundle's user ids. Read as plain files, allow_pickle=False."""
    held: dict[str, bool] = {}
    for path in sorted(folder.rglob("*.npz")):
        where = path.relative_to(folder).as_posix()
        with np.load(path, allow_pickle=False) as z:
            if "user_ids" in z.files:
                held[f"{where}:user_ids"] = str(ZED) in z["user_ids"].tolist()
            for name in z.files:
                if not name.endswith("__shape"):
                    continue
                base = name[: -len("__shape")]
                shape, indptr = z[name], z[f"{base}__indptr"]
                if base == "sessions":
                    indices = z[f"{base}__indices"]
                    held[f"{where}:sessions"] = bool(np.isin(indices, z_columns).any())
                    if "owners" in z.files:
                        held[f"{where}:owners"] = bool((z["owners"] == user).any())
                elif shape[0] == n_users:  # people x items
                    held[f"{where}:{base}"] = bool(indptr[user + 1] > indptr[user])
    return held


def _z_columns(data: Interactions) -> list[int]:
    return [i for i in (data.item_index(z) for z in ZED_ITEMS) if i is not None]


def test_a_forgotten_person_is_no_longer_found_and_gone_from_every_saved_model(
    shop: tuple[Interactions, ItemTable], tmp_path: Path
) -> None:
    data, _ = shop
    bundle = _bundle(shop)
    zed = bundle.user_index(ZED)
    assert zed is not None
    (tmp_path / "before").mkdir()
    bundle.save(tmp_path / "before")
    before = _held(tmp_path / "before", zed, len(bundle.user_ids), _z_columns(data))
    assert {
        "users.npz:user_ids",
        "for_you/repeat/arrays.npz:purchases",
        "for_you/collaborative/arrays.npz:user_rows",
        "session/arrays.npz:sessions",
        "session/arrays.npz:owners",
    } <= {k for k, v in before.items() if v}, before

    assert bundle.forget([ZED, 123_456]) == 1  # someone never trained on: nothing to forget
    assert bundle.user_index(ZED) is None
    assert bundle.user_ids[zed] == "" and len(bundle.user_ids) == len(OTHERS) + 1
    assert bundle.forget([ZED]) == 0
    (tmp_path / "after").mkdir()
    bundle.save(tmp_path / "after")
    after = _held(tmp_path / "after", zed, len(bundle.user_ids), _z_columns(data))
    assert after.keys() == before.keys()
    assert not any(after.values()), after
    assert Bundle.load(tmp_path / "after").user_index(ZED) is None


@pytest.mark.parametrize("name", [*sorted(PERSONAL_MODELS), "session"])
def test_each_personal_model_forgets_the_persons_rows_in_its_saved_files(
    name: str, shop: tuple[Interactions, ItemTable], tmp_path: Path
) -> None:
    data, items = shop
    model = (PERSONAL_MODELS.get(name) or SessionKNN)()
    model.fit(data, items)
    zed = data.user_ids.index(str(ZED))
    before, after = tmp_path / "before", tmp_path / "after"
    for folder in (before, after):
        folder.mkdir()
    model.save(before)
    assert any(_held(before, zed, data.n_users, _z_columns(data)).values())
    model.forget_users(np.asarray([zed], dtype=np.int64))
    model.save(after)
    held = _held(after, zed, data.n_users, _z_columns(data))
    assert held and not any(held.values()), held


@pytest.mark.parametrize("name", sorted(PERSONAL_MODELS))
def test_other_peoples_answers_do_not_change_and_the_forgotten_one_is_a_stranger(
    name: str, shop: tuple[Interactions, ItemTable]
) -> None:
    data, items = shop
    model = PERSONAL_MODELS[name]()
    model.fit(data, items)
    zed = data.user_ids.index(str(ZED))
    others = [_query(data, data.user_ids.index(str(p)), ["a1"] if p % 3 else []) for p in OTHERS]
    as_zed = _query(data, zed, ["z1"])
    before = model.score_many(others)
    zed_before = model.score(as_zed)
    model.forget_users(np.asarray([zed], dtype=np.int64))
    np.testing.assert_array_equal(model.score_many(others), before)
    stranger = model.score(_query(data, None, ["z1"]))
    np.testing.assert_array_equal(model.score(as_zed), stranger)
    assert not np.array_equal(zed_before, stranger)  # the person's rows did count before


def test_in_a_bundle_only_the_session_strategy_answers_differently_for_others(
    shop: tuple[Interactions, ItemTable],
) -> None:
    data, _ = shop
    bundle = _bundle(shop)
    queries = [_query(data, bundle.user_index(p), ["a1", "b2"][: 1 + p % 2]) for p in OTHERS]
    before = {name: model.score_many(queries) for name, model in bundle.models.items()}
    z1 = _query(data, None, ["z1"])
    assert bundle.models["session"].score(z1)[data.item_index("z4")] > 0  # zed's visit
    bundle.forget([ZED])
    for name, model in bundle.models.items():
        if name != "session":  # other visits were compared with the forgotten one's
            np.testing.assert_array_equal(model.score_many(queries), before[name], err_msg=name)
    assert not bundle.models["session"].score(z1).any()


def _publish(store: ModelStore, bundle: Bundle, workspace_id: int = 1) -> str:
    with store.new_version(workspace_id) as (version, folder):
        bundle.version = version
        bundle.save(folder)
    return version


def test_forgetting_rewrites_every_stored_version(
    shop: tuple[Interactions, ItemTable], tmp_path: Path
) -> None:
    store = ModelStore(tmp_path)
    versions = [_publish(store, _bundle(shop)) for _ in range(3)]
    other_workspace = _publish(store, _bundle(shop), workspace_id=2)
    assert store.versions(1) == versions
    assert forget_in_stored_models(store, 1, [ZED]) == 3
    for version in versions:
        assert str(ZED) not in Bundle.saved_user_ids(store.path_of(1, version))
        assert Bundle.load(store.path_of(1, version)).user_index(ZED) is None
    assert store.versions(1) == versions and store.current_version(1) == versions[-1]
    assert sorted(p.name for p in (tmp_path / "1").iterdir()) == sorted(
        [*versions, "CURRENT", LOCK]
    )
    assert forget_in_stored_models(store, 1, [ZED]) == 0  # already forgotten: nothing rewritten
    assert forget_in_stored_models(store, 3, [ZED]) == 0  # no models at all
    assert str(ZED) in Bundle.saved_user_ids(store.path_of(2, other_workspace))


def _purchases(bundle: Bundle) -> sp.csr_matrix:
    for_you = bundle.models["for_you"]
    assert isinstance(for_you, ForYou) and for_you.blend is not None
    return for_you.blend.repeat.purchases


def _consistent(bundle: Bundle) -> bool:
    """The user ids and the models of one bundle agree on who is forgotten (everyone in the
    shop bought something, so an empty purchases row means forgotten)."""
    purchases = _purchases(bundle)
    empty = set(np.flatnonzero(np.diff(purchases.indptr) == 0).tolist())
    return empty == {i for i, user in enumerate(bundle.user_ids) if not user}


def test_a_version_loaded_while_it_is_rewritten_always_loads_whole(
    shop: tuple[Interactions, ItemTable], tmp_path: Path
) -> None:
    store = ModelStore(tmp_path)
    versions = [_publish(store, _bundle(shop)) for _ in range(2)]
    path = store.path_of(1, versions[-1])
    stop = threading.Event()
    loaded: list[Bundle] = []
    failures: list[BaseException] = []

    def load_in_a_loop() -> None:
        while not stop.is_set():
            try:
                loaded.append(Bundle.load(path))
            except Exception as error:
                failures.append(error)

    loader = threading.Thread(target=load_in_a_loop)
    loader.start()
    try:
        for person in [ZED, *OTHERS[:8]]:
            assert forget_in_stored_models(store, 1, [person]) == 2
    finally:
        stop.set()
        loader.join()
    assert not failures, failures[:3]
    assert len(loaded) > 3
    assert all(_consistent(b) for b in loaded)
    assert sum(1 for u in Bundle.load(path).user_ids if not u) == 9


def test_publishing_runs_its_check_under_the_lock_and_a_failed_check_publishes_nothing(
    shop: tuple[Interactions, ItemTable], tmp_path: Path
) -> None:
    store = ModelStore(tmp_path)
    seen: list[bool] = []

    def locked(folder: Path) -> None:
        with open(tmp_path / "1" / LOCK, "a") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                seen.append(True)
            else:
                seen.append(False)
        assert (folder / "manifest.json").exists()  # the whole bundle is written by now

    with store.new_version(1, before_publish=locked) as (version, folder):
        _bundle(shop).save(folder)
    assert seen == [True] and store.current_version(1) == version

    def refuse(folder: Path) -> None:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError), store.new_version(1, before_publish=refuse) as (_, folder):
        (folder / "x").write_text("x")
    assert store.versions(1) == [version] and store.current_version(1) == version
    assert sorted(p.name for p in (tmp_path / "1").iterdir()) == sorted([version, "CURRENT", LOCK])


def test_a_rewrite_interrupted_between_its_renames_is_finished_by_the_next_one(
    shop: tuple[Interactions, ItemTable], tmp_path: Path
) -> None:
    store = ModelStore(tmp_path)
    version = _publish(store, _bundle(shop))
    base, path = tmp_path / "1", store.path_of(1, version)
    forgotten = _bundle(shop)
    forgotten.forget([ZED])
    working = base / f".{version}.rewrite"
    working.mkdir()
    forgotten.save(working)
    path.rename(base / f".{version}.retired")  # the crash: old folder moved away, copy not in
    assert forget_in_stored_models(store, 1, [OTHERS[0]]) == 1
    assert sorted(p.name for p in base.iterdir()) == sorted([version, "CURRENT", LOCK])
    users = Bundle.saved_user_ids(path)
    assert str(ZED) not in users and str(OTHERS[0]) not in users and str(OTHERS[1]) in users


class _Erasures:
    """The erasure log as the storage will keep it: (workspace, profile, erased at ms)."""

    def __init__(self, lock_file: Path) -> None:
        self.erased: list[tuple[int, int, int]] = []
        self.lock_file = lock_file
        self.asked_under_lock: list[bool] = []

    def erase(self, workspace_id: int, profile_id: int) -> None:
        self.erased.append((workspace_id, profile_id, int(time.time() * 1000)))

    def erased_since(self, workspace_id: int, since_ms: int) -> set[int]:
        with open(self.lock_file, "a") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.asked_under_lock.append(False)
            except BlockingIOError:
                self.asked_under_lock.append(True)
        return {p for w, p, at in self.erased if w == workspace_id and at >= since_ms}


class _EraseWhileFitting(Progress):
    """Erases a person once the events are read, as the first model starts fitting."""

    def __init__(self, erase: Callable[[], None]) -> None:
        super().__init__(disable=True)
        self.erase: Callable[[], None] | None = erase

    def update(self, task_id: TaskID, **kw: Any) -> None:
        erase = self.erase
        if erase is not None and "for_you" in str(kw.get("description", "")):
            self.erase = None
            erase()
        super().update(task_id, **kw)


def _order(user: str, order: str, products: list[str], day: int) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user,
        "event": "Order Completed",
        "timestamp": f"2026-02-{1 + day:02d}T10:00:00Z",
        "properties": {"order_id": order, "products": [{"product_id": p} for p in products]},
    }


def test_training_does_not_publish_a_person_erased_while_it_trained(api: Api) -> None:
    messages = [_order("zed", "zed-1", ["glass-vase", "sofa"], 1)]
    messages += [_order(f"u{n}", f"u{n}-1", ["sofa", "cushion"], n % 20) for n in range(12)]
    api.batch(messages)
    api.settle()
    workspace = api.keys.workspace
    person = api.services.people.find(workspace.id, ("user_id", "zed"))
    assert person is not None
    store = api.services.models
    erasures = _Erasures(store.root / str(workspace.id) / LOCK)

    def erase() -> None:  # the events were read: only the models can still hold the person
        erasures.erase(workspace.id, person.profile_id)

    trained = train_workspace(api.services, workspace, _EraseWhileFitting(erase), erasures)
    assert erasures.erased and erasures.asked_under_lock == [True]
    published = Bundle.load(store.path_of(workspace.id, trained.version))
    assert trained.version == store.current_version(workspace.id)
    assert published.user_index(person.profile_id) is None
    assert str(person.profile_id) not in Bundle.saved_user_ids(trained.path)
    someone = api.services.people.find(workspace.id, ("user_id", "u1"))
    assert someone is not None and published.user_index(someone.profile_id) is not None
    vase = published.item_index("glass-vase")
    assert vase is not None and _purchases(published)[:, vase].nnz == 0
    assert trained.users == 12


def test_a_server_forgets_at_once_and_in_every_version_it_loads_later(
    shop: tuple[Interactions, ItemTable], tmp_path: Path
) -> None:
    store = ModelStore(tmp_path)
    first = _publish(store, _bundle(shop))
    live = LiveBundles(store, check_seconds=0.0)
    serving = live.get(1)
    assert serving is not None and serving.user_index(ZED) is not None
    assert live.forget(1, [ZED]) == 1
    assert serving.user_index(ZED) is None  # the bundle being served, at once
    assert live.forget(2, [OTHERS[0]]) == 0  # nothing served there yet
    # A version trained before the erasure (or rewritten on disk unseen by this server).
    second = _publish(store, _bundle(shop))
    assert Bundle.load(store.path_of(1, second)).user_index(ZED) is not None
    deadline = time.monotonic() + 10
    while (bundle := live.get(1)) is None or bundle.version != second:
        assert time.monotonic() < deadline, "the server never swapped versions"
        time.sleep(0.01)
    assert first != second
    assert bundle.user_index(ZED) is None
    assert bundle.user_index(OTHERS[0]) is not None  # forgotten in workspace 2 only
    z3 = bundle.item_index("z3")
    assert z3 is not None and _purchases(bundle)[:, z3].nnz == 0
