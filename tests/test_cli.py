"""The command line: workspaces, imports (idempotent, bad lines reported), on both backends."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relevo.cli.main import app
from relevo.identity.identities import USER_ID
from relevo.services import Services
from tests.databases import drop_schema, make_settings


@pytest.fixture
def cli_env(backend: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    settings = make_settings(backend, str(tmp_path))
    env = {"RELEVO_DATABASE_URL": settings.database_url}
    if settings.database_schema:
        env["RELEVO_DATABASE_SCHEMA"] = settings.database_schema
    yield env
    drop_schema(settings)


def _run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def _services(env: dict[str, str]) -> Services:
    from relevo.settings import Settings

    return Services.build(
        Settings(
            database_url=env["RELEVO_DATABASE_URL"],
            database_schema=env.get("RELEVO_DATABASE_SCHEMA"),
        )
    )


def test_workspace_create_prints_keys_and_refuses_duplicates(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["workspace", "create", "shop", "--json"], env=cli_env)
    assert result.exit_code == 0
    keys = json.loads(result.stdout)  # progress and notes go to stderr
    assert keys["write_key"].startswith("wk_") and keys["secret_key"].startswith("sk_")
    assert keys["server_write_key"].startswith("swk_") and len(keys["identity_secret"]) >= 32
    code, out = _run(cli_env, "workspace", "create", "shop")
    assert code == 2 and "already exists" in out
    code, out = _run(cli_env, "workspace", "list")
    assert code == 0 and keys["write_key"] in out and keys["server_write_key"] not in out


def test_sources_are_created_listed_and_rotated(cli_env: dict[str, str]) -> None:
    created = json.loads(
        CliRunner().invoke(app, ["workspace", "create", "shop", "--json"], env=cli_env).stdout
    )
    backend = json.loads(
        CliRunner()
        .invoke(
            app, ["source", "create", "shop", "backend", "--kind", "server", "--json"], env=cli_env
        )
        .stdout
    )
    assert backend["kind"] == "server" and backend["write_key"].startswith("swk_")
    listed = json.loads(
        CliRunner().invoke(app, ["source", "list", "shop", "--json"], env=cli_env).stdout
    )
    assert [(s["name"], s["kind"]) for s in listed] == [
        ("browser", "browser"),
        ("server", "server"),
        ("backend", "server"),
    ]
    assert listed[0]["key"] == created["write_key"]  # public: shown whole
    assert backend["write_key"] not in json.dumps(listed)  # server keys only by their start
    rotated = json.loads(
        CliRunner()
        .invoke(app, ["source", "rotate", "shop", "backend", "--json"], env=cli_env)
        .stdout
    )
    assert rotated["write_key"] != backend["write_key"]
    services = _services(cli_env)
    try:
        assert services.workspaces.by_write_key(backend["write_key"]) is None
        principal = services.workspaces.by_write_key(rotated["write_key"])
        assert principal is not None and principal.trusted
        browser = services.workspaces.by_write_key(created["write_key"])
        assert browser is not None and not browser.trusted
    finally:
        services.close()
    code, out = _run(cli_env, "source", "create", "shop", "backend", "--kind", "browser")
    assert code == 2 and "already has a source" in out
    code, out = _run(cli_env, "workspace", "rotate-identity-secret", "shop")
    assert code == 0 and created["identity_secret"] not in out
    code, out = _run(cli_env, "workspace", "identity-secret", "shop")
    assert out.strip() != created["identity_secret"]


def test_import_events_is_idempotent_and_reports_bad_lines(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    _run(cli_env, "workspace", "create", "shop")
    lines = [
        json.dumps(
            {
                "type": "identify",
                "userId": "42",
                "messageId": "i1",
                "traits": {"email": "c@x.com"},
                "timestamp": "2024-01-01T10:00:00Z",
            }
        ),
        json.dumps(
            {
                "type": "track",
                "event": "Order Completed",
                "userId": "42",
                "messageId": "o1",
                "timestamp": "2024-01-02T10:00:00Z",
                "properties": {
                    "revenue": 10,
                    "products": [{"product_id": "p", "name": "x" * 50_000}],
                },
            }
        ),
        "{broken json",
        json.dumps({"type": "track", "event": "No ids", "messageId": "bad"}),
        json.dumps(
            {
                "type": "page",
                "anonymousId": "a",
                "messageId": "p1",
                "timestamp": "2024-01-03T10:00:00Z",
            }
        ),
    ]
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    code, out = _run(cli_env, "import", "events", str(path), "--workspace", "shop")
    assert code == 1  # some lines were rejected
    assert "3 stored" in out and "2 rejected" in out
    assert "line 3" in out and "line 4" in out
    code, out = _run(cli_env, "import", "events", str(path), "--workspace", "shop")
    assert "0 stored" in out and "3 already stored" in out
    services = _services(cli_env)
    workspace = services.workspaces.by_name("shop")
    person = services.people.find(workspace.id, (USER_ID, "42"))
    assert person is not None
    assert person.computed["orders"] == 1 and person.computed["revenue"] == 10.0
    services.close()


def test_import_orders_groups_lines_by_order(cli_env: dict[str, str], tmp_path: Path) -> None:
    _run(cli_env, "workspace", "create", "pos")
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,timestamp,customer_id,email,product_id,quantity,price,category\n"
        "A1,2024-03-01T12:00:00,c1,,sku1,2,5.00,Cups\n"
        "A1,2024-03-01T12:00:00,c1,,sku2,1,10.00,Plates\n"
        "A2,2024-03-05T12:00:00,,Walk.In@Example.com,sku1,1,5.00,Cups\n"
        "A3,2024-03-06T12:00:00,c1,,sku3,not-a-number,1.00,Cups\n"
        "A4,2024-03-07T12:00:00,,,sku3,1,1.00,Cups\n"
    )
    code, out = _run(cli_env, "import", "orders", str(path), "--workspace", "pos")
    assert code == 1
    assert "2 stored" in out and "2 rejected" in out and "line 5" in out and "line 6" in out
    _run(cli_env, "import", "orders", str(path), "--workspace", "pos")
    services = _services(cli_env)
    workspace = services.workspaces.by_name("pos")
    person = services.people.find(workspace.id, (USER_ID, "c1"))
    assert (
        person is not None and person.computed["orders"] == 1 and person.computed["revenue"] == 20.0
    )
    walk_in = services.people.find(workspace.id, ("email", "walk.in@example.com"))
    assert walk_in is not None and walk_in.computed["orders"] == 1
    services.close()


def test_import_into_unknown_workspace_says_how_to_create_it(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text("{}\n")
    code, out = _run(cli_env, "import", "events", str(path), "--workspace", "nope")
    assert code == 2 and "relevo workspace create" in out


def _shop_orders(people: int = 80, orders: int = 6) -> list[dict[str, object]]:
    """Two kinds of customers (kitchen, garden) who re-buy their staples and now and then
    try something else of their kind, over half a year."""
    messages: list[dict[str, object]] = []
    for person in range(people):
        shelf = (
            ["pan", "knife", "mug", "plate", "kettle"]
            if person % 2
            else ["seed", "hose", "pot", "rake", "glove"]
        )
        for n in range(orders):
            day = (person * 3 + n * 29) % 180
            products = [shelf[0], shelf[1 + (person + n) % 4]]
            messages.append(
                {
                    "type": "track",
                    "event": "Order Completed",
                    "userId": f"c{person}",
                    "messageId": f"c{person}-o{n}",
                    "timestamp": f"2026-{1 + day // 30:02d}-{1 + day % 28:02d}T12:00:00Z",
                    "properties": {
                        "order_id": f"c{person}-o{n}",
                        "products": [{"product_id": p} for p in products],
                    },
                }
            )
    return messages


def test_train_and_evaluate_a_workspace(cli_env: dict[str, str], tmp_path: Path) -> None:
    _run(cli_env, "workspace", "create", "shop")
    events = tmp_path / "orders.jsonl"
    events.write_text("\n".join(json.dumps(m) for m in _shop_orders()))
    assert _run(cli_env, "import", "events", str(events), "--workspace", "shop")[0] == 0
    models = tmp_path / "models"
    env = {**cli_env, "RELEVO_MODELS_DIR": str(models)}
    code, out = _run(env, "train", "--workspace", "shop")
    assert code == 0, out
    assert len(list(models.glob("*/*/manifest.json"))) == 1

    output = tmp_path / "evaluation"
    result = CliRunner().invoke(
        app, ["evaluate", "--workspace", "shop", "--json", "--output", str(output)], env=env
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    personal = report["results"]["personal"]
    strategies = {(row["strategy"], row["target"]) for row in personal}
    for baseline in ("most_popular", "item_knn", "ials", "ease", "relevo_for_you"):
        assert (baseline, "a") in strategies and (baseline, "b") in strategies
    assert ("buy_again", "a") in strategies and ("buy_again", "b") not in strategies
    for row in personal:
        assert 0.0 <= row["ndcg@20"] <= 1.0 and row["people"] > 0
    # Re-buying staples is most of this shop: the personal ranking must find them.
    for_you_a = next(
        r for r in personal if r["strategy"] == "relevo_for_you" and r["target"] == "a"
    )
    popular_a = next(r for r in personal if r["strategy"] == "most_popular" and r["target"] == "a")
    assert for_you_a["ndcg@20"] > popular_a["ndcg@20"]
    assert (output / "shop" / "personal.csv").exists() and (
        output / "shop" / "personal.png"
    ).exists()
    # The propensity task: Relevo's model and the three references on the same customers.
    propensity = report["propensity"]
    models = {row["model"] for row in propensity["models"]}
    assert {"relevo_propensity", "bgnbd", "logistic_rfm", "gradient_boosting"} <= models
    assert propensity["people"] == 80
    assert (output / "shop" / "propensity_calibration.png").exists()


def test_train_computes_segments_that_the_cli_lists(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    _run(cli_env, "workspace", "create", "shop")
    events = tmp_path / "orders.jsonl"
    events.write_text("\n".join(json.dumps(m) for m in _shop_orders()))
    assert _run(cli_env, "import", "events", str(events), "--workspace", "shop")[0] == 0
    env = {**cli_env, "RELEVO_MODELS_DIR": str(tmp_path / "models")}
    code, out = _run(env, "segments", "--workspace", "shop")
    assert code == 2 and "relevo train" in out
    code, out = _run(env, "train", "--workspace", "shop")
    assert code == 0 and "80 customers scored" in out, out
    plot = tmp_path / "segments.png"
    code, out = _run(env, "segments", "--workspace", "shop", "--plot", str(plot))
    assert code == 0 and "seg-1" in out and "silhouette" in out, out
    assert plot.read_bytes()[:4] == b"\x89PNG"
