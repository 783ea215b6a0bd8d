"""Arbitrary input never gets a 5xx and nothing is dropped silently: every message of a batch
is either stored or quarantined and reported by its index."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from relevo.storage import schema as t
from tests.conftest import Api

ints = st.integers(-(2**63), 2**63 - 1)  # what JSON parsers (and orjson) accept
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
ids = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.integers(0, 10**6),
    st.booleans(),
    st.lists(ints, max_size=2),
)
times = st.one_of(
    st.none(),
    st.just("2024-05-01T10:00:00Z"),
    st.text(max_size=12),
    st.integers(-(2**63), 2**63 - 1),
)
messages = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(
                ["track", "identify", "page", "screen", "group", "alias", "bogus", ""]
            )
            | ids,
            "event": st.text(max_size=12) | ids,
            "userId": ids,
            "anonymousId": ids,
            "previousId": ids,
            "groupId": ids,
            "messageId": ids,
            "timestamp": times,
            "sentAt": times,
            "properties": json_values,
            "traits": json_values,
            "context": json_values,
        },
    ),
)


def _counts(api: Api) -> tuple[int, int]:
    workspace = api.keys.workspace.id
    with api.services.db.read() as conn:
        events = conn.execute(
            select(func.count()).where(t.events.c.workspace_id == workspace)
        ).scalar_one()
        quarantined = conn.execute(
            select(func.count()).where(t.quarantine.c.workspace_id == workspace)
        ).scalar_one()
    return int(events), int(quarantined)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(messages, max_size=8))
def test_any_batch_is_accounted_for(api: Api, batch: list[object]) -> None:
    before = _counts(api)
    response = api.client.post(
        "/v1/batch", content=orjson.dumps({"batch": batch}), headers=api.write_auth
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] + body["duplicates"] + len(body["rejected"]) == len(batch)
    events, quarantined = _counts(api)
    assert events - before[0] == body["accepted"]
    assert quarantined - before[1] == len(body["rejected"])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.binary(max_size=200) | json_values.map(orjson.dumps),
    kind=st.sampled_from(["batch", "track", "identify", "alias"]),
)
def test_any_body_gets_a_clear_answer(api: Api, body: bytes, kind: str) -> None:
    response = api.client.post(f"/v1/{kind}", content=body, headers=api.write_auth)
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert response.json()["error"]["message"]
