"""The next-item task follows session-rec's protocol: every prefix of each test session asked,
items unseen in training dropped from the test sessions and never ranked, rare items and
one-view sessions filtered first."""

from __future__ import annotations

import polars as pl

from relevo.offline.tasks import next_item
from relevo.recs.data import Interactions, Kind
from relevo.recs.sessions import SessionKNN

MINUTE = 60_000


def _sessions(sessions: list[list[str]]) -> Interactions:
    rows = []
    for n, items in enumerate(sessions):
        for step, item in enumerate(items):
            rows.append((f"u{n}", item, n * 120 * MINUTE + step * MINUTE, n))
    frame = pl.DataFrame(
        rows, schema=["user_id", "item_id", "timestamp", "session_id"], orient="row"
    ).with_columns(pl.lit(int(Kind.VIEW)).alias("kind"))
    return Interactions.from_frame(frame)


def test_every_prefix_is_asked_and_a_chain_is_followed() -> None:
    chain = ["a", "b", "c", "d"]
    data = _sessions([chain] * 18 + [chain, chain])  # the last 10% of sessions are the test
    result = next_item(data, {"session": SessionKNN})["session"]
    assert result["people"] == 2 * 3  # prefixes a, ab, abc of both test sessions
    assert result["hit@20"] == 1.0  # four items in all: the next one is always in the top 20


def test_items_unseen_in_training_leave_the_test_sessions() -> None:
    chain = ["a", "b", "c", "d"]
    # "x" is viewed five times, all in the test sessions: nothing could have predicted it.
    data = _sessions([chain] * 18 + [["a", "x", "x", "b"], ["x", "x", "x", "c"]])
    result = next_item(data, {"session": SessionKNN})["session"]
    assert result["people"] == 1  # [a, b] remains of the first, [c] (one view) of the second
    assert result["hit@20"] == 1.0


def test_rare_items_are_filtered_before_the_split() -> None:
    chain = ["a", "b", "c", "d"]
    rare = [["a", "b", "c", "d", "rare"]] * 4  # seen 4 times: under session-rec's 5
    data = _sessions([chain] * 14 + rare + [chain, chain])
    with_rare = next_item(data, {"session": SessionKNN}, min_item_support=1)["session"]
    without = next_item(data, {"session": SessionKNN})["session"]
    assert without["people"] == 2 * 3 and with_rare["people"] == 2 * 3
    assert without["hit@20"] == 1.0
