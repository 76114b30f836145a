"""The Segment collector over real HTTP: Segment's own Python library, per-message checks,
limits, de-duplication, visibility, and who may read or write."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from journeymap.store.journal import Journal, segments
from journeymap.workspace import init_workspace
from tests.web.conftest import Serving

JOURNEY = ("name: shop\nstages:\n"
           "  - {id: visit, owner: web, enter: {event: visit}}\n"
           "  - {id: buy, owner: sales, enter: {event: buy}}\n")
TOKEN = "reader-token-0123456789"


@pytest.fixture
def ws(tmp_path):
    return init_workspace(tmp_path / "ws", JOURNEY)


@pytest.fixture
def served(ws):
    serving = Serving(ws, flush_every=0.2)
    yield serving
    serving.stop()


def basic(key: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def track(user, event, ts="2024-05-01T10:00:00Z", **extra) -> dict:
    return {"type": "track", "userId": user, "event": event, "timestamp": ts,
            "messageId": extra.pop("messageId", str(uuid.uuid4())), **extra}


def stored(ws, timeout=30.0, expect=None) -> list[dict]:
    """The store's events (waiting up to `timeout` for `expect` of them)."""
    import duckdb
    deadline = time.monotonic() + timeout
    while True:
        store = ws.folder.store
        rows = [] if store.is_empty else duckdb.connect().sql(
            f"SELECT * FROM {store.scan_sql()} ORDER BY event_id").to_arrow_table().to_pylist()
        if expect is None or len(rows) >= expect or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_segments_python_library_sends_into_the_map(ws, served):
    from segment.analytics.client import Client
    key = ws.keys.create("shop backend")[1]
    errors = []
    client = Client(write_key=key, host=served.url, sync_mode=False, max_retries=2,
                    on_error=lambda e, batch: errors.append(e), upload_size=50)
    for i in range(120):
        client.track(f"u{i}", "visit", {"plan": "pro" if i % 2 else "free"},
                     timestamp=_dt(f"2024-05-01T10:{i % 60:02d}:00"))
        if i % 3 == 0:
            client.track(f"u{i}", "buy", {"amount": 9.5}, timestamp=_dt(f"2024-05-02T10:{i % 60:02d}:00"))
    client.identify("u1", {"company": "Acme"})
    client.alias("anon-1", "u2")
    client.page(anonymous_id="anon-1", name="Pricing", properties={"path": "/pricing"},
                timestamp=_dt("2024-05-01T09:00:00"))
    client.flush()
    client.join()
    assert errors == []
    rows = stored(ws, expect=161)
    assert len(rows) == 161 and len({r["event_id"] for r in rows}) == 161
    assert sum(r["event"] == "buy" for r in rows) == 40
    page = next(r for r in rows if r["event"] == "$pageview")
    assert page["anonymous_id"] == "anon-1" and page["path"] == "/pricing" and page["name"] == "Pricing"
    time.sleep(0.5)  # the identify and alias rode in the same flushes
    assert ws.funnel(["visit", "buy"]).counts == [120, 40]
    assert ws.customer("anon-1").user_id == "u2"  # the alias joined the anonymous visitor


def _dt(text):
    import datetime as dt
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)


def test_bad_messages_are_named_and_their_neighbours_kept(ws, served):
    key = ws.keys.create()[1]
    batch = [track("u1", "visit", messageId="good-1"),
             {"type": "track", "userId": "u2", "messageId": "no-name"},
             track("u3", "visit", ts="yesterday", messageId="bad-time"),
             "not an object",
             {"type": "trak", "userId": "u4", "event": "visit", "messageId": "typo"},
             track("u5", "visit", messageId="big", properties={"blob": "x" * 40_000}),
             {"type": "identify", "messageId": "nobody", "traits": {"a": 1}},
             track("u6", "buy", messageId="good-2")]
    res = httpx.post(f"{served.url}/v1/batch", json={"batch": batch}, headers=basic(key))
    assert res.status_code == 200
    body = res.json()
    assert body["accepted"] == 2 and body["success"] is False
    reasons = {r["index"]: (r["messageId"], r["reason"]) for r in body["rejected"]}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6]
    assert reasons[1] == ("no-name", "track needs an event name (a non-empty string)")
    assert "not an ISO 8601 time" in reasons[2][1] and reasons[3] == (None, "not a JSON object")
    assert "did you mean 'track'" in reasons[4][1] and "32 KB" in reasons[5][1]
    assert reasons[6] == ("nobody", "needs userId or anonymousId")
    assert [r["event_id"] for r in stored(ws, expect=2)] == ["good-1", "good-2"]


