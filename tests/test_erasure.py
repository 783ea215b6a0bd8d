"""GDPR erasure is complete, on both backends: nothing of the person is left in any text
column of any table, nor in any model file; split-off profiles, quarantined messages of every
identity kind and other visitors' claims go too; a materializer step or a training running
during the erase never writes the person back; suppression refuses later messages."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.progress import Progress
from sqlalchemy import JSON, String, Text, cast, func, select

from relevo.cli import recs as cli_recs
from relevo.jobs import training as training_job
from relevo.profiles.materializer import Materializer
from relevo.services import Services
from relevo.storage import schema as t
from relevo.storage.profile_store import ProfileStore
from tests.conftest import Api
from tests.test_recs_api import _train

USER = "erase-me-7c1f"
EMAIL = "erase.me.7c1f@example.com"
PHONE = "+44 20 7946 0173"
PHONE_NORMAL = "+442079460173"
LOYALTY = "LOYAL-7c1f-99"
DEVICES = ["device-7c1f-a", "device-7c1f-b", "device-7c1f-c"]
IDENTIFIERS = [USER, EMAIL, PHONE_NORMAL, LOYALTY, *DEVICES]


def _person_everywhere(api: Api) -> None:
    """The person through every path that stores something: browsing on several devices, a
    verified login, orders, traits, an account, quarantined messages naming them by each kind,
    and another visitor claiming to be them."""
    for device in DEVICES:
        api.send(
            "track",
            anonymousId=device,
            event="Product Viewed",
            properties={"product_id": "lamp", "note": f"seen by {USER}"},
        )
        api.send("identify", anonymousId=device, userId=USER)
    api.send(
        "identify",
        userId=USER,
        traits={"email": EMAIL, "phone": PHONE, "name": "Erase Me"},
        context={"externalIds": [{"type": "loyalty_card", "id": LOYALTY, "encoding": "none"}]},
    )
    api.send("group", userId=USER, groupId="acme-7c1f", traits={"plan": "pro"})
    for n in range(3):
        api.send(
            "track",
            userId=USER,
            event="Order Completed",
            properties={"order_id": f"o-{n}", "products": [{"product_id": "sofa"}]},
        )
    bad = [
        {"type": "track", "userId": USER},  # no event name
        {"type": "bogus", "traits": {"phone": PHONE}},
        {"type": "track", "context": {"externalIds": [{"type": "loyalty_card", "id": LOYALTY}]}},
        {"type": "identify", "anonymousId": DEVICES[2], "timestamp": "not a time"},
    ]
    response = api.batch(bad)
    assert len(response["rejected"]) == len(bad)
    # Another visitor (a browser key) claims their e-mail; that message names them.
    api.send_browser("identify", anonymousId="claimer-7c1f", traits={"email": EMAIL})
    # Unrelated people, who must stay.
    for n in range(10):
        api.send(
            "track",
            userId=f"keep-{n}",
            event="Order Completed",
            properties={
                "order_id": f"k-{n}",
                "products": [{"product_id": "sofa"}, {"product_id": "mug"}],
            },
        )
    api.settle()


def _text_columns() -> list[tuple[t.Table, Any]]:
    found = []
    for table in t.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, String | Text | JSON) or column.name in (
                "payload",
                "traits",
                "computed",
            ):
                found.append((table, column))
    return found


def _left_in_database(services: Services, values: list[str]) -> list[str]:
    found = []
    with services.db.read() as conn:
        for table, column in _text_columns():
            as_text = cast(column, Text)
            for value in values:
                hits = conn.execute(
                    select(func.count()).select_from(table).where(as_text.contains(value))
                ).scalar_one()
                if hits:
                    found.append(f"{table.name}.{column.name} holds {value!r} ({hits} rows)")
    return found


def _left_in_files(folder: Path, values: list[str]) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        for value in values:
            # numpy stores unicode arrays as UTF-32: look for both spellings.
            if value.encode() in data or value.encode("utf-32-le") in data:
                found.append(f"{path} holds {value!r}")
    return found


def _model_user_ids(api: Api) -> set[str]:
    models = api.services.models
    workspace = api.keys.workspace.id
    users: set[str] = set()
    for version in (models.root / str(workspace)).iterdir():
        if version.is_dir() and not version.name.startswith("."):
            with np.load(version / "users.npz", allow_pickle=False) as z:
                users |= set(z["user_ids"].tolist())
    return users


def test_nothing_of_an_erased_person_is_left_anywhere(api: Api) -> None:
    _person_everywhere(api)
    _train(api)
    _train(api)  # two stored versions
    person = api.profile("user_id", USER)
    profile_ids = {str(person["profile_id"]), *map(str, person["merged_profile_ids"])}
    assert profile_ids & _model_user_ids(api)
    assert _left_in_database(api.services, IDENTIFIERS)  # the scan does find them before

    response = api.client.delete(f"/v1/profiles/email/{EMAIL}", headers=api.secret_auth).json()
    assert response["erased"] is True
    assert response["deleted"]["quarantined_messages"] == 4
    assert response["deleted"]["messages_claiming_them"] == 1
    assert response["model_versions_rewritten"] == 2
    api.settle()

    assert _left_in_database(api.services, IDENTIFIERS) == []
    assert _left_in_files(api.services.models.root / str(api.keys.workspace.id), IDENTIFIERS) == []
    assert not profile_ids & _model_user_ids(api)
    # Everybody else is untouched, and the claimer's profile was rebuilt without the claim.
    assert api.profile("user_id", "keep-3")["computed"]["orders"] == 1
    claimer = api.profile("anonymous_id", "claimer-7c1f")
    assert claimer["traits"] == {} and claimer["claimed_identities"] == []
    # The next training has nothing of them either.
    _train(api)
    assert not profile_ids & _model_user_ids(api)
    assert _left_in_files(api.services.models.root / str(api.keys.workspace.id), IDENTIFIERS) == []


def test_profiles_split_off_by_the_anonymous_id_limit_are_erased_and_exported(
    api: Api,
) -> None:
    original = api.services.ingest.max_anonymous_ids
    api.services.ingest.max_anonymous_ids = 2
    try:
        for n in range(4):
            api.send("identify", anonymousId=f"split-{n}", userId="splitter")
            api.send("track", anonymousId=f"split-{n}", event="Visited")
    finally:
        api.services.ingest.max_anonymous_ids = original
    api.settle()
    main = api.profile("user_id", "splitter")
    split = api.profile("anonymous_id", "split-3")
    assert split["profile_id"] != main["profile_id"]
    exported = api.client.get("/v1/profiles/user_id/splitter/export", headers=api.secret_auth).text
    assert "split-3" in exported
    erased = api.client.delete("/v1/profiles/user_id/splitter", headers=api.secret_auth).json()
    assert erased["deleted"]["profiles"] >= 2
    for n in range(4):
        gone = api.client.get(f"/v1/profiles/anonymous_id/split-{n}", headers=api.secret_auth)
        assert gone.status_code == 404
    assert _left_in_database(api.services, ["splitter", *(f"split-{n}" for n in range(4))]) == []


def test_suppression_refuses_and_counts_later_messages(api: Api) -> None:
    api.send("identify", userId="gone-for-good", traits={"email": "gone@example.com"})
    api.settle()
    response = api.client.delete(
        "/v1/profiles/user_id/gone-for-good?suppress=true", headers=api.secret_auth
    ).json()
    assert response["erased"] is True and response["suppressed_identities"] == 2
    later = api.batch(
        [
            {"type": "track", "event": "E", "userId": "gone-for-good"},
            {
                "type": "identify",
                "anonymousId": "new-device",
                "traits": {"email": "gone@example.com"},
            },
            {"type": "track", "event": "E", "userId": "someone-else"},
        ]
    )
    assert later["accepted"] == 1 and later["suppressed"] == 2
    browser = api.client.post(
        "/v1/identify",
        json={"anonymousId": "elsewhere", "traits": {"email": "gone@example.com"}},
        headers=api.write_auth,
    )
    assert browser.status_code == 200  # acknowledged (an SDK must not retry it), not stored
    assert api.services.erasures.suppression_refusals(api.keys.workspace.id) == 3
    assert _left_in_database(api.services, ["gone-for-good", "gone@example.com"]) == []
    missing = api.client.get("/v1/profiles/anonymous_id/elsewhere", headers=api.secret_auth)
    assert missing.status_code == 404
    # Suppressing someone never seen before works too: the request is the shop's instruction.
    api.client.delete("/v1/profiles/email/never@example.com?suppress=true", headers=api.secret_auth)
    refused = api.batch(
        [{"type": "identify", "userId": "x", "traits": {"email": "never@example.com"}}]
    )
    assert refused["suppressed"] == 1


class _PausingStore(ProfileStore):
    """A second materializer's store that folds the events after ``start`` (whatever the
    shared checkpoint says, which it leaves alone) and stops at a chosen point of its save, so
    an erasure can run exactly there."""

    def __init__(self, db: Any, start: int, where: str) -> None:
        super().__init__(db)
        self.start, self.where = start, where
        self.reached = threading.Event()
        self.resume = threading.Event()

    def checkpoint(self) -> int:
        return self.start

    def _set_checkpoint(self, conn: Any, position: int) -> None:
        # The last statement of the step's transaction: its profile rows are written (and on
        # PostgreSQL locked) and SQLite's write lock is held.
        if self.where == "while saving":
            self._pause()

    def _pause(self) -> None:
        self.reached.set()
        assert self.resume.wait(30)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.where == "before saving":
            self._pause()
        super().save(*args, **kwargs)


@pytest.mark.parametrize("where", ["before saving", "while saving"])
def test_a_materializer_step_never_writes_an_erased_person_back(api: Api, where: str) -> None:
    """Before saving: the step folded the person's events, the erase commits, then the step
    saves. While saving: the step's transaction holds the person's profile, the erase waits
    for it, then deletes what it wrote."""
    services = api.services
    racer = f"racer-{where.replace(' ', '-')}-{api.services.settings.database_url[:6]}"
    start = services.materializer.store.latest_seq()
    api.send("identify", userId=racer, traits={"email": f"{racer}@example.com", "plan": "x"})
    store = _PausingStore(services.db, start, where)
    step = threading.Thread(target=Materializer(store, services.rules).step)
    step.start()
    try:
        assert store.reached.wait(10)
        erase = threading.Thread(
            target=lambda: api.client.delete(
                f"/v1/profiles/user_id/{racer}", headers=api.secret_auth
            )
        )
        erase.start()
        time.sleep(0.5)  # the erase commits, or waits for the step's transaction
    finally:
        store.resume.set()
    step.join(30)
    erase.join(30)
    assert not step.is_alive() and not erase.is_alive()
    assert _left_in_database(services, [racer]) == []


def test_a_training_during_the_erase_never_publishes_the_person(api: Api) -> None:
    _person_everywhere(api)
    person = api.profile("user_id", USER)
    profile_id = str(person["profile_id"])
    real_train_bundle = training_job.train_bundle

    def erase_meanwhile(*args: Any, **kwargs: Any) -> Any:
        # The events are read already; the person is erased before the bundle is published.
        response = api.client.delete(f"/v1/profiles/user_id/{USER}", headers=api.secret_auth)
        assert response.json()["erased"] is True
        return real_train_bundle(*args, **kwargs)

    training_job.train_bundle = erase_meanwhile  # type: ignore[assignment]
    try:
        with Progress(disable=True) as progress:
            cli_recs.train_workspace(api.services, api.keys.workspace, progress)
    finally:
        training_job.train_bundle = real_train_bundle  # type: ignore[assignment]
    assert profile_id not in _model_user_ids(api)
    assert _left_in_files(api.services.models.root / str(api.keys.workspace.id), IDENTIFIERS) == []


def test_every_server_process_forgets_an_erased_person(api: Api) -> None:
    """Another process's bundles (another Services on the same database and models) forget
    the person through the erasures it polls."""
    _person_everywhere(api)
    _train(api)
    profile_id = api.profile("user_id", USER)["profile_id"]
    other = Services.build(api.services.settings)
    try:
        watcher = other.erasure_watcher()
        watcher.poll()
        bundle = other.recommendations.bundles.get(api.keys.workspace.id)
        assert bundle is not None and bundle.user_index(profile_id) is not None
        api.client.delete(f"/v1/profiles/user_id/{USER}", headers=api.secret_auth)
        assert watcher.poll() >= 1
        assert bundle.user_index(profile_id) is None
    finally:
        other.close()
