"""`journeymap paths` end to end: files or a workspace, three formats, --stage, errors."""

from __future__ import annotations

import csv
import io
import json

import pytest

from journeymap.cli.main import main

pytestmark = pytest.mark.filterwarnings("ignore:fetch_record_batch.. is deprecated:DeprecationWarning")

JOURNEY = """\
name: Shop
inactivity: 2d
stages:
  - id: visit
    owner: marketing
    enter: {event: visit}
  - id: signup
    owner: growth
    enter: {event: signup}
  - id: purchase
    owner: sales
    enter: {event: purchase}
personas:
  - {id: pro, where: {plan: pro}}
  - {id: free, where: {plan: free}}
"""

# u1 follows the design; u2 loops on visit and drops after signup (silent 9 days);
# u3 buys without signing up (skip); u4 visits, reads help and goes silent
EVENTS = """\
user_id,event,ts,plan
u1,visit,2024-01-01T00:00:00Z,pro
u1,signup,2024-01-01T01:00:00Z,pro
u1,purchase,2024-01-02T00:00:00Z,pro
u2,visit,2024-01-01T00:00:00Z,free
u2,visit,2024-01-01T00:10:00Z,free
u2,signup,2024-01-01T02:00:00Z,free
u3,visit,2024-01-05T00:00:00Z,free
u3,purchase,2024-01-05T00:30:00Z,free
u4,visit,2024-01-03T00:00:00Z,pro
u4,help,2024-01-03T00:05:00Z,pro
u1,help,2024-01-10T00:00:00Z,pro
"""


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def files(tmp_path):
    (tmp_path / "journey.yml").write_text(JOURNEY)
    (tmp_path / "events.csv").write_text(EVENTS)
    return tmp_path


@pytest.fixture()
def workspace(files, capsys):
    ws = files / "ws"
    assert run(["init", ws, "--journey", files / "journey.yml"], capsys)[0] == 0
    code, out, _ = run(["ingest", files / "events.csv", "-w", ws], capsys)
    assert code == 0 and "11 events added" in out
    return ws


def adhoc(files, *extra):
    return ["paths", "-j", files / "journey.yml", "-e", files / "events.csv", *extra]


def check_json(data: dict) -> None:
    assert data["journey"] == "Shop"
    assert data["users"] == 4
    assert {"event_transitions", "stage_transitions", "paths", "repeats", "stage_moves", "exits",
            "conformance", "sankey", "graph"} <= set(data)
    stage_edges = {(e["from"], e["to"]): e["count"] for e in data["stage_transitions"]["edges"]}
    assert stage_edges[("$start", "visit")] == 4
    assert stage_edges[("visit", "visit")] == 1
    assert stage_edges[("visit", "purchase")] == 1
    # exits: silence longer than 2 days, data end 2024-01-10; u3 never signed up, so by
    # the stage rules they are still in stage visit when they go silent after purchase
    assert {(e["event"], e["stage"]): e["users"] for e in data["exits"]} == {
        ("signup", "signup"): 1, ("purchase", "purchase"): 1, ("purchase", "visit"): 1,
        ("help", "visit"): 1}
    c = data["conformance"]
    assert (c["users"], c["conforming"]) == (4, 2)
    assert c["kinds"] == {"loop": 1, "backtrack": 0, "skip": 1, "out_of_order": 0}
    assert c["personas"]["pro"]["users"] == 2 and c["personas"]["free"]["users"] == 2
    reps = {r["name"]: r for r in data["repeats"]}
    assert reps["visit"]["repeat_users"] == 1
    assert data["sankey"]["data"][0]["type"] == "sankey"


def test_adhoc_json(files, capsys):
    code, out, err = run(adhoc(files, "--format", "json"), capsys)
    assert code == 0, err
    check_json(json.loads(out))


