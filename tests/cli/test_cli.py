"""The `journeymap` command end to end: real files, real workspace, real exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from journeymap.cli.main import main

JOURNEY = """\
name: Shop
stages:
  - id: visit
    owner: marketing
    enter: {event: visit}
  - id: signup
    owner: growth
    enter: {event: signup}
    within: 7d
  - id: purchase
    owner: sales
    enter: {event: purchase}
    within: 14d
handoffs:
  - {from: signup, to: purchase, owner: revenue_ops}
personas:
  - {id: pro, where: {plan: pro}}
  - {id: free, where: {plan: free}}
min_volume: 1  # four users: the CLI mechanics, not the volume floor
"""

EVENTS = """\
user_id,event,ts,plan
u1,visit,2024-01-01T00:00:00Z,pro
u1,signup,2024-01-02T00:00:00Z,pro
u1,purchase,2024-01-03T00:00:00Z,pro
u2,visit,2024-01-01T00:00:00Z,free
u2,signup,2024-01-05T00:00:00Z,free
u3,visit,2024-01-02T00:00:00Z,free
u4,visit,2024-01-02T00:00:00Z,pro
u4,signup,2024-01-20T00:00:00Z,pro
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
    assert code == 0 and "8 events added" in out
    return ws


def test_measure_adhoc_json(files, capsys):
    code, out, _ = run(["measure", "-j", files / "journey.yml", "-e", files / "events.csv",
                        "--format", "json"], capsys)
    assert code == 0
    data = json.loads(out)
    stages = {s["id"]: s for s in data["stages"]}
    assert [stages[s]["entered"] for s in ("visit", "signup", "purchase")] == [4, 2, 1]
    assert stages["visit"]["rate"] == 0.5  # u4 signed up after the 7-day limit
    assert stages["signup"]["rate"] == 0.5
    assert stages["purchase"]["rate"] is None
    assert data["leaks"][0]["owner"] in {"marketing", "revenue_ops"}
    assert all(isinstance(f, str) for f in data["findings"])
    # without `min_volume: 1`, 4 users are below the default floor: no leak, and a finding says why
    (files / "default.yml").write_text(JOURNEY.replace("min_volume: 1", "# default volume"))
    code, out, _ = run(["measure", "-j", files / "default.yml", "-e", files / "events.csv",
                        "--format", "json"], capsys)
    data = json.loads(out)
    assert data["leaks"] == []
    assert any("fewer than 30 users" in f for f in data["findings"])


def test_measure_csv_and_table(files, capsys):
    base = ["measure", "-j", files / "journey.yml", "-e", files / "events.csv"]
    code, out, _ = run(base + ["--format", "csv"], capsys)
    assert code == 0 and out.splitlines()[0].startswith("id,owner,entered,advanced,rate")
    code, out, _ = run(base, capsys)
    assert code == 0 and "Top leaks" in out and "signup" in out


