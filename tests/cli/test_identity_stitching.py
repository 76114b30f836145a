"""Anonymous and known identities are stitched before anything is measured."""

from __future__ import annotations

import json

from journeymap.cli.main import main

JOURNEY = """\
name: stitched
stages:
  - {id: visit, owner: marketing, enter: {event: visit}}
  - {id: signup, owner: growth, enter: {event: signup}}
  - {id: purchase, owner: sales, enter: {event: purchase}}
"""

BATCH = {"batch": [
    {"type": "track", "anonymousId": "anon-1", "event": "visit", "messageId": "m1",
     "timestamp": "2024-03-01T10:00:00Z"},
    {"type": "identify", "anonymousId": "anon-1", "userId": "alice", "messageId": "m2",
     "timestamp": "2024-03-01T10:05:00Z", "traits": {"plan": "pro"}},
    {"type": "track", "userId": "alice", "event": "signup", "messageId": "m3",
     "timestamp": "2024-03-01T10:06:00Z"},
    {"type": "track", "anonymousId": "device-9", "event": "visit", "messageId": "m4",
     "timestamp": "2024-03-02T09:00:00Z"},
    {"type": "alias", "previousId": "device-9", "userId": "bob", "messageId": "m5",
     "timestamp": "2024-03-02T09:01:00Z"},
    {"type": "track", "userId": "bob", "event": "signup", "messageId": "m6",
     "timestamp": "2024-03-02T09:02:00Z"},
    {"type": "track", "userId": "bob", "event": "purchase", "messageId": "m7",
     "timestamp": "2024-03-02T09:03:00Z"},
]}


def test_segment_identify_and_alias_join_anonymous_visits_to_users(tmp_path, capsys):
    (tmp_path / "j.yml").write_text(JOURNEY)
    (tmp_path / "batch.json").write_text(json.dumps(BATCH))
    ws = tmp_path / "ws"
    assert main(["init", str(ws), "--journey", str(tmp_path / "j.yml")]) == 0
    assert main(["ingest", str(tmp_path / "batch.json"), "-w", str(ws)]) == 0
    capsys.readouterr()
    assert main(["measure", "-w", str(ws), "--format", "json"]) == 0
    stages = {s["id"]: s for s in json.loads(capsys.readouterr().out)["stages"]}
    # without stitching the anonymous visits and the known sign-ups would be four people
    assert [stages[s]["entered"] for s in ("visit", "signup", "purchase")] == [2, 2, 1]
    assert stages["visit"]["rate"] == 1.0
