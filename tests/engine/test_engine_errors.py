"""Engine errors a user can act on: the install command, the valid engine names."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from journeymap.cli.main import main
from journeymap.errors import EngineError
from journeymap.store.engine import connect
from journeymap.store.folder import WorkspaceFolder

INSTALL = 'the Spark engine needs PySpark: pip install "journeymap[spark]"'
JOURNEY = """\
name: Shop
stages:
  - id: visit
    owner: marketing
    enter: {event: visit}
"""


@pytest.fixture
def no_pyspark(monkeypatch):
    """Make `import pyspark...` fail as if the extra were not installed."""
    for name in [m for m in sys.modules if m == "pyspark" or m.startswith("pyspark.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)


def test_missing_pyspark_names_the_install_command(no_pyspark):
    with pytest.raises(EngineError) as info:
        connect("spark")
    assert str(info.value) == INSTALL


def test_missing_pyspark_from_a_workspace_setting(no_pyspark, tmp_path, capsys):
    ws = WorkspaceFolder.init(tmp_path / "ws", JOURNEY)
    (ws.path / "settings.json").write_text(json.dumps({"engine": "spark"}))
    assert main(["measure", "-w", str(ws.path)]) == 1
    assert capsys.readouterr().err.strip() == f"error: {INSTALL}"


@pytest.mark.parametrize("name", ["postgres", "", "duck"])
def test_unknown_engine(name):
    with pytest.raises(EngineError, match=rf"unknown engine '{name}': use one of duckdb, spark"):
        connect(name)


def test_unknown_engine_from_a_workspace_setting(tmp_path, capsys):
    ws = WorkspaceFolder.init(tmp_path / "ws", JOURNEY)
    (ws.path / "settings.json").write_text(json.dumps({"engine": "sqlite"}))
    assert main(["measure", "-w", str(ws.path)]) == 1
    assert capsys.readouterr().err.strip() == "error: unknown engine 'sqlite': use one of duckdb, spark"


def test_engine_names_are_case_insensitive():
    assert connect("DuckDB").name == "duckdb"


def test_spark_without_java_says_so(tmp_path):
    """No Java: the error names the requirement (a fresh process: one JVM per process)."""
    code = ("from journeymap.store.engine import connect\n"
            "from journeymap.errors import EngineError\n"
            "try:\n    connect('spark')\nexcept EngineError as e:\n    print(e)\n")
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-java"), "PATH": "/usr/bin:/bin"}
    env.pop("JOURNEYMAP_SPARK_MASTER", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.startswith("cannot start Spark (master 'local[2]'): ")
    assert "Spark needs Java 17 or newer" in out.stdout
