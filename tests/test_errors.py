"""Errors are complete at the boundary: one tree, the same mistake reads the same on
every path, engine failures arrive as EngineError, settings keys are checked."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import journeymap
from journeymap import errors
from journeymap.cli.main import main
from journeymap.errors import EngineError, IngestError, JourneyError, WorkspaceError
from journeymap.store.eventstore import EventStore
from journeymap.workspace import init_workspace

PACKAGE = Path(journeymap.__file__).parent
JOURNEY = "name: e\nstages:\n  - {id: a, owner: t, enter: {event: a}}\n"


def test_the_tree_is_shallow_and_drawn():
    leaves = [errors.SpecError, errors.IngestError, errors.QueryError, errors.EngineError,
              errors.WorkspaceError]
    assert all(c.__bases__ == (JourneyError,) for c in leaves)
    assert all(c.__name__ in errors.__doc__ for c in leaves)


def test_the_root_is_never_raised_as_a_leaf():
    raised = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and \
                    getattr(node.exc.func, "id", None) == "JourneyError":
                raised.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert raised == []


def _events_without_ts() -> pd.DataFrame:
    return pd.DataFrame({"user_id": ["u1"], "event": ["a"], "tss": ["2024-01-01"]})


def test_a_missing_column_is_the_same_error_on_every_path(tmp_path, capsys):
    frame = _events_without_ts()
    messages = []
    with pytest.raises(IngestError) as info:  # a DataFrame
        journeymap.funnel(frame, ["a"])
    messages.append(info.value.message)
    with pytest.raises(IngestError) as info:  # an Ibis table
        journeymap.funnel(ibis.memtable(frame), ["a"])
    messages.append(info.value.message)
    csv = tmp_path / "e.csv"
    frame.to_csv(csv, index=False)
    with pytest.raises(IngestError) as info:  # a file ingested
        EventStore(tmp_path / "store").ingest(csv)
    messages.append(info.value.message)
    assert len(set(messages)) == 1, messages
    assert "have no 'ts' column" in messages[0] and "did you mean 'tss'" in messages[0]
    (tmp_path / "j.yml").write_text(JOURNEY)
    assert main(["measure", "-j", str(tmp_path / "j.yml"), "-e", str(csv)]) == 1  # the CLI
    assert capsys.readouterr().err.strip() == f"error: {csv}: {messages[0]}"


def test_an_engine_failure_is_an_engine_error_naming_the_work(tmp_path, capsys):
    path = tmp_path / "ev.parquet"
    pq.write_table(pa.table({"user_id": ["u1"], "event": ["a"],
                             "ts": pa.array([0], pa.timestamp("us", tz="UTC")),
                             "event_id": ["1"]}), path)
    table = ibis.duckdb.connect().read_parquet(str(path))
    path.unlink()  # the engine fails when it runs the query
    with pytest.raises(EngineError, match=r"^funnel on duckdb failed: IOException: ") as info:
        journeymap.funnel(table, ["a"])
    assert info.value.__cause__ is not None  # the engine's own error stays attached


def test_unknown_settings_key_is_refused_by_name(tmp_path, capsys):
    ws = init_workspace(tmp_path / "ws", JOURNEY)
    (ws.path / "settings.json").write_text(json.dumps({"engnie": "spark"}))
    with pytest.raises(WorkspaceError, match=r"unknown setting 'engnie' — did you mean 'engine'\?"):
        journeymap.open(ws.path)
    assert main(["measure", "-w", str(ws.path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "settings.json" in err and "engnie" in err


def test_a_bad_setting_value_is_refused(tmp_path, monkeypatch):
    ws = init_workspace(tmp_path / "ws", JOURNEY)
    (ws.path / "settings.json").write_text(json.dumps({"format": "xml"}))
    with pytest.raises(WorkspaceError, match=r"format='xml' is not one of table, json, csv"):
        journeymap.open(ws.path)
