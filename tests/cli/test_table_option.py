"""`--table URL::TABLE`: a database table is measured like a file of the same rows, ad hoc
(measure, funnel, paths, validate) and through `journeymap ingest --table`; a wrong table
spec is an `error:` line, never a traceback."""

from __future__ import annotations

import json
import sqlite3

import duckdb
import pytest

from tests.cli.test_adhoc_equals_workspace import CSV_EVENTS, JOURNEY, USERS, run

COMMANDS = [
    ["measure", "-j", "{journey}"],
    ["measure", "-j", "{journey}", "--period", "week"],
    ["funnel", "visit", "signup", "purchase", "--window", "3d"],
    ["paths", "-j", "{journey}"],
]


@pytest.fixture()
def data(tmp_path):
    (tmp_path / "journey.yml").write_text(JOURNEY)
    (tmp_path / "users.csv").write_text(USERS)
    csv = tmp_path / "events.csv"
    csv.write_text(CSV_EVENTS)
    with duckdb.connect(str(tmp_path / "shop.db")) as con:
        con.execute(f"CREATE TABLE events AS SELECT * FROM read_csv('{csv}', all_varchar=true)")
    rows = [line.split(",") for line in CSV_EVENTS.strip().splitlines()]
    with sqlite3.connect(tmp_path / "app.sqlite") as con:
        con.execute(f"CREATE TABLE events ({', '.join(rows[0])})")
        con.executemany(f"INSERT INTO events VALUES ({', '.join('?' * len(rows[0]))})", rows[1:])
    return tmp_path


def specs(data):
    return [f"duckdb://{data / 'shop.db'}::events", f"sqlite://{data / 'app.sqlite'}::events",
            f"{data / 'shop.db'}::events"]


def answer(data, capsys, command, where):
    argv = [c.format(journey=data / "journey.yml") for c in command]
    if command[0] != "funnel" and "-w" not in where:
        where = [*where, "-u", data / "users.csv"]  # the personas read a trait
    code, out, err = run([*argv, *where, "--format", "json"], capsys)
    assert code == 0, err
    return json.loads(out)


def test_a_table_gives_the_numbers_of_the_same_rows_as_a_file(data, capsys):
    for command in COMMANDS:
        from_file = answer(data, capsys, command, ["-e", data / "events.csv"])
        for spec in specs(data):
            assert answer(data, capsys, command, ["--table", spec]) == from_file, (command, spec)
    # by hand, 3-day window: u1 all three; u2 signs up 4 days after the visit; u4 buys 4 days
    # after the visit; u3 only visits
    counts = answer(data, capsys, COMMANDS[2], ["--table", specs(data)[0]])["counts"]
    assert counts == [4, 2, 1]
    # e2 sent twice and e9 written twice are one event each on the table path too
    repeats = {r["name"]: r for r in answer(data, capsys, COMMANDS[3],
                                            ["--table", specs(data)[1]])["repeats"]}
    assert repeats["signup"]["repeat_users"] == 0 and repeats["purchase"]["repeat_users"] == 0


def test_ingest_a_table_into_a_workspace(data, capsys):
    ws = data / "ws"
    assert run(["init", ws, "--journey", data / "journey.yml"], capsys)[0] == 0
    code, out, err = run(["ingest", "--table", specs(data)[1], "-w", ws], capsys)
    assert code == 0 and "9 events added, 2 duplicates skipped" in out, (out, err)
    code, out, _ = run(["ingest", "--table", specs(data)[0], "-w", ws], capsys)
    assert code == 0 and "0 events added, 11 duplicates skipped" in out
    assert run(["ingest", "--users", data / "users.csv", "-w", ws], capsys)[0] == 0
    stored = answer(data, capsys, ["measure"], ["-w", ws])
    assert stored == answer(data, capsys, COMMANDS[0], ["--table", specs(data)[0]])
    code, out, err = run(["validate", "-w", ws], capsys)
    assert code == 0 and "matches the data" in out, err


@pytest.mark.parametrize("spec, message", [
    ("{data}/shop.db", "expected a database table as URL::TABLE"),
    ("duckdb://{data}/shop.db::evnts", "no table 'evnts' — did you mean 'events'? (tables: events)"),
    ("duckdb://{data}/nosuch.db::events", "nosuch.db"),
    ("sqlite://{data}/shop.db::events", "this is a duckdb database, not sqlite"),
])
def test_a_wrong_table_is_an_error_line(data, capsys, spec, message):
    for argv in (["measure", "-j", data / "journey.yml"], ["ingest", "-w", data / "ws"]):
        if argv[0] == "ingest":
            run(["init", data / "ws", "--journey", data / "journey.yml"], capsys)
        code, _, err = run([*argv, "--table", spec.format(data=data)], capsys)
        assert code == 1 and err.startswith("error: ") and message in err, err
        assert "Traceback" not in err
    assert not (data / "nosuch.db").exists()  # a typo never creates a database


def test_a_table_and_a_workspace_together_are_refused(data, capsys):
    run(["init", data / "ws", "--journey", data / "journey.yml"], capsys)
    code, _, err = run(["measure", "-w", data / "ws", "--table", specs(data)[0]], capsys)
    assert code == 2 and "either --events/--table" in err
