"""The CLI funnel says what the Python funnel says: step conditions, alternatives,
optional steps and exclusions written on the command line; misspelt names get a
"did you mean"; `--section` exports any table of a result."""

from __future__ import annotations

import csv
import io
import json

import click
import pandas as pd
import pytest

import journeymap
from journeymap.cli.main import main
from journeymap.cli.step_syntax import parse_exclusion, parse_step

EVENTS = """\
user_id,event,ts,plan,amount
u1,signup,2024-01-01T00:00:00Z,pro,
u1,tour,2024-01-01T01:00:00Z,pro,
u1,purchase,2024-01-02T00:00:00Z,pro,50
u2,signup,2024-01-01T00:00:00Z,free,
u2,cancel,2024-01-01T02:00:00Z,free,
u2,purchase,2024-01-03T00:00:00Z,free,5
u3,signup,2024-01-01T00:00:00Z,free,
u3,checkout,2024-01-04T00:00:00Z,free,20
u4,signup,2024-01-02T00:00:00Z,pro,
u4,tour,2024-01-02T00:30:00Z,pro,
"""

JOURNEY = """\
name: Shop
stages:
  - {id: signup, owner: growth, enter: {event: signup}}
  - {id: purchase, owner: sales, enter: {event: [purchase, checkout]}, within: 7d}
personas:
  - {id: pro, where: {plan: pro}}
  - {id: free, where: {plan: free}}
min_volume: 1
"""


@pytest.fixture()
def files(tmp_path):
    (tmp_path / "events.csv").write_text(EVENTS)
    (tmp_path / "journey.yml").write_text(JOURNEY)
    return tmp_path


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def cli_funnel(files, capsys, *args):
    code, out, err = run(["funnel", *args, "-e", files / "events.csv", "--format", "json"], capsys)
    assert code == 0, err
    return json.loads(out)


def python_funnel(files, steps, **options):
    events = pd.read_csv(files / "events.csv", parse_dates=["ts"])
    return journeymap.funnel(events, steps, **options).to_dict()


@pytest.mark.parametrize("args, steps, options", [
    (["signup", "purchase[plan=pro]"],
     ["signup", {"event": "purchase", "where": {"plan": "pro"}}], {}),
    (["signup", "purchase[amount>=10]"],
     ["signup", {"event": "purchase", "where": {"amount": {"gte": 10}}}], {}),
    (["signup", "purchase|checkout"], ["signup", {"event": ["purchase", "checkout"]}], {}),
    (["signup", "tour?", "purchase|checkout"],
     ["signup", {"event": "tour", "optional": True}, {"event": ["purchase", "checkout"]}], {}),
    (["signup", "purchase", "--exclude", "cancel"], ["signup", "purchase"],
     {"exclusions": [("cancel", 0, 1)]}),
    (["signup", "tour", "purchase", "--exclude", "cancel:1-2", "--window", "1d"],
     ["signup", "tour", "purchase"], {"exclusions": [("cancel", 0, 1)], "window": "1d"}),
])
def test_cli_steps_count_as_the_python_funnel(files, capsys, args, steps, options):
    got = cli_funnel(files, capsys, *args)
    want = python_funnel(files, steps, **options)
    assert got["counts"] == want["counts"]
    assert got["rows"] == want["rows"]


def test_the_hand_counts_of_the_cli_syntax(files, capsys):
    # u1 and u2 purchase; only u1 on pro; checkout adds u3
    assert cli_funnel(files, capsys, "signup", "purchase")["counts"] == [4, 2]
    assert cli_funnel(files, capsys, "signup", "purchase[plan=pro]")["counts"] == [4, 1]
    assert cli_funnel(files, capsys, "signup", "purchase[plan!=pro]")["counts"] == [4, 1]
    assert cli_funnel(files, capsys, "signup", "purchase|checkout")["counts"] == [4, 3]
    # an exclusion removes the person from the funnel (PostHog): u2 cancelled in between
    assert cli_funnel(files, capsys, "signup", "purchase", "--exclude", "cancel")["counts"] == [3, 1]
    assert cli_funnel(files, capsys, "signup", "tour?", "purchase")["counts"] == [4, 2, 2]


