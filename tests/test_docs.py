"""The README keeps up with the code: what must be documented is read from the code itself
(the app's routes, the Settings class), so adding either undocumented fails here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from relevo.api.app import create_app
from relevo.services import Services
from relevo.settings import Settings

README = (Path(__file__).parents[1] / "README.md").read_text()


def _spec() -> dict[str, Any]:
    # The app's own OpenAPI document lists every route it serves (none is hidden from it).
    services = Services.build(Settings(database_url="sqlite:///:memory:"))
    try:
        spec: dict[str, Any] = create_app(services.settings, services).openapi()
    finally:
        services.close()
    return spec


def _routes() -> list[tuple[str, str]]:
    return sorted(
        (method.upper(), path) for path, item in _spec()["paths"].items() for method in item
    )


def test_every_setting_is_documented() -> None:
    missing = [
        f"RELEVO_{name.upper()}"
        for name in Settings.model_fields
        if f"`RELEVO_{name.upper()}`" not in README
    ]
    assert missing == []


def test_every_endpoint_is_documented() -> None:
    routes = _routes()
    assert ("POST", "/v1/batch") in routes and len(routes) > 20  # the app was read
    missing = [f"{method} {path}" for method, path in routes if f"`{method} {path}`" not in README]
    assert missing == []


def test_readme_starts_with_the_two_commands() -> None:
    first_block = README.split("```bash", 1)[1].split("```", 1)[0]
    assert "./scripts/demo" in first_block and "./scripts/test" in first_block


def test_openapi_documents_every_endpoint_with_its_body(client) -> None:  # type: ignore[no-untyped-def]
    spec = client.get("/openapi.json").json()
    documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert set(_routes()) <= documented
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("post", "put", "patch"):
                body = operation.get("requestBody", {}).get("content", {})
                schema = body.get("application/json", {}).get("schema")
                assert schema, f"{method.upper()} {path} documents no request body"
