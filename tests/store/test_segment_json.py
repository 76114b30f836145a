"""Segment messages: track, page, screen, identify, alias, group; batch, list and JSONL files."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from journeymap.store.readers import read_events

UTC = dt.timezone.utc
BATCH = """
{
  "sentAt": "2024-03-01T10:00:09Z",
  "context": {"library": {"name": "analytics.js", "note": "\\"batch\\": ["}},
  "batch": [
    {"type": "track", "event": "Signed Up", "userId": "u1", "anonymousId": "a1", "messageId": "m1",
     "timestamp": "2024-03-01T10:00:00Z", "originalTimestamp": "2024-03-01T09:00:00Z",
     "properties": {"plan": "pro", "seats": 3, "items": [1, 2], "event": "clash"}},
    {"type": "page", "name": "Pricing", "anonymousId": "a1", "messageId": "m2",
     "timestamp": "2024-03-01T10:00:01Z", "properties": {"url": "https://x.test/pricing"}},
    {"type": "screen", "name": "Home", "userId": "u1", "messageId": "m3",
     "originalTimestamp": "2024-03-01T10:00:02Z"},
    {"type": "identify", "userId": "u1", "anonymousId": "a1",
     "traits": {"email": "u1@x.test", "seats": 3, "address": {"city": "Oslo"}}},
    {"type": "alias", "previousId": "a9", "userId": "u1"},
    {"type": "group", "userId": "u1", "groupId": "g1"},
    {"type": "trak", "userId": "u1"},
    {"type": "track", "event": "No Time", "userId": "u1", "messageId": "m4"},
    {"type": "track", "event": "Sent", "userId": "u1", "messageId": "m5", "sentAt": 1709287203}
  ]
}
"""


@pytest.fixture
def batch(write):
    return read_events(write("segment.json", BATCH))


def test_track_page_screen_become_events(batch):
    got = {r["event_id"]: r for r in batch.events.to_pylist()}
    assert sorted(got) == ["m1", "m2", "m3", "m5"]
    track, page, screen = got["m1"], got["m2"], got["m3"]
    assert (track["event"], track["user_id"], track["anonymous_id"]) == ("Signed Up", "u1", "a1")
    assert track["ts"] == dt.datetime(2024, 3, 1, 10, tzinfo=UTC)          # timestamp wins
    assert (track["plan"], track["seats"], json.loads(track["items"])) == ("pro", 3, [1, 2])
    assert track["prop_event"] == "clash"
    assert (page["event"], page["name"], page["url"], page["user_id"]) == \
        ("$pageview", "Pricing", "https://x.test/pricing", "a1")
    assert screen["event"] == "$screen" and screen["ts"] == dt.datetime(2024, 3, 1, 10, 0, 2, tzinfo=UTC)
    assert got["m5"]["ts"] == dt.datetime(2024, 3, 1, 10, 0, 3, tzinfo=UTC)  # sentAt, epoch seconds


def test_identify_alias_and_group(batch):
    assert batch.users.to_pylist() == [{"user_id": "u1", "email": "u1@x.test", "seats": 3,
                                        "address": '{"city":"Oslo"}'}]
    assert batch.identities.to_pylist() == [{"anonymous_id": "a1", "user_id": "u1"},
                                            {"anonymous_id": "a9", "user_id": "u1"}]


def test_unknown_types_and_bad_messages_are_rejected_with_lines(batch, tmp_path):
    got = [(r.location.rsplit(":", 1)[1], r.reason) for r in batch.rejected]
    assert got == [("16", "unknown Segment message type 'trak' — did you mean 'track'?"),
                   ("17", "missing ts")]
    assert json.loads(batch.rejected[0].raw) == {"type": "trak", "userId": "u1"}


def test_list_of_messages(write):
    path = write("list.json", json.dumps([
        {"type": "track", "event": "A", "userId": "u1", "timestamp": "2024-03-01T10:00:00Z"},
        {"type": "alias", "previousId": "a1"},
    ], indent=1))
    res = read_events(path)
    assert res.events.column("event").to_pylist() == ["A"]
    assert [(r.location, r.reason) for r in res.rejected] == \
        [(f"{path}:8", "alias message needs previousId and userId")]


def test_jsonl_messages_detected_or_forced(write):
    track = {"type": "track", "event": "A", "userId": "u1", "timestamp": "2024-03-01T10:00:00Z",
             "messageId": "x"}
    text = (json.dumps(track) + "\n{broken\n"
            '{"type": "identify", "anonymousId": "a1", "traits": {"plan": "free"}}\n')
    for path, fmt in [(write("m.jsonl", text), None), (write("m.log", text), "segment")]:
        res = read_events(path, format=fmt)
        assert res.events.column("event_id").to_pylist() == ["x"]
        assert res.users.to_pylist() == [{"user_id": "a1", "plan": "free"}]
        assert res.identities is None
        assert [(r.location, r.reason.split(":")[0]) for r in res.rejected] == \
            [(f"{path}:2", "malformed JSON line")]


def test_message_id_dedupe_comes_from_the_store(write, tmp_path):
    from journeymap.store.eventstore import EventStore
    msg = {"type": "track", "event": "A", "userId": "u1", "messageId": "same",
           "timestamp": "2024-03-01T10:00:00Z"}
    res = read_events(write("dup.json", json.dumps({"batch": [msg, {**msg, "properties": {"k": 1}}]})))
    store = EventStore(tmp_path / "store")
    assert store.append(res.events).added == 1
    again = read_events(write("again.jsonl", json.dumps(msg) + "\n"))
    stats = store.append(again.events)
    assert (stats.added, stats.duplicates) == (0, 1)
