"""One demo workspace for the web tests, the app over it (in-process HTTP), and a real
HTTP server (uvicorn in a thread) over any workspace."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn
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


class Serving:
    """A real HTTP server (uvicorn) over a workspace, in a thread; `create_app` options as given."""

    def __init__(self, ws, **options):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.app = create_app(ws, **options)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=30)
