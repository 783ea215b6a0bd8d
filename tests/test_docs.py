"""The README keeps up with the code."""

from __future__ import annotations

from pathlib import Path

from relevo.settings import Settings

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [
        f"RELEVO_{name.upper()}"
        for name in Settings.model_fields
        if f"RELEVO_{name.upper()}" not in README
    ]
    assert missing == []


def test_readme_starts_with_the_two_commands() -> None:
    first_block = README.split("```bash", 1)[1].split("```", 1)[0]
    assert "./scripts/demo" in first_block and "./scripts/test" in first_block


def test_openapi_documents_every_endpoint(client) -> None:  # type: ignore[no-untyped-def]
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    for kind in ("track", "identify", "page", "screen", "group", "alias", "batch"):
        assert f"/v1/{kind}" in paths
        body = spec["paths"][f"/v1/{kind}"]["post"]["requestBody"]
        assert body["content"]["application/json"]
    for suffix in ("", "/events", "/merges", "/export", "/event-count", "/traits/history"):
        assert f"/v1/profiles/{{kind}}/{{value}}{suffix}" in paths
