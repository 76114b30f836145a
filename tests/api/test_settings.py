"""Settings precedence: flag > environment > workspace settings.json > default."""

from __future__ import annotations

import json

import pytest

from journeymap import settings
from journeymap.errors import JourneyError
from journeymap.store.folder import WorkspaceFolder
from journeymap.workspace import Workspace

JOURNEY = "name: s\nstages:\n  - {id: a, owner: t, enter: {event: a}}\n"


def test_precedence(monkeypatch):
    assert settings.resolve("engine") == "duckdb"
    assert settings.resolve("engine", file_settings={"engine": "spark"}) == "spark"
    monkeypatch.setenv("JOURNEYMAP_ENGINE", "duckdb")
    assert settings.resolve("engine", file_settings={"engine": "spark"}) == "duckdb"
    assert settings.resolve("engine", "spark", {"engine": "duckdb"}) == "spark"


def test_project_reads_the_workspace_setting(tmp_path, monkeypatch):
    monkeypatch.delenv("JOURNEYMAP_ENGINE", raising=False)
    ws = WorkspaceFolder.init(tmp_path / "w", JOURNEY)
    (ws.path / "settings.json").write_text(json.dumps({"engine": "spark", "spark_master": "local[1]"}))
    project = Workspace(ws.path)
    assert (project.engine, project.master) == ("spark", "local[1]")
    assert Workspace(ws.path, engine="duckdb").engine == "duckdb"


def test_bad_typed_setting_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(settings.BY_NAME, "n", settings.Setting("n", 1, int, "a number"))
    monkeypatch.setenv("JOURNEYMAP_N", "many")
    with pytest.raises(JourneyError, match="setting n='many' is not a valid int"):
        settings.resolve("n")


def test_describe_lists_every_setting():
    text = settings.describe()
    assert all(f"`JOURNEYMAP_{s.name.upper()}`" in text for s in settings.SETTINGS)
