"""One demo workspace and one Spark session for the engine tests (Spark starts once)."""

from __future__ import annotations

import pytest

from journeymap.api import as_journey
from journeymap.demo.generator import generate
from journeymap.store.engine import connect, store_tables
from journeymap.store.folder import WorkspaceFolder

ENGINES = ("duckdb", "spark")


@pytest.fixture(scope="session")
def demo_workspace(tmp_path_factory) -> WorkspaceFolder:
    """The demo company (3,000 users) in a workspace's Parquet event store."""
    demo = generate(users=3000, seed=7)
    ws = WorkspaceFolder.init(tmp_path_factory.mktemp("engines") / "demo", demo.journey_text)
    ws.store.append(demo.events, users=demo.users)
    return ws


@pytest.fixture(scope="session")
def demo_journey(demo_workspace):
    return as_journey(demo_workspace.journey_path)


@pytest.fixture(scope="session")
def cons() -> dict:
    """One Ibis connection per engine; Spark in local mode."""
    return {name: connect(name) for name in ENGINES}


@pytest.fixture(scope="session")
def demo_tables(demo_workspace, cons) -> dict:
    """engine -> (events, users) over the demo store."""
    return {name: store_tables(demo_workspace.store, con) for name, con in cons.items()}
