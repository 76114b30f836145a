"""The public Python surface: what `journeymap` exports and how results convert."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa

import journeymap
from journeymap.store.folder import WorkspaceFolder

JOURNEY = """
name: api
stages:
  - {id: a, owner: t1, enter: {event: a}}
  - {id: b, owner: t2, enter: {event: b}, within: 1d}
"""


def _events():
    return pd.DataFrame({"user_id": ["u1", "u1", "u2", "u3", "u3"],
                         "event": ["a", "b", "a", "a", "b"],
                         "ts": pd.to_datetime(["2024-01-01 00:00", "2024-01-01 12:00",
                                               "2024-01-01 00:00", "2024-01-02 00:00", "2024-01-04 00:00"], utc=True),
                         "event_id": ["e1", "e2", "e3", "e4", "e5"]})


def test_all_is_explicit_and_importable():
    assert sorted(journeymap.__all__) == sorted([
        "ActivationResult", "ActualJourney", "CorrelationResult", "Diagnosis", "DriversResult", "EngineError", "FunnelResult", "IngestError", "Journey",
        "JourneyError", "JourneyMap", "KpiResult", "Leak", "MapResult", "QueryError", "RetentionResult", "SpecError",
        "TransitionsResult", "Workspace", "WorkspaceError", "activation", "correlation", "drivers", "funnel", "kpis", "load_journey", "measure",
        "open", "paths", "retention", "transitions", "validate"])
    for name in journeymap.__all__:
        assert getattr(journeymap, name) is not None


def test_results_convert_to_pandas_arrow_dict_and_html():
    result = journeymap.measure(JOURNEY, _events())
    assert result.stage("a").entered == 3 and result.stage("a").advanced == 1
    assert isinstance(result.to_pandas(), pd.DataFrame)
    assert isinstance(result.to_arrow(), pa.Table)
    assert json.loads(result.to_json())["stages"][0]["rate"] == 1 / 3
    assert "<table" in result._repr_html_()
    f = journeymap.funnel(_events(), ["a", "b"], window="1d")
    assert f.counts == [3, 1] and f.to_arrow().num_rows == 2 and "<table" in f._repr_html_()


def test_open_workspace(tmp_path):
    ws = WorkspaceFolder.init(tmp_path / "ws", JOURNEY)
    ws.store.append(pa.Table.from_pandas(_events(), preserve_index=False))
    project = journeymap.open(tmp_path / "ws")
    assert project.measure().stage("a").entered == 3
    assert project.funnel(["a", "b"], window="1d").persons(2) == ["u1"]
    assert project.validate().name == "api"