def test_every_message_refused_is_a_400_in_the_error_shape(ws, served):
    key = ws.keys.create()[1]
    res = httpx.post(f"{served.url}/v1/track", json={"userId": "u1"}, headers=basic(key))
    assert res.status_code == 400
    body = res.json()
    assert body["error"]["code"] == "rejected" and "event name" in body["error"]["message"]
    assert body["accepted"] == 0 and body["rejected"][0]["index"] == 0
    res = httpx.post(f"{served.url}/v1/batch", content=b"{not json", headers=basic(key))
    assert res.status_code == 400 and res.json()["error"]["code"] == "invalid_body"
    deep = b"[" * 100_000 + b"]" * 100_000
    res = httpx.post(f"{served.url}/v1/batch", content=deep, headers=basic(key))
    assert res.status_code in (400, 413)


def test_limits_answer_413_with_a_clear_message(ws, served):
    key = ws.keys.create()[1]
    big = {"batch": [track("u", "visit", properties={"pad": "y" * 20_000}) for _ in range(30)]}
    res = httpx.post(f"{served.url}/v1/batch", json=big, headers=basic(key))
    assert res.status_code == 413 and "500 KB" in res.json()["error"]["message"]
    many = {"batch": [{"type": "track", "userId": "u", "event": "v"} for _ in range(2501)]}
    res = httpx.post(f"{served.url}/v1/batch", json=many, headers=basic(key))
    assert res.status_code == 413 and "2500" in res.json()["error"]["message"]
    assert stored(ws, timeout=0.5) == []


def test_a_retried_batch_adds_nothing_whatever_day_it_says(ws, served):
    key = ws.keys.create()[1]
    batch = {"batch": [track(f"u{i}", "visit", messageId=f"m{i}") for i in range(50)]}
    for _ in range(3):
        assert httpx.post(f"{served.url}/v1/batch", json=batch, headers=basic(key)).json()["accepted"] == 50
    assert len(stored(ws, expect=50)) == 50
    moved = {"batch": [track("u1", "visit", ts="2024-09-30T00:00:00Z", messageId="m1")]}
    httpx.post(f"{served.url}/v1/batch", json=moved, headers=basic(key))
    time.sleep(1.0)
    rows = stored(ws)
    assert len(rows) == 50 and {r["event_id"] for r in rows} == {f"m{i}" for i in range(50)}


def test_keys_are_checked_and_revoked_and_kept_only_as_hashes(ws, served):
    record, key = ws.keys.create("app")
    assert key not in (ws.path / "keys.json").read_text()
    one = {"batch": [track("u1", "visit")]}
    assert httpx.post(f"{served.url}/v1/batch", json=one).status_code == 401
    assert httpx.post(f"{served.url}/v1/batch", json=one, headers=basic("jmw_wrong")).status_code == 401
    bearer = {"Authorization": f"Bearer {key}"}
    assert httpx.post(f"{served.url}/v1/batch", json=one, headers=bearer).status_code == 200
    ws.keys.revoke(record.id)
    res = httpx.post(f"{served.url}/v1/batch", json=one, headers=basic(key))
    assert res.status_code == 401 and "revoked" in res.json()["error"]["message"]


def test_a_write_key_cannot_read(ws, served):
    key = ws.keys.create()[1]
    res = httpx.get(f"{served.url}/api/meta", headers=basic(key))
    assert res.status_code == 403 and "cannot read" in res.json()["error"]["message"]
    res = httpx.get(f"{served.url}/api/map")  # no token, loopback: open (the store is empty yet)
    assert res.status_code == 422 and "send events to the collector" in res.json()["error"]["message"]


