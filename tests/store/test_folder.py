"""Workspace folders: init, open, find."""

from __future__ import annotations

import json

import pytest

from journeymap.errors import IngestError, JourneyError
from journeymap.store.eventstore import EventStore
from journeymap.store.folder import WorkspaceFolder

JOURNEY = "journey: test\nstages: []\n"


def test_init_creates_journey_store_and_settings(tmp_path):
    ws = WorkspaceFolder.init(tmp_path / "shop", JOURNEY)
    assert ws.journey_path.read_text() == JOURNEY
    assert ws.settings == {"engine": "duckdb"}
    assert json.loads((ws.path / "settings.json").read_text()) == {"engine": "duckdb"}
    assert isinstance(ws.store, EventStore) and ws.store.root == ws.path / "store" and ws.store.is_empty
    assert WorkspaceFolder.open(ws.path) == ws


def test_init_refuses_a_non_empty_folder_that_is_not_a_workspace(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(JourneyError, match="not empty") as err:
        WorkspaceFolder.init(tmp_path, JOURNEY)
    assert not isinstance(err.value, IngestError)
    assert not (tmp_path / "journey.yml").exists()


def test_init_on_an_existing_workspace_keeps_its_files(tmp_path):
    ws = WorkspaceFolder.init(tmp_path / "w", JOURNEY)
    ws.journey_path.write_text("edited\n")
    assert WorkspaceFolder.init(ws.path, "other\n").journey_path.read_text() == "edited\n"


def test_open_explains_how_to_make_a_workspace(tmp_path):
    with pytest.raises(JourneyError, match="journeymap init"):
        WorkspaceFolder.open(tmp_path)


def test_find_walks_up(tmp_path):
    ws = WorkspaceFolder.init(tmp_path / "w", JOURNEY)
    deep = ws.path / "a" / "b"
    deep.mkdir(parents=True)
    assert WorkspaceFolder.find(deep).path == ws.path.resolve()
    with pytest.raises(JourneyError, match="no journeymap workspace"):
        WorkspaceFolder.find(tmp_path)
