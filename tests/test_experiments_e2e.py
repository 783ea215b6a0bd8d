"""An experiment end to end against a running server (``relevo serve``), on both backends: a
simulated shop sends its visitors through the real ``POST /v1/decide`` (which assigns them and
records their exposures) and ``POST /v1/batch`` (their orders), variant B with a known true
uplift in conversion; ``GET /v1/experiments/{id}/results`` recovers the uplift inside its
interval and its SRM check stays quiet. A second experiment, whose exposures a shop's own SDK
reports with a deliberately skewed split, is flagged."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from relevo.settings import Settings
from tests.databases import drop_schema, make_settings
from tests.real_server import RealServer, create_workspace

pytestmark = pytest.mark.slow

VISITORS = 3000
RATE = {"a": 0.10, "b": 0.15}  # the true conversion rates: B's true relative uplift is +50%
TRUE_UPLIFT = RATE["b"] / RATE["a"] - 1
HYPOTHESIS = {"what": "free shipping instead of 10% off", "who": "every visitor",
              "why": "shipping costs are the top reason for abandoned carts"}  # fmt: skip
GOALS = [{"id": "orders", "event": "Order Completed", "metric": "conversion"},
         {"id": "revenue", "event": "Order Completed", "metric": "revenue",
          "property": "revenue"}]  # fmt: skip


@pytest.fixture
def settings(backend: str, tmp_path: Path) -> Iterator[Settings]:
    # One machine plays every visitor of the shop: from one IP, faster than a person.
    settings = make_settings(backend, str(tmp_path), rate_limit_per_ip="100000/second")
    yield settings
    drop_schema(settings)


def _set_up(http: httpx.Client) -> None:
    for path, body in [
        ("/v1/placements", {"id": "home-hero", "kind": "banner",
                            "default": {"content": {"headline": "Welcome"}}}),
        ("/v1/placements", {"id": "footer", "kind": "banner"}),
        ("/v1/experiences", {"id": "offer", "placement": "home-hero",
                             "variants": [{"id": "a", "content": {"headline": "10% off"}},
                                          {"id": "b", "content": {"headline": "Free shipping"}}]}),
        ("/v1/experiences", {"id": "newsletter", "placement": "footer",
                             "variants": [{"id": "a", "content": {"headline": "Sign up"}},
                                          {"id": "b", "content": {"headline": "Join"}}]}),
        ("/v1/experiments", {"id": "offer-test", "name": "Offer test", "hypothesis": HYPOTHESIS,
                             "kind": "experience", "experience": "offer", "goals": GOALS,
                             "variations": [{"id": "A", "variant": "a"},
                                            {"id": "B", "variant": "b"}]}),
        ("/v1/experiments", {"id": "sdk-test", "name": "SDK test", "hypothesis": HYPOTHESIS,
                             "kind": "experience", "experience": "newsletter", "goals": GOALS,
                             "variations": [{"id": "A", "variant": "a"},
                                            {"id": "B", "variant": "b"}]}),
        ("/v1/experiments/offer-test/start", None),
        ("/v1/experiments/sdk-test/start", None),
    ]:  # fmt: skip
        response = http.post(path, json=body)
        assert response.status_code in (200, 201), response.text


def _visit(url: str, write_key: str, numbers: range, seed: int) -> tuple[Counter[str], list[Any]]:
    """Visitors decided for one by one (as a page would), their orders returned to be sent."""
    rng = random.Random(seed)
    shown: Counter[str] = Counter()
    orders: list[Any] = []
    with httpx.Client(base_url=url, auth=(write_key, ""), timeout=30) as http:
        for n in numbers:
            visitor = f"sim-{n}"
            answer = http.post(
                "/v1/decide", json={"anonymousId": visitor, "placements": ["home-hero"]}
            )
            assert answer.status_code == 200, answer.text
            variant = answer.json()["placements"]["home-hero"]["variant"]
            shown[variant] += 1
            if rng.random() < RATE[variant]:
                revenue = 40 + 20 * rng.random()
                orders.append({"type": "track", "anonymousId": visitor,
                               "event": "Order Completed", "messageId": f"order-{n}",
                               "properties": {"order_id": f"o{n}",
                                              "revenue": revenue}})  # fmt: skip
    return shown, orders


def _results(http: httpx.Client, experiment_id: str, units: int) -> dict[str, Any]:
    """The results once every exposure and order is in (events are stored asynchronously)."""
    deadline = time.monotonic() + 60
    while True:
        response = http.get(f"/v1/experiments/{experiment_id}/results")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        if _units(found) >= units or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def _units(results: dict[str, Any]) -> int:
    return sum(int(n) for n in results["units"].values())


def _comparison(results: dict[str, Any], goal: str) -> dict[str, Any]:
    [metric] = [m for m in results["goals"] if m["id"] == goal]
    [found] = metric["comparisons"]  # B against the control A
    return dict(found)


def test_a_simulated_shop_recovers_the_true_uplift_and_the_srm_check(settings: Settings) -> None:
    server = RealServer(settings, workers=2)
    try:
        keys = create_workspace(settings, "sim")
        secret = {"Authorization": f"Bearer {keys['secret_key']}"}
        with httpx.Client(base_url=server.url, headers=secret, timeout=30) as http:
            _set_up(http)
            chunks = [
                range(n, min(n + VISITORS // 4, VISITORS))
                for n in range(0, VISITORS, VISITORS // 4)
            ]
            with ThreadPoolExecutor(4) as pool:
                done = list(
                    pool.map(lambda c: _visit(server.url, keys["write_key"], c, c.start), chunks)
                )
            shown = sum((s for s, _ in done), Counter())
            orders = [o for _, found in done for o in found]
            assert set(shown) == {"a", "b"}
            with httpx.Client(
                base_url=server.url, auth=(keys["server_write_key"], ""), timeout=30
            ) as track:
                for start in range(0, len(orders), 200):
                    sent = track.post("/v1/batch", json={"batch": orders[start : start + 200]})
                    assert sent.status_code == 200, sent.text
                # The shop's own SDK assigns the second experiment and reports its exposures:
                # 56/44 where the weights say 50/50.
                skewed = [{"type": "track", "anonymousId": f"sdk-{n}",
                           "event": "Experiment Viewed", "messageId": f"sdk-exposure-{n}",
                           "properties": {"experiment_id": "sdk-test",
                                          "experiment_name": "SDK test",
                                          "variation_id": "A" if n % 25 < 14 else "B",
                                          "variation_name": ""}}
                          for n in range(2000)]  # fmt: skip
                for start in range(0, len(skewed), 200):
                    sent = track.post("/v1/batch", json={"batch": skewed[start : start + 200]})
                    assert sent.status_code == 200, sent.text
            results = _results(http, "offer-test", VISITORS)
            assert _units(results) == VISITORS
            assert results["units"] == {"A": shown["a"], "B": shown["b"]}
            assert results["srm"]["flagged"] is False, results["srm"]
            uplift = _comparison(results, "orders")["frequentist"]
            low, high = uplift["ci"]
            assert low <= TRUE_UPLIFT <= high, uplift
            assert low > 0, uplift  # and the test sees B win
            sdk = _results(http, "sdk-test", 2000)
            assert sdk["srm"]["flagged"] is True and sdk["srm"]["p_value"] < 0.001, sdk["srm"]
    finally:
        server.stop()
