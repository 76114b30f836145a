"""One demo workspace for the web tests, and the app over it (in-process HTTP)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

import journeymap
from journeymap.demo.run import run_demo
from journeymap.web.app import create_app


@pytest.fixture(scope="session")
def demo_path(tmp_path_factory):
    """The demo company (3,000 users), measured once."""
    path = tmp_path_factory.mktemp("web") / "demo"
    run_demo(path, users=3000, seed=7)
    return path


@pytest.fixture(scope="session")
def ws(demo_path):
    return journeymap.open(demo_path)


@pytest.fixture(scope="session")
def client(ws):
    with TestClient(create_app(ws)) as c:
        yield c


def answered(client, path: str, params=None, timeout: float = 120.0):
    """GET, asking again while the server answers 202 (still working), as the pages do."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        res = client.get(path, params=params or {})
        if res.status_code != 202 or time.monotonic() > deadline:
            return res
        time.sleep(0.05)