def test_a_misspelt_step_says_did_you_mean(files, capsys):
    code, _, err = run(["funnel", "sigup", "purchase", "-e", files / "events.csv"], capsys)
    assert code == 1 and "unknown event 'sigup'" in err and "did you mean 'signup'?" in err
    code, _, err = run(["funnel", "signup", "purchase", "--exclude", "cancle",
                        "-e", files / "events.csv"], capsys)  # no zero count, still checked
    assert code == 1 and "unknown event 'cancle'" in err and "did you mean 'cancel'?" in err


@pytest.mark.parametrize("step", ["x[plan", "[plan=pro]", "a|", "x[plan=]", "x[=pro]", "x[]"])
def test_unreadable_steps_are_refused(step):
    with pytest.raises(click.BadParameter, match="cannot read|empty conditions"):
        parse_step(step)


@pytest.mark.parametrize("text, n, message", [
    ("cancel:2-2", 3, "FROM-TO with 1 <= FROM < TO <= 3"),
    ("cancel:0-2", 3, "FROM-TO"),
    ("cancel:1-4", 3, "the funnel has 3 steps"),
    ("cancel?", 3, "cannot be optional"),
])
def test_bad_exclusions_are_refused(text, n, message):
    with pytest.raises(click.BadParameter, match=message):
        parse_exclusion(text, n)


def test_an_exclusion_names_its_event_even_with_a_colon():
    assert parse_exclusion("app:crash", 2) == ({"event": ["app:crash"]}, 0, 1)
    assert parse_exclusion("app:crash:1-2", 3) == ({"event": ["app:crash"]}, 0, 1)


def test_section_exports_any_table(files, capsys):
    base = ["measure", "-j", files / "journey.yml", "-e", files / "events.csv"]
    code, out, _ = run(base + ["--format", "csv", "--section", "personas"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["persona"] for r in rows} == {"pro", "free"}
    pro_signup = next(r for r in rows if r["persona"] == "pro" and r["id"] == "signup")
    assert pro_signup["entered"] == "2"  # integers stay integers
    code, out, _ = run(base + ["--format", "json", "--section", "leaks"], capsys)
    assert code == 0 and isinstance(json.loads(out), list)
    code, out, _ = run(["funnel", "signup", "purchase", "-e", files / "events.csv",
                        "--breakdown", "plan", "--format", "csv", "--section", "breakdown"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [(r["plan"], r["step"], r["count"]) for r in rows] == [
        ("free", "1", "2"), ("free", "2", "1"), ("pro", "1", "2"), ("pro", "2", "1")]
    code, out, _ = run(["paths", "-j", files / "journey.yml", "-e", files / "events.csv",
                        "--format", "csv", "--section", "stage_transitions"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and {(r["from"], r["to"], r["users"]) for r in rows} >= {
        ("signup", "purchase", "3"), ("$start", "signup", "4")}


def test_a_wrong_section_or_a_section_without_export_is_refused(files, capsys):
    base = ["measure", "-j", files / "journey.yml", "-e", files / "events.csv"]
    code, _, err = run(base + ["--format", "csv", "--section", "leak"], capsys)
    assert code == 1 and "no section 'leak'" in err and "did you mean 'leaks'?" in err
    assert "sections: stages, leaks" in err
    code, _, err = run(base + ["--section", "leaks", "--format", "table"], capsys)
    assert code == 2 and "use it with --format csv or json" in err


def test_an_unknown_persona_lists_the_personas(files, capsys):
    code, _, err = run(["measure", "-j", files / "journey.yml", "-e", files / "events.csv",
                        "--persona", "gold"], capsys)
    assert code == 1 and "unknown persona 'gold'" in err and "(personas: pro, free)" in err
