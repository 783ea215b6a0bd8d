"""Every API and storage test runs on both backends: embedded SQLite and the real PostgreSQL
(127.0.0.1:5432, database ``test``; each run uses its own schema)."""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from relevo.api.app import create_app
from relevo.services import Services
from relevo.storage import schema as t
from relevo.storage.migrate import upgrade
from relevo.workspaces.keys import NewWorkspace
from tests.databases import drop_schema, make_settings

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def hold_audience_job(services: Services) -> None:
    """The tests run the audience job when they mean to (``services.audience_job.run_once()``):
    the app's own thread, every 2 s, would record `Audience Entered` events (every newcomer
    enters the built-in new-visitor) into timelines and counts that other tests check. Taken
    past the lease the thread may hold (10 s), for a day."""
    after_any_thread = int(time.time() * 1000) + 11_000
    assert services.audience_job.store.try_job_lease("tests", after_any_thread, 86_400)


@pytest.fixture(scope="session")
def services(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    folder = tmp_path_factory.mktemp(backend)
    settings = make_settings(
        backend,
        str(folder),
        materializer_interval_seconds=0.02,
        models_dir=str(folder / "models"),
        models_check_seconds=0.05,
        webhook_allow_private=True,  # the tests' webhook receivers listen on 127.0.0.1
        # Rate-limit counters in the real Redis, as on a production install.
        redis_url=os.environ.get("RELEVO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
    built = Services.build(settings)
    upgrade(built.db)
    hold_audience_job(built)
    yield built
    built.close()
    drop_schema(settings)


@pytest.fixture(scope="session")
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services.settings, services)) as test_client:
        yield test_client


@dataclass
class Api:
    """A workspace seen through HTTP, as a shop's backend would use it."""

    client: TestClient
    services: Services
    keys: NewWorkspace

    @staticmethod
    def basic(key: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}

    @property
    def write_auth(self) -> dict[str, str]:
        """The browser source's key: public, as in a web page."""
        return self.basic(self.keys.write_key)

    @property
    def server_auth(self) -> dict[str, str]:
        """The server source's key: a shop's backend, trusted."""
        return self.basic(self.keys.server_write_key)

    @property
    def secret_auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys.secret_key}"}

    def send(self, kind: str, **message: Any) -> Any:
        """One message from the shop's backend (server key)."""
        return self._sent(self.client.post(f"/v1/{kind}", json=message, headers=self.server_auth))

    def send_browser(self, kind: str, **message: Any) -> Any:
        """One message from a web page (browser key)."""
        return self._sent(self.client.post(f"/v1/{kind}", json=message, headers=self.write_auth))

    @staticmethod
    def _sent(response: Any) -> Any:
        assert response.status_code == 200, response.text
        return response.json()

    def batch(self, messages: list[Any], **extra: Any) -> Any:
        response = self.client.post(
            "/v1/batch", json={"batch": messages, **extra}, headers=self.server_auth
        )
        assert response.status_code == 200, response.text
        return response.json()

    def settle(self, timeout: float = 5.0) -> float:
        """Wait until the materializer has folded every stored event; returns seconds waited."""
        store = self.services.materializer.store
        start = time.monotonic()
        target = store.latest_seq()
        while time.monotonic() - start < timeout:
            if store.checkpoint() >= target and not store.profiles_awaiting_rebuild():
                return time.monotonic() - start
            time.sleep(0.01)
        raise AssertionError("profiles were not updated within the timeout")

    def stored_counts(self) -> tuple[int, int]:
        """(events, quarantined messages) stored for this workspace."""
        workspace = self.keys.workspace.id
        with self.services.db.read() as conn:
            events = conn.execute(
                select(func.count()).where(t.events.c.workspace_id == workspace)
            ).scalar_one()
            quarantined = conn.execute(
                select(func.count()).where(t.quarantine.c.workspace_id == workspace)
            ).scalar_one()
        return int(events), int(quarantined)

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params, headers=self.secret_auth)
        assert response.status_code == 200, response.text
        return response.json()

    def profile(self, kind: str, value: str) -> Any:
        self.settle()
        return self.get(f"/v1/profiles/{kind}/{value}")


@pytest.fixture
def api(client: TestClient, services: Services) -> Api:
    keys = services.workspaces.create(f"shop-{uuid.uuid4().hex[:10]}")
    return Api(client, services, keys)
