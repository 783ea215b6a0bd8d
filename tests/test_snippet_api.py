"""The website snippet through HTTP, on both backends: /relevo.js with its cache headers and
version; the snippet's own request (text/plain, the key in the body); CORS for browser sources:
allowed origins set with the CLI, preflights, refusals."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from relevo.api.ratelimit import RateLimits
from relevo.cli.main import app
from relevo.services import Services
from relevo.settings import Settings
from relevo.snippet import snippet
from relevo.storage import migrate
from relevo.workspaces.keys import KeyKind
from tests.conftest import Api
from tests.databases import drop_schema, make_settings

SHOP = "https://shop.example"


def _cli(api: Api, *args: str) -> tuple[int, str]:
    settings = api.services.settings
    env = {"RELEVO_DATABASE_URL": settings.database_url}
    if settings.database_schema:
        env["RELEVO_DATABASE_SCHEMA"] = settings.database_schema
    result = CliRunner().invoke(app, list(args), env=env)
    # Errors are printed by Rich, wrapped at the terminal's width.
    return result.exit_code, result.output if "--json" in args else " ".join(result.output.split())


def _snippet_request(api: Api, anonymous_id: str, origin: str | None) -> Any:
    """What the snippet sends: no Authorization header, the key in a text/plain body."""
    body = {
        "writeKey": api.keys.write_key,
        "batch": [{"type": "page", "anonymousId": anonymous_id, "messageId": uuid.uuid4().hex}],
    }
    headers = {"Content-Type": "text/plain;charset=UTF-8"}
    if origin:
        headers["Origin"] = origin
    return api.client.post("/v1/batch", content=orjson.dumps(body), headers=headers)


def _allow(api: Api, *origins: str) -> float:
    """Set the browser source's origins with the CLI (another process's cache, as in
    production) and wait until this server follows; returns the seconds it took."""
    args = [a for origin in origins for a in ("--origin", origin)]
    code, out = _cli(api, "source", "origins", api.keys.workspace.name, "browser", *args)
    assert code == 0, out
    started = time.monotonic()
    probe = origins[0]
    while time.monotonic() - started < 5:
        if _snippet_request(api, "probe", probe).status_code == 200:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError("the server did not follow the new origins")


def test_relevo_js_is_served_versioned_and_cacheable(client: TestClient) -> None:
    served = snippet()
    response = client.get("/relevo.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.content == served.body and b"relevo.js" in response.content
    assert response.headers["content-encoding"] == "gzip"  # httpx asked for it, and unzipped
    assert response.headers["etag"] == f'"{served.version}"'
    assert response.headers["cache-control"] == "public, max-age=300"
    versioned = client.get("/relevo.js", params={"v": served.version})
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert versioned.content == served.body
    old = client.get("/relevo.js", params={"v": "0123456789abcdef"})
    assert old.headers["cache-control"] == "public, max-age=300"  # a stale version: revalidate
    unchanged = client.get("/relevo.js", headers={"If-None-Match": f'"{served.version}"'})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == f'"{served.version}"'
    plain = client.get("/relevo.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == served.body


def test_the_whole_snippet_stays_within_its_gzipped_budget() -> None:
    # Issue 11: collection and decisions together, as served, at most 10 kB gzipped.
    assert len(snippet().gzipped) <= 10_000


def test_the_snippets_text_plain_request_is_accepted(api: Api) -> None:
    response = _snippet_request(api, "plain-visitor", None)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    events = api.get("/v1/profiles/anonymous_id/plain-visitor/events")
    assert [e["type"] for e in events["events"]] == ["page"]


def test_an_allowed_origin_gets_cors_headers_and_its_preflight(api: Api) -> None:
    waited = _allow(api, SHOP, "http://localhost:3000")
    assert waited < 1.5  # the keys' refresh: within a second
    response = _snippet_request(api, "cors-visitor", SHOP)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == SHOP
    assert response.headers["vary"] == "Origin"
    assert "retry-after" in response.headers["access-control-expose-headers"]
    other = api.client.post(
        "/v1/track",
        json={"event": "Signed Up", "anonymousId": "cors-visitor"},
        headers={**api.write_auth, "Origin": "http://localhost:3000"},
    )
    assert other.status_code == 200
    assert other.headers["access-control-allow-origin"] == "http://localhost:3000"
    # An error after the key was checked is readable by the page too.
    invalid = api.client.post(
        "/v1/track", json={"anonymousId": "x"}, headers={**api.write_auth, "Origin": SHOP}
    )
    assert invalid.status_code == 400
    assert invalid.headers["access-control-allow-origin"] == SHOP
    preflight = api.client.options(
        "/v1/batch",
        headers={
            "Origin": SHOP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == SHOP
    assert preflight.headers["vary"] == "Origin"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    allowed_headers = preflight.headers["access-control-allow-headers"]
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert int(preflight.headers["access-control-max-age"]) > 0
    recs = api.client.options(
        "/v1/recommendations",
        headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"},
    )
    assert recs.status_code == 204


def test_a_disallowed_origin_is_refused_without_cors_headers(api: Api) -> None:
    evil = f"https://evil-{uuid.uuid4().hex[:8]}.example"
    # A new workspace's browser source allows no origin until they are set.
    response = _snippet_request(api, "evil-visitor", evil)
    assert response.status_code == 403
    message = response.json()["error"]["message"]
    assert "not allowed" in message and "relevo source origins" in message
    assert "access-control-allow-origin" not in response.headers
    assert api.stored_counts() == (0, 0)  # nothing stored, nothing quarantined
    _allow(api, SHOP)
    refused = _snippet_request(api, "evil-visitor", evil)
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
    preflight = api.client.options(
        "/v1/batch", headers={"Origin": evil, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    assert "not allowed" in preflight.json()["error"]["message"]
    assert _snippet_request(api, "evil-visitor", "null").status_code == 403  # sandboxed frame


def test_same_origin_and_other_keys_are_not_checked(api: Api) -> None:
    # A page Relevo serves itself: the browser sends its own origin (TestClient's host).
    same = _snippet_request(api, "own-page", "http://testserver")
    assert same.status_code == 200 and "access-control-allow-origin" not in same.headers
    evil = "https://evil.example"
    server = api.client.post(
        "/v1/track",
        json={"event": "Signed Up", "anonymousId": "backend"},
        headers={**api.server_auth, "Origin": evil},
    )
    assert server.status_code == 200 and "access-control-allow-origin" not in server.headers
    secret = api.client.get(
        "/v1/profiles/anonymous_id/backend", headers={**api.secret_auth, "Origin": evil}
    )
    assert secret.status_code in (200, 404)  # not refused for its origin
    assert "access-control-allow-origin" not in secret.headers


def test_cli_sets_and_shows_origins(api: Api) -> None:
    workspace = api.keys.workspace.name
    code, out = _cli(
        api,
        "source",
        "create",
        workspace,
        "web",
        "--kind",
        "browser",
        "--origin",
        "https://A.example:443/",
        "--origin",
        "http://localhost:8080",
        "--json",
    )
    assert code == 0, out
    assert json.loads(out)["origins"] == ["https://a.example", "http://localhost:8080"]
    code, out = _cli(api, "source", "origins", workspace, "web", "--json")
    assert code == 0 and json.loads(out) == ["https://a.example", "http://localhost:8080"]
    code, out = _cli(api, "source", "origins", workspace, "web", "--origin", "shop.example")
    assert code == 2 and "http:// or https://" in out
    code, out = _cli(api, "source", "origins", workspace, "web", "--origin", "https://a.example/x")
    assert code == 2 and "without a path" in out
    code, out = _cli(api, "source", "origins", workspace, "server", "--origin", SHOP)
    assert code == 2 and "only browser sources" in out
    code, out = _cli(
        api, "source", "create", workspace, "api", "--kind", "server", "--origin", SHOP
    )
    assert code == 2 and "only a browser source" in out
    code, out = _cli(api, "source", "origins", workspace, "web", "--clear")
    assert code == 0 and "none yet" in out
    code, out = _cli(api, "source", "list", workspace, "--json")
    origins = {row["name"]: row["origins"] for row in json.loads(out)}
    assert origins["web"] == [] and origins["browser"] == []


@pytest.fixture
def fresh_settings(backend: str, tmp_path: Path) -> Iterator[Settings]:
    settings = make_settings(backend, str(tmp_path))
    yield settings
    drop_schema(settings)


def test_existing_browser_sources_keep_accepting_every_origin(fresh_settings: Settings) -> None:
    # Pages already calling Relevo keep working through the upgrade; new sources start closed.
    services = Services.build(fresh_settings)
    try:
        db = services.db
        if db.schema:
            with db.write_engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"'))
        config = migrate._config()
        with db.write_engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0011")
        with db.write_engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO workspaces (id, name, secret_key_hash, identity_secret, "
                    "link_secret, suppression_key, created_at) "
                    "VALUES (1, 'old', 'h', 'i', 'l', 's', 0)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO sources (workspace_id, name, kind, key_hash, key_hint, "
                    "public_key, created_at) VALUES "
                    "(1, 'browser', 'browser', 'kb', 'wk_', 'wk_x', 0), "
                    "(1, 'server', 'server', 'ks', 'swk_', NULL, 0)"
                )
            )
        migrate.upgrade(db)
        origins = {s.name: s.allowed_origins for s in services.workspaces.sources("old")}
        assert origins == {"browser": ("*",), "server": ()}
        created = services.workspaces.create_source("old", "web", KeyKind.BROWSER)
        assert created.source.allowed_origins == ()
    finally:
        services.close()


def test_a_rate_limited_page_can_read_its_retry_after(api: Api) -> None:
    # The origin is checked before the rate limit, so the 429 carries the CORS headers and the
    # snippet's back-off sees Retry-After.
    api.services.workspaces.set_origins(api.keys.workspace.name, "browser", (SHOP,))
    original = api.services.rate_limits
    api.services.rate_limits = RateLimits(
        redis_url=api.services.settings.redis_url,
        per_key="2/minute",
        per_ip="2/minute",
        prefix=f"relevo-test-{uuid.uuid4().hex[:8]}",
    )
    try:
        codes = [_snippet_request(api, "busy", SHOP).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        limited = _snippet_request(api, "busy", SHOP)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert limited.headers["access-control-allow-origin"] == SHOP
        assert "retry-after" in limited.headers["access-control-expose-headers"]
    finally:
        api.services.rate_limits.close()
        api.services.rate_limits = original