def test_workspace_flow(workspace, files, capsys):
    code, out, _ = run(["ingest", files / "events.csv", "-w", workspace], capsys)
    assert code == 0 and "0 events added, 8 duplicates skipped" in out
    assert run(["validate", "-w", workspace], capsys)[0] == 0
    code, out, _ = run(["measure", "-w", workspace, "--by", "persona", "--period", "week",
                        "--format", "json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert set(data["groups"]) == {"pro", "free"}
    assert data["cohorts"] and all("immature" in c for c in data["cohorts"])
    code, out, _ = run(["measure", "-w", workspace, "--persona", "pro", "--format", "json"], capsys)
    assert json.loads(out)["stages"][0]["entered"] == 2


def test_a_workspace_measures_the_journey_file_given(workspace, files, capsys):
    draft = files / "draft.yml"
    draft.write_text(JOURNEY.replace("id: purchase", "id: buy").split("handoffs:")[0])
    for command in (["measure"], ["paths"]):
        code, out, _ = run([*command, "-w", workspace, "-j", draft, "--format", "json"], capsys)
        assert code == 0, out
        assert "buy" in out and "purchase" not in json.dumps(json.loads(out).get("stages", []))
    code, out, _ = run(["measure", "-w", workspace, "--format", "json"], capsys)
    assert [s["id"] for s in json.loads(out)["stages"]] == ["visit", "signup", "purchase"]
    draft.write_text("name: J\nstages:\n" + "".join(
        f"  - {{id: s{i}, owner: t, enter: {{event: visit}}}}\n" for i in range(63)))
    code, _, err = run(["measure", "-w", workspace, "-j", draft], capsys)
    assert code != 0 and "draft.yml:65:5: 63 stages: a journey has at most 62" in err


def test_funnel_command(files, capsys):
    code, out, _ = run(["funnel", "visit", "signup", "purchase", "-e", files / "events.csv",
                        "--window", "3d", "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["counts"] == [4, 1, 1]


def test_bad_rows_rejected_whole_then_skipped(workspace, files, capsys):
    bad = files / "bad.csv"
    bad.write_text("user_id,event,ts\nu9,visit,2024-01-01\nu9,,2024-01-02\nu9,signup,nope\n")
    code, _, err = run(["ingest", bad, "-w", workspace], capsys)
    assert code == 1 and err.startswith("error:")
    assert "bad.csv:3" in err and "bad.csv:4" in err
    code, out, _ = run(["measure", "-w", workspace, "--format", "json"], capsys)
    assert json.loads(out)["stages"][0]["entered"] == 4  # nothing of bad.csv was loaded
    rejected = files / "rejected.csv"
    code, out, _ = run(["ingest", bad, "-w", workspace, "--skip-bad-rows", rejected], capsys)
    assert code == 0 and "1 events added" in out
    assert len(rejected.read_text().strip().splitlines()) == 3  # header + 2 rows


def test_validate_reports_unknown_event_with_location(files, capsys):
    broken = files / "broken.yml"
    broken.write_text(JOURNEY.replace("event: purchase", "event: purchse"))
    code, _, err = run(["validate", "-j", broken, "-e", files / "events.csv"], capsys)
    assert code == 1
    assert "broken.yml:12:20:" in err and "did you mean 'purchase'" in err


def test_validate_reports_missing_owner(files, capsys):
    broken = files / "noowner.yml"
    broken.write_text(JOURNEY.replace("    owner: growth\n", ""))
    code, _, err = run(["validate", "-j", broken], capsys)
    assert code == 1 and "noowner.yml:" in err and "owner" in err


def test_errors_are_one_line_unless_debug(files, capsys):
    args = ["measure", "-j", files / "journey.yml", "-e", files / "events.csv", "--persona", "team"]
    code, _, err = run(args, capsys)
    assert code == 1 and "unknown persona 'team'" in err and "Traceback" not in err
    code, _, err = run(["--debug", *args], capsys)
    assert code == 1 and "Traceback" in err


@pytest.mark.parametrize("command", [["measure"], ["funnel", "visit", "signup"]])
def test_an_empty_workspace_says_how_to_add_events(files, capsys, command):
    ws = files / "empty"
    assert run(["init", ws, "--journey", files / "journey.yml"], capsys)[0] == 0
    code, _, err = run([*command, "-w", ws], capsys)
    assert code == 1 and "is empty: run `journeymap ingest FILE`" in err and "Traceback" not in err


def test_usage_errors(files, capsys):
    code, _, err = run(["measure", "-e", files / "events.csv"], capsys)
    assert code == 2 and "--journey" in err
    code, _, err = run(["ingest", files / "events.csv", "--map", "user_id", "-w", files], capsys)
    assert code != 0


def test_init_refuses_a_foreign_folder(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = run(["init", tmp_path], capsys)
    assert code == 1 and "error:" in err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_schema_is_json(capsys):
    code, out, _ = run(["schema"], capsys)
    assert code == 0 and json.loads(out)["type"] == "object"


def test_console_script_and_demo(tmp_path):
    exe = Path(sys.executable).with_name("journeymap")
    proc = subprocess.run([str(exe), "demo", "--users", "3000", "--dir", str(tmp_path / "d"),
                           "--format", "json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)["map"]
    actual = json.loads(proc.stdout)["actual"]
    assert any(r["name"] == "checkout_step" and r["repeat_users"] for r in actual["repeats"])
    assert actual["exits"] and actual["conformance"]["users"] == 3000
    assert data["stages"][0]["entered"] == 3000
    assert data["leaks"] and data["findings"] and set(data["personas"]) == {"solo", "team",
                                                                             "enterprise"}
    assert json.loads((tmp_path / "d" / "demo.json").read_text())["stories"]["rates"]