def test_adhoc_with_users_file(files, capsys):
    (files / "users.csv").write_text("user_id,plan\nu1,free\nu2,free\nu3,free\nu4,pro\n")
    code, out, err = run(adhoc(files, "-u", files / "users.csv", "--persona", "free",
                               "--format", "json"), capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["users"] == 3


def test_workspace_json_matches_adhoc(workspace, files, capsys):
    code, out, err = run(["paths", "-w", workspace, "--format", "json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    check_json(data)
    _, adhoc_out, _ = run(adhoc(files, "--format", "json"), capsys)
    assert data["paths"] == json.loads(adhoc_out)["paths"]
    assert data["exits"] == json.loads(adhoc_out)["exits"]


def test_csv_is_the_top_paths(files, capsys):
    code, out, err = run(adhoc(files, "--format", "csv", "--start", "visit", "--depth", "2"), capsys)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["path", "users", "share"]
    got = {r["path"]: int(r["users"]) for r in rows}
    assert got == {"visit → signup → …": 1, "visit → visit → …": 1, "visit → purchase": 1,
                   "visit → help": 1}
    assert sum(float(r["share"]) for r in rows) == pytest.approx(1.0)


def test_table_format(files, capsys):
    code, out, err = run(adhoc(files, "--format", "table"), capsys)
    assert code == 0, err
    for title in ("stage transitions", "Top paths", "Repeated events", "Backtracks, loops and skips",
                  "Exits", "Conformance"):
        assert title in out, title
    assert "2 of 4 users" in out


def test_default_format_is_table(files, capsys, monkeypatch):
    monkeypatch.delenv("JOURNEYMAP_FORMAT", raising=False)
    code, out, _ = run(adhoc(files), capsys)
    assert code == 0 and "Top paths" in out


def test_stage_advanced_vs_dropped(files, capsys):
    code, out, err = run(adhoc(files, "--stage", "signup", "--format", "json"), capsys)
    assert code == 0, err
    at = json.loads(out)["at_stage"]
    assert [p["path"] for p in at["advanced"]["paths"]] == [["signup", "purchase", "help"]]
    assert [p["path"] for p in at["dropped"]["paths"]] == [["signup"]]
    code, out, err = run(adhoc(files, "--stage", "signup"), capsys)
    assert code == 0, err
    text = " ".join(out.split())  # rich wraps long titles
    assert "Paths of users who advanced from stage signup" in text
    assert "Paths of users who dropped from stage signup" in text


def test_include_exclude_options(files, capsys):
    code, out, err = run(adhoc(files, "--exclude", "help", "--format", "json"), capsys)
    assert code == 0, err
    data = json.loads(out)
    assert "help" not in {r["name"] for r in data["repeats"]}
    assert data["users"] == 4
    code, out, err = run(adhoc(files, "--include", "visit, purchase", "--format", "json"), capsys)
    assert code == 0, err
    assert {r["name"] for r in json.loads(out)["repeats"]} == {"visit", "purchase"}


def test_start_end_options(files, capsys):
    code, out, err = run(adhoc(files, "--start", "visit", "--end", "purchase", "--top", "1",
                               "--format", "json"), capsys)
    assert code == 0, err
    paths = json.loads(out)["paths"]
    assert paths["anchor"] == {"start": "visit", "end": "purchase", "depth": 6}
    assert paths["users"] == 2 and len(paths["paths"]) == 1


@pytest.mark.parametrize("extra, message", [
    (["--stage", "nope"], "unknown stage 'nope'"),
    (["--start", "vist"], "no event 'vist'"),
    (["--persona", "gold"], "unknown persona 'gold'"),
])
def test_bad_query_exits_with_error(files, capsys, extra, message):
    code, out, err = run(adhoc(files, *extra), capsys)
    assert code == 1
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err and out == ""


def test_bad_journey_file(files, capsys):
    (files / "bad.yml").write_text("name: x\nstages: []\n")
    code, _, err = run(["paths", "-j", files / "bad.yml", "-e", files / "events.csv"], capsys)
    assert code != 0 and err.startswith("error: ")


def test_bad_events_file(files, capsys):
    (files / "bad.csv").write_text("user,event,when\nu1,visit,yesterday\n")
    code, _, err = run(["paths", "-j", files / "journey.yml", "-e", files / "bad.csv"], capsys)
    assert code != 0 and err.startswith("error: ")


def test_usage_errors(files, capsys, tmp_path):
    code, _, err = run(["paths", "-e", files / "events.csv"], capsys)
    assert code == 2 and "error:" in err.lower() and "--journey" in err
    code, _, err = run(adhoc(files, "--depth", "0"), capsys)
    assert code == 2 and "error:" in err.lower()
    code, _, err = run(adhoc(files, "--format", "xml"), capsys)
    assert code == 2 and "error:" in err.lower()
    code, _, err = run(["paths", "-j", files / "journey.yml", "-e", tmp_path / "missing.csv"], capsys)
    assert code == 2 and "error:" in err.lower()


def test_no_workspace(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["paths"], capsys)
    assert code != 0 and err.startswith("error: ")