def test_with_a_token_readers_need_it_and_it_cannot_write(ws):
    serving = Serving(ws, token=TOKEN, flush_every=0.2)
    try:
        url = serving.url
        res = httpx.get(f"{url}/api/meta")
        assert res.status_code == 401 and res.json()["error"]["code"] == "unauthorized"
        assert httpx.get(f"{url}/openapi.json").status_code == 401
        page = httpx.get(f"{url}/", headers={"Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == "/login"
        assert httpx.get(f"{url}/api/meta", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert httpx.get(f"{url}/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        with httpx.Client(base_url=url) as browser:
            assert browser.post("/login", data={"token": "guess"}).status_code == 401
            login = browser.post("/login", data={"token": TOKEN})
            assert login.status_code == 303
            assert "httponly" in login.headers["set-cookie"].lower()
            assert "samesite=strict" in login.headers["set-cookie"].lower()
            assert browser.get("/", headers={"Accept": "text/html"}).status_code == 200
        res = httpx.post(f"{url}/v1/batch", json={"batch": [track("u", "visit")]},
                         headers={"Authorization": f"Bearer {TOKEN}"})
        assert res.status_code == 403 and "write key" in res.json()["error"]["message"]
    finally:
        serving.stop()


def test_no_cors_headers_by_default(ws, served):
    key = ws.keys.create()[1]
    hostile = {"Origin": "https://evil.example"}
    assert "access-control-allow-origin" not in httpx.get(f"{served.url}/api/meta", headers=hostile).headers
    res = httpx.post(f"{served.url}/v1/batch", json={"batch": [track("u", "visit")]},
                     headers={**hostile, **basic(key)})
    assert "access-control-allow-origin" not in res.headers
    pre = httpx.options(f"{served.url}/api/meta", headers={**hostile, "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in pre.headers


def test_serve_refuses_to_bind_beyond_loopback_without_a_token(ws):
    out = subprocess.run([sys.executable, "-m", "journeymap.cli.main", "serve", "--host", "0.0.0.0",
                          "--port", "8765", "-w", str(ws.path)], capture_output=True, text=True, timeout=120,
                         env={**_env(), "JOURNEYMAP_TOKEN": ""})
    assert out.returncode != 0 and "access token" in out.stderr and "Traceback" not in out.stderr


def _env():
    import os
    return {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYMAP_")}


def test_ingest_while_collecting_loses_nothing_and_doubles_nothing(ws, served, tmp_path):
    key = ws.keys.create()[1]
    csv = tmp_path / "file.csv"
    csv.write_text("event_id,user_id,event,ts\n" + "".join(
        f"f{i},v{i},visit,2024-05-03T10:00:00Z\n" for i in range(3000)))
    proc = subprocess.Popen([sys.executable, "-m", "journeymap.cli.main", "ingest", str(csv),
                             "-w", str(ws.path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for b in range(20):
        batch = {"batch": [track(f"c{b}-{i}", "visit", messageId=f"c{b}-{i}") for i in range(50)]}
        assert httpx.post(f"{served.url}/v1/batch", json=batch, headers=basic(key)).status_code == 200
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    rows = stored(ws, expect=4000)
    ids = [r["event_id"] for r in rows]
    assert len(ids) == len(set(ids)) == 4000


def test_events_become_visible_to_measures_within_the_flush_delay(ws, served):
    key = ws.keys.create()[1]
    assert ws.folder.store.is_empty
    sent = time.monotonic()
    httpx.post(f"{served.url}/v1/batch", json={"batch": [track("u1", "visit"), track("u1", "buy")]},
               headers=basic(key))
    while ws.folder.store.is_empty:
        assert time.monotonic() - sent < 10, "not stored within 10 s"
        time.sleep(0.02)
    assert ws.funnel(["visit", "buy"]).counts == [1, 1]
    status = httpx.get(f"{served.url}/v1/status", headers=basic(key))
    assert status.status_code == 200 and status.json()["stored"] == 2


def test_the_journal_hands_over_only_closed_segments_and_drops_a_torn_record(tmp_path):
    journal = Journal(tmp_path / "j")
    journal.append(b'{"a":1}\n')
    closed = journal.rotate()
    journal.append(b'{"b":2}\n')  # opens the next segment
    assert [p.name for p in closed] == ["seg-00000000000000000001.jsonl"]
    assert len(segments(tmp_path / "j")) == 2
    journal.close()
    with open(segments(tmp_path / "j")[-1], "ab") as fh:
        fh.write(b'{"torn":')  # a crash mid-write: never acknowledged
    from journeymap.store.journal import complete_lines
    assert complete_lines(segments(tmp_path / "j")[-1]) == b'{"b":2}\n'
    again = Journal(tmp_path / "j")  # numbering goes on after what is on disk
    again.append(b'{"c":3}\n')
    assert segments(tmp_path / "j")[-1].name == "seg-00000000000000000003.jsonl"
    again.close()


def test_what_a_killed_server_left_in_its_journal_is_stored_at_the_next_start(ws):
    collector = ws.collector(flush_every=60)
    body = json.dumps({"batch": [track("u1", "visit", messageId="left-1"),
                                 track("u2", "visit", messageId="left-2")]}).encode()
    assert collector.accept(body).accepted == 2
    collector.journal.close()  # as if killed: nothing moved to the store
    assert ws.folder.store.is_empty
    again = ws.collector(flush_every=60).start()
    try:
        assert [r["event_id"] for r in stored(ws)] == ["left-1", "left-2"]
    finally:
        again.close()


def test_keys_on_the_command_line(ws):
    def jm(*args):
        return subprocess.run([sys.executable, "-m", "journeymap.cli.main", "keys", *args, "-w", str(ws.path)],
                              capture_output=True, text=True, timeout=120, env=_env())
    made = jm("create", "--name", "ios app")
    assert made.returncode == 0 and made.stdout.startswith("jmw_") and "shown this once" in made.stderr
    secret = made.stdout.strip()
    listed = jm("list")
    assert "ios app" in listed.stdout and "live" in listed.stdout and secret not in listed.stdout
    key_id = listed.stdout.split()[0]
    assert jm("revoke", key_id).returncode == 0
    assert "revoked" in jm("list").stdout
    wrong = jm("revoke", "key_nope")
    assert wrong.returncode != 0 and "no write key 'key_nope'" in wrong.stderr and "Traceback" not in wrong.stderr


def test_a_message_the_store_refuses_whole_is_quarantined_alone(ws):
    """A property whose type conflicts with the stored column: the flush is halved until
    the refused message stands alone; its neighbours are stored."""
    collector = ws.collector(flush_every=60)
    try:
        first = {"batch": [track("u1", "visit", messageId="a", properties={"plan": "pro"})]}
        collector.accept(json.dumps(first).encode())
        assert collector.flush() == 1
        mixed = {"batch": [track(f"u{i}", "visit", messageId=f"m{i}", properties={"seats": i})
                           for i in range(7)]}
        mixed["batch"][4]["properties"] = {"plan": 3}  # the only plan in this flush: a number
        assert collector.accept(json.dumps(mixed).encode()).accepted == 7
        assert collector.flush() == 6
        kept = [json.loads(line) for line in (ws.path / ".collector" / "rejected" / "quarantine.jsonl")
                .read_text().splitlines()]
        assert len(kept) == 1 and json.loads(kept[0]["message"])["messageId"] == "m4"
        assert "'plan'" in kept[0]["reason"]
        assert collector.status()["quarantined"] == 1
        assert sorted(r["event_id"] for r in stored(ws)) == ["a", *(f"m{i}" for i in range(7) if i != 4)]
    finally:
        collector.close()


def test_text_that_is_not_unicode_is_refused_at_the_door(ws):
    collector = ws.collector(flush_every=60)
    try:
        body = b'{"batch": [{"type": "track", "userId": "u1", "event": "bad \\ud800 name"},' \
               b' {"type": "track", "userId": "u1", "event": "fine"}]}'
        receipt = collector.accept(body)
        assert receipt.accepted == 1 and "not valid Unicode" in receipt.rejected[0]["reason"]
        assert collector.flush() == 1
    finally:
        collector.close()
