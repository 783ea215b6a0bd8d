"""Audience webhooks go to public addresses only (relevo.audiences.webhook_urls): a URL naming
or resolving to the shop's own network is a 400 when saved, through HTTP on both backends, in
every form an address can be written; a delivery checks again and connects to the address it
checked, so a name that resolves elsewhere by then (DNS rebinding) reaches nothing; and
RELEVO_WEBHOOK_ALLOW_PRIVATE lets an on-premise installation post to its own network."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from relevo.api.app import create_app
from relevo.audiences.webhook_urls import (
    DeliveryFailed,
    UnsafeWebhookUrl,
    WebhookSender,
    check_webhook_url,
    forbidden,
    literal_address,
)
from relevo.services import Services
from relevo.storage.migrate import upgrade
from tests.conftest import Api
from tests.databases import drop_schema, make_settings
from tests.test_audiences_job import Receiver, receiver  # noqa: F401  (the fixture)

PUBLIC_V4, PUBLIC_V6 = "93.184.216.34", "2606:4700:4700::1111"


def _names(table: dict[str, list[str]]) -> object:
    """A resolver answering from a table, as DNS would at that moment."""
    return lambda host, port: table[host]


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://127.1/hook", "loopback"),  # two-part form
        ("http://2130706433/hook", "loopback"),  # one decimal number
        ("http://0177.0.0.1/hook", "loopback"),  # octal
        ("http://0x7f.0.0.1/hook", "loopback"),  # hex
        ("http://0x7f000001/hook", "loopback"),
        ("http://127.0.0.1./hook", "loopback"),  # trailing dot
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),  # IPv4-mapped IPv6
        ("http://[::ffff:7f00:1]/hook", "loopback"),
        ("http://[2002:7f00:1::]/hook", "loopback"),  # 6to4
        ("http://[64:ff9b::a9fe:a9fe]/hook", "cloud metadata"),  # NAT64 of 169.254.169.254
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
        ("http://169.254.10.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://10.0.0.5:8080/hook", "private"),
        ("http://172.16.3.4/", "private"),
        ("http://192.168.1.1/", "private"),
        ("https://[fc00::1]/", "private"),
        ("http://100.64.0.1/", "shared (CGNAT)"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://localhost:9000/hook", "loopback"),  # a name, by what it resolves to
        ("http://LOCALHOST/hook", "loopback"),
    ],
)
def test_non_public_targets_are_refused(url: str, kind: str) -> None:
    with pytest.raises(UnsafeWebhookUrl) as refused:
        check_webhook_url(url, allow_private=False)
    assert f"is a {kind}" in refused.value.message
    assert "RELEVO_WEBHOOK_ALLOW_PRIVATE=true" in refused.value.message


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/hook", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "only http and https"),
        ("http:///hook", "no host"),
        ("http://user:pw@93.184.216.34/hook", "no user or password"),
        ("http://93.184.216.34:99999/", "not a valid URL"),
        ("http://[::1/", "not a valid URL"),
        ("http://1.2.3.4.5/", "not a valid IPv4"),
        ("http://09.1.1.1/", "not a valid IPv4"),
        ("http://256.1.1.1/", "not a valid IPv4"),
        ("http://no-such-host.invalid/", "does not resolve"),
    ],
)
def test_malformed_urls_are_refused_even_when_private_targets_are_allowed(
    url: str, why: str
) -> None:
    with pytest.raises(UnsafeWebhookUrl) as refused:
        check_webhook_url(url, allow_private=True)
    assert why in refused.value.message


def test_public_targets_are_accepted_and_a_name_needs_all_its_addresses_public() -> None:
    assert check_webhook_url(f"https://{PUBLIC_V4}/hook?x=1", False).path == "/hook?x=1"
    assert check_webhook_url(f"http://[{PUBLIC_V6}]:8443/", False).port == 8443
    assert check_webhook_url(f"http://[::ffff:{PUBLIC_V4}]/", False).addresses
    dns = _names({"hooks.example.com": [PUBLIC_V4], "split.example.com": [PUBLIC_V4, "10.1.1.1"]})
    target = check_webhook_url("https://hooks.example.com/in", False, dns)  # type: ignore[arg-type]
    assert [str(a) for a in target.addresses] == [PUBLIC_V4] and target.port == 443
    with pytest.raises(UnsafeWebhookUrl, match=r"split.example.com \(10.1.1.1\) is a private"):
        check_webhook_url("https://split.example.com/in", False, dns)  # type: ignore[arg-type]
    assert check_webhook_url("http://127.0.0.1:8080/", allow_private=True).addresses


def test_literal_forms_read_as_inet_aton_reads_them() -> None:
    assert str(literal_address("3232235777")) == "192.168.1.1"
    assert str(literal_address("192.168.257")) == "192.168.1.1"
    assert str(literal_address("0xc0.0250.1.1")) == "192.168.1.1"
    assert literal_address("cafe.example") is None and literal_address("example.com") is None
    assert forbidden(literal_address(PUBLIC_V4)) is None  # type: ignore[arg-type]


def test_a_rebound_name_reaches_nothing(receiver: Receiver) -> None:  # noqa: F811
    """Public when the audience was saved, the receiver's loopback address at delivery."""
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    url = f"http://rebind.example.com:{port}/hook"
    answers = iter([[PUBLIC_V4], ["127.0.0.1"]])
    resolve = lambda host, port: next(answers)  # noqa: E731
    check_webhook_url(url, False, resolve)  # saved: it looked public
    with pytest.raises(UnsafeWebhookUrl, match="loopback"):
        WebhookSender(False, resolve)(url, b"{}", {"content-type": "application/json"})
    assert receiver.received == []


