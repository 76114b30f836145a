"""Nothing acknowledged is lost, nothing is stored twice: the collector killed with SIGKILL
again and again while a client sends, and `journeymap ingest` killed mid-file.

The client behaves as Segment's libraries do: a batch not acknowledged (connection
refused or cut, no answer) is sent again, unchanged, until it is. Kills fall at
random moments: while requests are answered, while the journal is written, while
the flusher appends to the store.
"""

from __future__ import annotations

import base64
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from journeymap.store.eventstore import EventStore
from journeymap.workspace import init_workspace

pytestmark = pytest.mark.slow

JOURNEY = ("name: shop\nstages:\n"
           "  - {id: visit, owner: web, enter: {event: visit}}\n"
           "  - {id: buy, owner: sales, enter: {event: buy}}\n")
KILLS = int(os.environ.get("JOURNEYMAP_TEST_KILLS", "100" if os.environ.get("CI") else "30"))
BOUND_S = 900  # the whole kill loop, whatever the machine


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYMAP_")}
    return {**env, **extra}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stored_ids(root) -> list[str]:
    import duckdb
    store = EventStore(root)
    if store.is_empty:
        return []
    return duckdb.connect().sql(f"SELECT event_id FROM {store.scan_sql()}").fetchnumpy()["event_id"].tolist()


class Server:
    """`journeymap serve` on one port, in its own process group, killed and started again."""

    def __init__(self, ws_path, key: str):
        self.ws_path, self.key = ws_path, key
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{_free_port()}"

    def start(self, timeout: float = 120) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "journeymap.cli.main", "serve", "-w", str(self.ws_path),
             "--port", self.url.rsplit(":", 1)[1]],
            env=_env(JOURNEYMAP_FLUSH_EVERY="0.05"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/v1/status", headers=auth(self.key), timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited: {self.proc.stderr.read().decode()[-3000:]}")
            assert time.monotonic() < deadline, "serve did not answer in time"
            time.sleep(0.02)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)
        self.proc.stderr.close()

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)  # a clean stop: the journal moves to the store
        self.proc.wait(timeout=120)
        self.proc.stderr.close()


def auth(key: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def batch_of(n: int, size: int) -> dict:
    return {"batch": [{"type": "track", "userId": f"u{n % 97}", "event": "visit" if i % 3 else "buy",
                       "timestamp": f"2024-05-{1 + (n + i) % 28:02d}T10:{i % 60:02d}:00Z",
                       "messageId": f"b{n}-{i}", "properties": {"n": n}} for i in range(size)]}


class Sender(threading.Thread):
    """Sends batch after batch; a batch not acknowledged is sent again until it is."""

    def __init__(self, url: str, key: str):
        super().__init__(daemon=True)
        self.url, self.key = url, key
        self.acknowledged: list[int] = []
        self.resent = 0
        self.error: BaseException | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            with httpx.Client(timeout=5) as client:
                n = 0
                while not self.halt.is_set():
                    try:
                        res = client.post(f"{self.url}/v1/batch", json=batch_of(n, 25), headers=auth(self.key))
                    except httpx.TransportError:  # refused, cut or no answer: not acknowledged
                        self.resent += 1
                        time.sleep(0.01)
                        continue
                    assert res.status_code == 200 and res.json()["accepted"] == 25, res.text
                    self.acknowledged.append(n)
                    n += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def test_every_acknowledged_event_survives_sigkill_exactly_once(tmp_path):
    ws = init_workspace(tmp_path / "ws", JOURNEY)
    key = ws.keys.create("durability")[1]
    server = Server(ws.path, key)
    rng = random.Random(20261206)
    started = time.monotonic()
    server.start()
    sender = Sender(server.url, key)
    sender.start()
    kills = 0
    while kills < KILLS and time.monotonic() - started < BOUND_S and sender.error is None:
        time.sleep(rng.uniform(0.02, 0.5))
        server.kill()
        kills += 1
        server.start()
    time.sleep(0.5)
    sender.halt.set()
    sender.join(timeout=60)
    server.stop()
    assert sender.error is None, sender.error
    assert kills >= min(KILLS, 10), f"only {kills} kills in {BOUND_S} s"
    assert sender.resent > 0, "no request was cut by a kill: the test proved nothing"
    ids = stored_ids(ws.path / "store")
    expected = {f"b{n}-{i}" for n in sender.acknowledged for i in range(25)}
    assert len(ids) == len(set(ids)), "an event was stored twice"
    lost, extra = expected - set(ids), set(ids) - expected
    in_flight = {f"b{len(sender.acknowledged)}-{i}" for i in range(25)}  # sent as the sender halted
    assert not lost and extra <= in_flight, f"lost: {len(lost)}, unexpected: {len(extra - in_flight)}"
    assert not list((ws.path / ".collector" / "journal").glob("seg-*"))  # all moved on a clean stop
    print(f"{kills} kills, {len(sender.acknowledged)} batches ({len(ids)} events) acknowledged, "
          f"{sender.resent} sends refused or cut and sent again, {time.monotonic() - started:.0f} s")


def test_ingest_killed_mid_file_is_all_or_nothing_and_a_rerun_stores_one_copy(tmp_path):
    ws = init_workspace(tmp_path / "ws", JOURNEY)
    csv = tmp_path / "events.csv"
    rows = 400_000
    with csv.open("w") as fh:
        fh.write("event_id,user_id,event,ts,plan\n")
        for i in range(rows):
            fh.write(f"e{i},u{i % 5000},{'buy' if i % 7 == 0 else 'visit'},"
                     f"2024-0{1 + i % 9}-{1 + i % 28:02d}T{i % 24:02d}:00:00Z,p{i % 3}\n")
    cmd = [sys.executable, "-m", "journeymap.cli.main", "ingest", str(csv), "-w", str(ws.path)]
    t0 = time.monotonic()
    full = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600,
                          cwd=tmp_path)  # a scratch run, to know how long a whole ingest takes
    whole = time.monotonic() - t0
    assert full.returncode == 0, full.stderr
    import shutil
    shutil.rmtree(ws.path)
    rng = random.Random(7)
    outcomes = []
    for attempt in range(6):
        ws = init_workspace(tmp_path / f"ws{attempt}", JOURNEY)
        cmd[-1] = str(ws.path)
        proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        time.sleep(rng.uniform(0.3, max(0.4, whole * 0.95)))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        ids = stored_ids(ws.path / "store")
        assert len(ids) in (0, rows), f"a killed ingest left {len(ids)} of {rows} rows"
        outcomes.append(len(ids) == rows)
        again = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stderr
        ids = stored_ids(ws.path / "store")
        assert len(ids) == len(set(ids)) == rows
    assert not all(outcomes), "no kill landed before the commit: the test proved nothing"
