"""The same files give the same numbers ad hoc (`--events`, `--users`) and in a
workspace (`ingest`, `ingest --users`), for every measure and every input format:
de-duplication by event id or messageId and identity stitching happen on both
paths. Also: users files in a workspace, `validate --users`, refused options."""

from __future__ import annotations

import json

import pytest

import journeymap
from journeymap.cli.main import main
from journeymap.workspace import scratch_workspace

JOURNEY = """\
name: Shop
stages:
  - {id: visit, owner: marketing, enter: {event: visit}}
  - {id: signup, owner: growth, enter: {event: signup}, within: 7d}
  - {id: purchase, owner: sales, enter: {event: purchase}, within: 14d}
personas:
  - {id: pro, where: {plan: pro}}
  - {id: free, where: {plan: free}}
min_volume: 1
"""

# event ids: e2 is sent twice (a retried export), e9 is the same event under a new time zone
CSV_EVENTS = """\
event_id,user_id,event,ts,source
e1,u1,visit,2024-01-01T00:00:00Z,ads
e2,u1,signup,2024-01-02T00:00:00Z,ads
e2,u1,signup,2024-01-02T00:00:00Z,ads
e3,u1,purchase,2024-01-03T00:00:00Z,ads
e4,u2,visit,2024-01-01T00:00:00Z,seo
e5,u2,signup,2024-01-05T00:00:00Z,seo
e6,u3,visit,2024-01-02T00:00:00Z,seo
e7,u4,visit,2024-01-02T00:00:00Z,ads
e8,u4,signup,2024-01-04T00:00:00Z,ads
e9,u4,purchase,2024-01-06T00:00:00Z,ads
e9,u4,purchase,2024-01-06T01:00:00+01:00,ads
"""

USERS = """\
user_id,plan
u1,pro
u2,free
u3,free
u4,free
u4,pro
"""

SEGMENT = {"batch": [
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
    # retried by the client: the same messageIds again
    {"type": "track", "userId": "bob", "event": "purchase", "messageId": "m7",
     "timestamp": "2024-03-02T09:03:00Z"},
    {"type": "track", "userId": "alice", "event": "signup", "messageId": "m3",
     "timestamp": "2024-03-01T10:06:00Z"},
    {"type": "track", "userId": "carol", "event": "visit", "messageId": "m8",
     "timestamp": "2024-03-03T09:00:00Z"},
]}

MEASURES = [
    ["measure"],
    ["measure", "--persona", "pro"],
    ["measure", "--by", "persona"],
    ["measure", "--by", "source"],
    ["measure", "--period", "week"],
    ["funnel", "visit", "signup", "purchase", "--window", "3d"],
    ["funnel", "visit", "signup", "purchase", "--order", "strict", "--breakdown", "source"],
    ["funnel", "visit", "purchase", "--order", "unordered"],
    ["paths"],
    ["paths", "--stage", "visit"],
    ["kpis"],
    ["drivers", "--from", "visit", "--horizon", "1d", "--horizon", "7d"],
    ["activation", "--from", "visit", "--to", "purchase"],
    ["correlation", "visit", "purchase", "--kind", "events"],
    ["kpis", "--lead", "signup", "--first-value", "visit:purchase"],
    ["retention", "visit", "--period", "day", "--intervals", "6"],
    ["retention", "signup", "purchase", "--period", "day", "--intervals", "6", "--kind", "first_time",
     "--cumulative"],
]


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def files(tmp_path):
    (tmp_path / "journey.yml").write_text(JOURNEY)
    (tmp_path / "events.csv").write_text(CSV_EVENTS)
    (tmp_path / "users.csv").write_text(USERS)
    (tmp_path / "segment.json").write_text(json.dumps(SEGMENT))
    return tmp_path


def workspace_of(files, capsys, events: str, users: str | None):
    ws = files / f"ws-{events}"
    assert run(["init", ws, "--journey", files / "journey.yml"], capsys)[0] == 0
    code, out, err = run(["ingest", files / events, "-w", ws], capsys)
    assert code == 0, err
    if users:
        code, out, err = run(["ingest", "--users", files / users, "-w", ws], capsys)
        assert code == 0 and "user rows loaded (later values win)" in out, err
    return ws