def test_a_delivery_connects_to_the_address_it_checked(receiver: Receiver) -> None:  # noqa: F811
    """The name is resolved once, by the check; the HTTP client is given the address (here a
    name no DNS knows), and the receiver still sees the URL's host."""
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    resolve = _names({"hooks.example.test": ["127.0.0.1"]})
    sender = WebhookSender(True, resolve)  # type: ignore[arg-type]
    url = f"http://hooks.example.test:{port}/hook"
    with pytest.raises(DeliveryFailed, match="HTTP Error 500"):  # the receiver fails once
        sender(url, b"{}", {"content-type": "application/json"})
    sender(url, b"{}", {"content-type": "application/json"})  # then answers 204
    assert len(receiver.received) == 2
    assert receiver.received[0][1]["host"] == f"hooks.example.test:{port}"


@pytest.fixture(scope="module")
def strict(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A server as installed by default: webhooks to public addresses only."""
    folder: Path = tmp_path_factory.mktemp(f"strict-{backend}")
    settings = make_settings(backend, str(folder), models_dir=str(folder / "models"))
    assert settings.webhook_allow_private is False
    services = Services.build(settings)
    upgrade(services.db)
    with TestClient(create_app(settings, services)) as client:
        yield Api(client, services, services.workspaces.create(f"s-{uuid.uuid4().hex[:8]}"))
    services.close()
    drop_schema(settings)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://[::ffff:169.254.169.254]/",
        "http://localhost:6379/",
        "http://2130706433:8000/v1/audiences",
        "gopher://example.com/",
    ],
)
def test_saving_a_private_webhook_url_is_a_400(strict: Api, url: str) -> None:
    body = {"id": "vip", "name": "VIP", "condition": {}, "webhook_url": url}
    created = strict.client.post("/v1/audiences", json=body, headers=strict.secret_auth)
    assert created.status_code == 400, created.text
    assert created.json()["error"]["code"] == "unsafe_webhook_url"
    assert "webhook_url" in created.json()["error"]["message"]
    assert strict.client.get("/v1/audiences/vip", headers=strict.secret_auth).status_code == 404


def test_changing_an_audience_to_a_private_webhook_url_is_a_400(strict: Api) -> None:
    body = {"name": "VIP", "condition": {}, "webhook_url": f"https://{PUBLIC_V4}/hook"}
    saved = strict.client.post(
        "/v1/audiences", json={"id": "vip2", **body}, headers=strict.secret_auth
    )
    assert saved.status_code == 201, saved.text
    changed = strict.client.put(
        "/v1/audiences/vip2",
        json={**body, "webhook_url": "http://[fd00:ec2::254]/latest"},
        headers=strict.secret_auth,
    )
    assert changed.status_code == 400 and "cloud metadata" in changed.text
    kept = strict.get("/v1/audiences/vip2")["webhook"]["url"]
    assert kept == f"https://{PUBLIC_V4}/hook"


def test_a_delivery_checks_the_target_again(
    api: Api,
    receiver: Receiver,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Saved where private targets were allowed (the suite's setting), delivered by the job
    once they are not: the attempt fails, says why, and the receiver gets nothing."""
    job = api.services.audience_job  # the server's own job (its thread runs it too)
    monkeypatch.setattr(job, "sender", WebhookSender(allow_private=False))
    body = {"id": "readers", "name": "Readers", "condition": {"$event": {"name": "Read"}},
            "webhook_url": receiver.url}  # fmt: skip
    assert api.client.post("/v1/audiences", json=body, headers=api.secret_auth).status_code == 201
    api.send("track", userId="reader", event="Read")
    api.settle()
    job.run_once()
    shown = api.get("/v1/audiences/readers/deliveries")["deliveries"]
    assert [(d["status"], d["attempts"]) for d in shown] == [("pending", 1)]
    assert "UnsafeWebhookUrl" in shown[0]["last_error"] and "loopback" in shown[0]["last_error"]
    assert receiver.received == []
