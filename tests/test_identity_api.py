"""Identity resolution through the API: merges, guards, alias, limits, lookups by any identity."""

from __future__ import annotations

from tests.conftest import Api


def test_identify_after_anonymous_browsing_merges_history(api: Api) -> None:
    api.send("page", anonymousId="anon-1", properties={"url": "https://shop.example/"})
    api.send("track", event="Product Viewed", anonymousId="anon-1", properties={"product_id": "p1"})
    api.send("identify", userId="cust-1", traits={"email": "Ann@Example.com"})
    api.send("identify", userId="cust-1", anonymousId="anon-1")
    by_anon = api.profile("anonymous_id", "anon-1")
    by_user = api.profile("user_id", "cust-1")
    by_email = api.profile("email", "ann@example.com")
    assert by_anon["profile_id"] == by_user["profile_id"] == by_email["profile_id"]
    assert by_user["computed"]["events"] == 4
    assert by_user["computed"]["product_views"] == 1
    kinds = {(i["kind"], i["value"]) for i in by_user["identities"]}
    assert kinds == {
        ("anonymous_id", "anon-1"),
        ("user_id", "cust-1"),
        ("email", "ann@example.com"),
    }
    events = api.get("/v1/profiles/email/ANN@example.com/events")["events"]
    assert len(events) == 4
    merges = api.get("/v1/profiles/user_id/cust-1/merges")["merges"]
    assert [(m["status"], m["reason"]) for m in merges] == [("merged", "shared_identity")]


def test_second_device_login_merges_devices(api: Api) -> None:
    api.send("track", event="Product Viewed", anonymousId="phone", properties={"product_id": "a"})
    api.send("identify", anonymousId="phone", userId="u-dev")
    api.send("track", event="Product Viewed", anonymousId="laptop", properties={"product_id": "b"})
    api.send("identify", anonymousId="laptop", userId="u-dev")
    profile = api.profile("anonymous_id", "laptop")
    assert profile["profile_id"] == api.profile("anonymous_id", "phone")["profile_id"]
    assert profile["computed"]["product_views"] == 2


def test_two_customers_on_a_shared_computer_are_never_fused(api: Api) -> None:
    api.send("identify", anonymousId="shared-pc", userId="alice")
    api.send("identify", anonymousId="shared-pc", userId="bob")
    alice, bob = api.profile("user_id", "alice"), api.profile("user_id", "bob")
    assert alice["profile_id"] != bob["profile_id"]
    refused = [
        m for m in api.get("/v1/profiles/user_id/bob/merges")["merges"] if m["status"] == "refused"
    ]
    assert refused and refused[0]["reason"] == "different_user_ids"


def test_reused_email_does_not_fuse_two_customers(api: Api) -> None:
    api.send("identify", userId="c1", traits={"email": "family@example.com"})
    api.send("identify", userId="c2", traits={"email": "family@example.com"})
    assert api.profile("user_id", "c1")["profile_id"] != api.profile("user_id", "c2")["profile_id"]
    merges = api.get("/v1/profiles/user_id/c2/merges")["merges"]
    assert any(m["status"] == "refused" for m in merges)


def test_alias_links_previous_id(api: Api) -> None:
    api.send("track", event="Signed Up", anonymousId="before-signup")
    api.send("identify", userId="new-user")
    api.send("alias", previousId="before-signup", userId="new-user")
    assert (
        api.profile("anonymous_id", "before-signup")["profile_id"]
        == api.profile("user_id", "new-user")["profile_id"]
    )
    reasons = [m["reason"] for m in api.get("/v1/profiles/user_id/new-user/merges")["merges"]]
    assert reasons == ["alias"]


def test_alias_of_an_old_user_id(api: Api) -> None:
    api.send("identify", userId="old-id", traits={"plan": "basic"})
    api.send("alias", previousId="old-id", userId="renamed-id")
    profile = api.profile("user_id", "renamed-id")
    assert profile["profile_id"] == api.profile("user_id", "old-id")["profile_id"]
    assert profile["traits"]["plan"] == "basic"


def test_merge_is_idempotent(api: Api) -> None:
    api.send("track", event="E", anonymousId="idem")
    api.send("identify", userId="idem-user")
    for _ in range(3):
        api.send("identify", userId="idem-user", anonymousId="idem")
    merges = api.get("/v1/profiles/user_id/idem-user/merges")["merges"]
    assert len([m for m in merges if m["status"] == "merged"]) == 1


def test_custom_identity_kinds_resolve(api: Api) -> None:
    api.send(
        "identify",
        userId="loyal",
        context={
            "externalIds": [{"id": "CARD-778", "type": "loyalty_card", "collection": "users"}]
        },
    )
    api.send(
        "track",
        event="Store Visit",
        anonymousId="kiosk-1",
        context={"externalIds": [{"id": "CARD-778", "type": "loyalty_card"}]},
    )
    profile = api.profile("loyalty_card", "CARD-778")
    assert profile["profile_id"] == api.profile("user_id", "loyal")["profile_id"]
    assert profile["computed"]["event_counts"] == {"Store Visit": 1}


def test_phone_lookup_is_normalised(api: Api) -> None:
    api.send("identify", userId="caller", traits={"phone": "+44 20 7946-0000"})
    assert (
        api.profile("phone", "+442079460000")["profile_id"]
        == api.profile("user_id", "caller")["profile_id"]
    )


def test_anonymous_id_limit_refuses_merge(client, services) -> None:  # type: ignore[no-untyped-def]
    original = services.ingest.max_anonymous_ids
    services.ingest.max_anonymous_ids = 2
    try:
        keys = services.workspaces.create("limit-shop")
        api = Api(client, services, keys)
        for i in range(4):
            api.send("identify", anonymousId=f"bot-{i}", userId="crawler")
        profile = api.profile("user_id", "crawler")
        anonymous = [i for i in profile["identities"] if i["kind"] == "anonymous_id"]
        assert len(anonymous) == 2
        reasons = {m["reason"] for m in api.get("/v1/profiles/user_id/crawler/merges")["merges"]}
        assert "anonymous_id_limit" in reasons
    finally:
        services.ingest.max_anonymous_ids = original


def test_unknown_identity_is_404_with_message(api: Api) -> None:
    response = api.client.get("/v1/profiles/email/nobody@example.com", headers=api.secret_auth)
    assert response.status_code == 404
    assert "nobody@example.com" in response.json()["error"]["message"]


def test_workspaces_are_isolated(api: Api) -> None:
    api.send("identify", userId="private")
    other = api.services.workspaces.create(f"{api.keys.workspace.name}-b")
    response = api.client.get(
        "/v1/profiles/user_id/private", headers={"Authorization": f"Bearer {other.secret_key}"}
    )
    assert response.status_code == 404