def answers(files, capsys, command, *, events, users=None, workspace=None):
    journey_args = [] if command[0] in ("funnel", "retention", "correlation") else ["-j", files / "journey.yml"]
    where = (["-w", workspace] if workspace else
             ["-e", files / events, *(["-u", files / users] if users and journey_args else []),
              *journey_args])
    code, out, err = run([*command, *where, "--format", "json"], capsys)
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("events, users", [("events.csv", "users.csv"), ("segment.json", None)])
def test_every_measure_gives_the_same_numbers_ad_hoc_and_in_a_workspace(files, capsys, events, users):
    ws = workspace_of(files, capsys, events, users)
    for command in MEASURES:
        if events == "segment.json" and "source" in command:
            continue  # no such property in the Segment file
        adhoc = answers(files, capsys, command, events=events, users=users)
        stored = answers(files, capsys, command, events=events, workspace=ws)
        assert adhoc == stored, command


def test_the_ad_hoc_numbers_are_the_de_duplicated_and_stitched_ones(files, capsys):
    data = answers(files, capsys, ["funnel", "visit", "signup", "purchase", "--window", "30d"],
                   events="segment.json")
    # anon-1 is alice, device-9 is bob: 3 people; the retried m7 and m3 count once
    assert data["counts"] == [3, 2, 1]
    data = answers(files, capsys, ["measure"], events="events.csv", users="users.csv")
    assert [s["entered"] for s in data["stages"]] == [4, 3, 2]
    # e2 sent twice and e9 written twice (one instant, two zones) are one event each
    paths = answers(files, capsys, ["paths"], events="events.csv", users="users.csv")
    repeats = {r["name"]: r for r in paths["repeats"]}
    assert repeats["signup"]["repeat_users"] == 0 and repeats["purchase"]["repeat_users"] == 0


def test_users_files_set_personas_later_values_winning(files, capsys):
    ws = workspace_of(files, capsys, "events.csv", "users.csv")
    data = answers(files, capsys, ["measure", "--persona", "pro"], events="events.csv", workspace=ws)
    assert data["stages"][0]["entered"] == 2  # u1, and u4 whose later row says pro
    (files / "more.csv").write_text("user_id,plan\nu2,pro\n")
    assert run(["ingest", "--users", files / "more.csv", "-w", ws], capsys)[0] == 0
    data = answers(files, capsys, ["measure", "--persona", "pro"], events="events.csv", workspace=ws)
    assert data["stages"][0]["entered"] == 3  # the new file wins for u2, the others stay


def test_validate_checks_traits_against_a_users_file(files, capsys):
    base = ["validate", files / "journey.yml", "-e", files / "events.csv"]
    code, _, err = run(base, capsys)
    assert code == 1 and "plan" in err  # no users: the personas' trait is unknown
    code, out, err = run(base + ["-u", files / "users.csv"], capsys)
    assert code == 0 and "matches the data" in out, err
    ws = workspace_of(files, capsys, "events.csv", "users.csv")
    code, out, err = run(["validate", "-w", ws], capsys)
    assert code == 0 and "matches the data" in out, err


@pytest.mark.parametrize("extra, message", [
    (["-u", "users.csv"], "--users goes with --events or --table; to give a workspace users, run "
                          "`journeymap ingest --users FILE`"),
    (["--map", "user_id=customer"], "--map goes with --events or --table"),
])
def test_options_a_workspace_would_ignore_are_refused(files, capsys, extra, message):
    ws = workspace_of(files, capsys, "events.csv", None)
    extra = [files / e if e.endswith(".csv") else e for e in extra]
    for command in (["measure"], ["paths"], ["validate"]):
        code, _, err = run([*command, "-w", ws, *extra], capsys)
        assert code == 2 and message in err, (command, err)


def test_events_and_a_workspace_together_are_refused(files, capsys):
    ws = workspace_of(files, capsys, "events.csv", None)
    code, _, err = run(["measure", "-w", ws, "-e", files / "events.csv"], capsys)
    assert code == 2 and "either --events" in err


def test_python_scratch_workspace_equals_a_workspace(files, capsys):
    ws = journeymap.open(workspace_of(files, capsys, "segment.json", None))
    with scratch_workspace(files / "journey.yml", [files / "segment.json"]) as scratch:
        assert scratch.transitions().to_dict() == ws.transitions().to_dict()
        assert scratch.transitions(level="stage").to_dict() == ws.transitions(level="stage").to_dict()
        assert scratch.measure().to_dict() == ws.measure().to_dict()
