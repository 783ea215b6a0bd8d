"""Experiment results and the holdout's ROI through HTTP, on both backends: exposures and orders
sent through the real tracking path, read back as units, conversions and uplift; the sample
ratio check flags a skewed split and stays quiet on a fair one; a period narrows the units;
unknown experiments are 404s and bad periods 400s naming the parameter; the report command
writes its table and a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from relevo.experiments.exposure import EXPERIMENT_VIEWED, ExperimentExposure, exposure_message_id
from tests.conftest import Api
from tests.test_experiments_api import HERO, OFFER, experiment

REVENUE = {"id": "revenue", "event": "Order Completed", "metric": "revenue"}
AOV = {"id": "aov", "event": "Order Completed", "metric": "aov"}


def viewed(
    visitor: str, variation: str, day: int, device: str, experiment_id: str = "hero-copy"
) -> dict[str, Any]:
    exposure = ExperimentExposure(experiment_id, "Hero copy", variation, variation, device=device)
    return {
        "type": "track",
        "anonymousId": visitor,
        "event": EXPERIMENT_VIEWED,
        "properties": exposure.properties(),
        "timestamp": f"2026-11-{day:02d}T10:00:00Z",
        "messageId": exposure_message_id(experiment_id, visitor),
    }


def order(visitor: str, day: int, revenue: float) -> dict[str, Any]:
    return {
        "type": "track",
        "anonymousId": visitor,
        "event": "Order Completed",
        "properties": {"order_id": f"o-{visitor}", "revenue": revenue},
        "timestamp": f"2026-11-{day:02d}T12:00:00Z",
        "messageId": f"order-{visitor}",
    }


def run(api: Api, control: int, treated: int, experiment_id: str = "hero-copy",
        arms: tuple[str, str] = ("control", "offer")) -> None:  # fmt: skip
    """``control`` and ``treated`` visitors over three days; a third of the control's and half
    of the treated ones order (on their exposure day)."""
    messages = []
    for arm, count, share in ((arms[0], control, 3), (arms[1], treated, 2)):
        for n in range(count):
            visitor = f"{arm}-{n}"
            day = 1 + n % 3
            messages.append(viewed(visitor, arm, day, ["mobile", "desktop"][n % 2], experiment_id))
            if n % share == 0:
                messages.append(order(visitor, day, 20.0 + n % 7))
    for start in range(0, len(messages), 400):
        api.batch(messages[start : start + 400])


@pytest.fixture
def shop(api: Api) -> Api:
    for path, body in (("/v1/placements", HERO), ("/v1/experiences", OFFER),
                       ("/v1/experiments", experiment(goals=[
                           {"id": "orders", "event": "Order Completed"}, REVENUE],
                           guardrails=[AOV]))):  # fmt: skip
        response = api.client.post(path, json=body, headers=api.secret_auth)
        assert response.status_code == 201, response.text
    return api


def results(api: Api, **params: Any) -> Any:
    return api.get("/v1/experiments/hero-copy/results", **params)


def test_results_count_units_and_conversions_and_find_the_uplift(shop: Api) -> None:
    run(shop, 300, 300)
    found = results(shop)
    assert found["units"] == {"control": 300, "offer": 300}
    assert found["srm"]["flagged"] is False
    orders = found["goals"][0]
    assert orders["id"] == "orders" and orders["metric"] == "conversion"
    arms = {a["variation"]: a for a in orders["arms"]}
    assert arms["control"]["total"] == 100 and arms["offer"]["total"] == 150
    comparison = orders["comparisons"][0]
    assert comparison["variation"]["name"] == "offer"
    frequentist = comparison["frequentist"]
    assert frequentist["estimate"] == pytest.approx(0.5)
    low, high = frequentist["ci"]
    assert low < 0.5 < high and low > 0
    assert comparison["bayesian"]["chance_to_win"] > 0.95
    assert comparison["sequential"]["ci"][0] < low  # wider: valid at every look
    assert found["guardrails"][0]["id"] == "aov"
    timeline = found["timeline"]["points"]
    assert [p["date"] for p in timeline] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert timeline[-1]["estimate"] == pytest.approx(0.5)
    roi = found["roi"][0]
    assert roi["variation"] == "offer" and roi["incremental_revenue"] > 0
    assert roi["ci"][0] < roi["incremental_revenue"] < roi["ci"][1]


def test_a_skewed_split_is_flagged(shop: Api) -> None:
    run(shop, 150, 50)
    srm = results(shop)["srm"]
    assert srm["flagged"] is True and srm["p_value"] < 0.001
    assert srm["observed"] == {"control": 150, "offer": 50}


def test_a_period_narrows_the_units_and_a_dimension_breaks_them_down(shop: Api) -> None:
    run(shop, 30, 30)
    day_two = results(shop, **{"from": "2026-11-02", "to": "2026-11-03"})
    assert day_two["units"] == {"control": 10, "offer": 10}
    assert day_two["period"] == {"from": "2026-11-02T00:00:00Z", "to": "2026-11-03T00:00:00Z"}
    broken = results(shop, dimension="device")["breakdown"]
    assert broken["dimension"] == "device"
    values = {v["value"]: v for v in broken["values"]}
    assert set(values) == {"desktop", "mobile"} and values["mobile"]["units"] == 30
    first = values["mobile"]["goals"][0]["comparisons"][0]["frequentist"]
    assert first["adjusted_p_value"] is None or first["adjusted_p_value"] >= first["p_value"]


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-11-03", "to": "2026-11-01"}, "from"),
        ({"dimension": "colour"}, "dimension"),
    ],
)
def test_a_bad_period_is_a_400_naming_it(shop: Api, params: dict[str, str], names: str) -> None:
    response = shop.client.get(
        "/v1/experiments/hero-copy/results", params=params, headers=shop.secret_auth
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].startswith(names)


def test_unknown_experiments_and_keys(shop: Api) -> None:
    missing = shop.client.get("/v1/experiments/nope/results", headers=shop.secret_auth)
    assert missing.status_code == 404 and "nope" in missing.json()["error"]["message"]
    nul = shop.client.get("/v1/experiments/a%00b/results", headers=shop.secret_auth)
    assert nul.status_code == 404, nul.text
    assert shop.client.get("/v1/holdout/report", headers=shop.secret_auth).status_code == 404
    public = shop.client.get("/v1/experiments/hero-copy/results", headers=shop.write_auth)
    assert public.status_code in (401, 403)


def test_the_holdout_report_gives_the_programme_s_incremental_revenue(shop: Api) -> None:
    held = shop.client.put("/v1/holdout", json={"share": 0.5}, headers=shop.secret_auth)
    assert held.status_code == 200, held.text
    run(shop, 200, 200, "global-holdout", ("holdout", "personalized"))
    report = shop.get("/v1/holdout/report")
    assert report["units"] == {"holdout": 200, "personalized": 200}
    roi = report["roi"][0]
    assert roi["variation"] == "personalized" and roi["control"] == "holdout"
    assert roi["treated_units"] == 200 and roi["incremental_revenue"] > 0
    assert roi["ci"][0] < roi["incremental_revenue"] < roi["ci"][1]


def test_the_schema_documents_the_routes(shop: Api) -> None:
    paths = shop.client.get("/openapi.json").json()["paths"]
    results_path = paths["/v1/experiments/{experiment_id}/results"]["get"]
    assert {"400", "404"} <= set(results_path["responses"])
    assert {p["name"] for p in results_path["parameters"]} >= {"from", "to", "dimension"}
    assert "/v1/holdout/report" in paths


def test_the_report_command_writes_a_table_and_a_png(shop: Api, tmp_path: Path) -> None:
    from relevo.cli.main import app

    run(shop, 60, 60)
    png = tmp_path / "uplift.png"
    out = CliRunner().invoke(
        app,
        ["experiments", "report", "hero-copy", "--workspace", shop.keys.workspace.name,
         "--png", str(png), "--database-url", shop.services.settings.database_url],
        env={"RELEVO_DATABASE_SCHEMA": shop.services.settings.database_schema or ""},
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "offer" in out.output and "SRM" in out.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
