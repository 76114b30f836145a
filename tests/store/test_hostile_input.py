"""Hostile input, everywhere data comes in: journey files, event files, the collector,
the HTTP server's file names and bodies.

What each part proves:

- the journey loader, on any text and on mutations of the demo journey, loads or raises
  a `JourneyError` (never a raw exception);
- the file readers (CSV, JSON Lines, Segment JSON, Parquet), on any bytes and on
  near-valid files, read or raise `IngestError`; so does the store's ingest;
- the collector's checks (`check_message`, `Collector.accept`), on any JSON value and
  any bytes, answer with a reason, a receipt or `IngestError`; what they accept is
  flushed into the store without an error, and the store still opens;
- event names, property keys and values, and user ids made of quotes, semicolons, SQL,
  newlines, backslashes and unusual Unicode pass through every reader and every measure
  byte for byte, and a funnel step on such a name counts right: queries bind values and
  quote identifiers;
- the HTTP server's file-name parameter refuses `../`, its encodings and absolute paths;
- oversized or deeply nested bodies to `/v1/batch` are refused (400/413/422) promptly.
"""

from __future__ import annotations

import concurrent.futures
import csv
import datetime as dt
import io
import json
import re
from importlib import resources
from pathlib import Path

import anyio
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import journeymap
from journeymap.errors import IngestError, JourneyError
from journeymap.spec.load import parse_journey
from journeymap.store.collector import KINDS, Collector, Receipt, check_message
from journeymap.store.readers import read_events
from journeymap.store.schema import EVENT_CORE, EVENT_OPTIONAL, PARTITION_COLUMN
from journeymap.web.app import create_app
from journeymap.workspace import init_workspace

DEMO_JOURNEY = resources.files("journeymap.demo").joinpath("journey.yaml").read_text(encoding="utf-8")
SHOP = ("name: shop\nstages:\n"
        "  - {id: visit, owner: web, enter: {event: visit}}\n"
        "  - {id: buy, owner: sales, enter: {event: buy}}\n")
_FUZZ = settings(deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                        HealthCheck.filter_too_much, HealthCheck.data_too_large])


def fuzz(examples: int) -> settings:
    """Hypothesis settings for this file: `examples` of them, no deadline, no database."""
    return settings(_FUZZ, max_examples=examples)


RESERVED = {*EVENT_CORE, *EVENT_OPTIONAL, PARTITION_COLUMN, "timestamp"}

# text without NUL and without lone surrogates (neither can be stored as UTF-8 text)
TEXT_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")


def json_values(max_leaves: int = 10) -> st.SearchStrategy:
    scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                       st.floats(allow_nan=False, allow_infinity=False), st.text(TEXT_CHARS, max_size=20))
    return st.recursive(scalar, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(TEXT_CHARS, max_size=8), inner, max_size=4)),
        max_leaves=max_leaves)


def iso_times() -> st.SearchStrategy[str]:
    """ISO 8601 times well inside the years everything supports, with and without an offset."""
    moment = st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(9998, 12, 31),
                          timezones=st.one_of(st.none(), st.timezones()))
    return st.one_of(moment.map(dt.datetime.isoformat), moment.map(lambda m: m.date().isoformat()),
                     st.sampled_from(["2024-05-01T10:00:00Z", "2024-05-01 10:00:00.123+02:00", "1714557600",
                                      "1714557600000", "2024-02-30", "24:00", "", "now", "2024-W01-1"]))


# ---- 1. journey files ---------------------------------------------------------------
def loads_or_refuses(text: str) -> None:
    """parse_journey returns a Journey or raises a JourneyError; anything else escapes."""
    try:
        parse_journey(text, "journey.yml")
    except JourneyError:
        pass


YAML_TOKENS = ["-", "- ", ":", ": ", "{", "}", "[", "]", ",", "&a ", "*a", "!!str ",
               "!!python/object:os.system ",
               "!custom ", "? ", "|", ">", "#", "'", '"', "\n", "  ", "\t", "---\n", "...\n", "%YAML 1.2\n",
               "<<: *a", "stages", "id", "owner", "enter", "event", "within", "30d", "-1", "1e999", ".nan",
               "null", "~", "true", "0x1F", "2024-01-01", "\\", "\u2028", "\ufeff", "🙂"]


@given(text=st.one_of(st.text(TEXT_CHARS | st.just("\x00"), max_size=300),
                      st.lists(st.sampled_from(YAML_TOKENS), max_size=60).map("".join)))
@fuzz(300)
def test_any_text_loads_as_a_journey_or_raises_a_journey_error(text):
    loads_or_refuses(text)


HOSTILE_SCALARS = ["", "-1", "0", "1e999", "-.inf", ".nan", "[]", "{}", "null", "~", "*nothing", "&x",
                   "!!binary AAAA",
                   "'unterminated", '"bad \\q escape"', "30x", "0d", "99999999999999999999999d", "1" * 5000,
                   "{event: }", "{active: {days: -3}}", "{gte: [1]}", "!!timestamp 2024-13-45", "? complex",
                   "{a: 1, a: 2}", "[[[[[[[[[[]]]]]]]]]]", "|", ">-", "'\u202e'", "\ttab"]


@st.composite
def mutated_journeys(draw) -> str:
    """The demo journey with one to four edits: cut, inserted, duplicated, swapped, re-indented
    lines, or a value replaced by a hostile one."""
    lines = DEMO_JOURNEY.split("\n")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["value", "value", "insert", "delete", "duplicate", "swap", "indent",
                                     "slice", "tokens"]))
        if edit == "value" and ":" in lines[i]:
            head = lines[i][:lines[i].index(":") + 1]
            lines[i] = head + " " + draw(st.sampled_from(HOSTILE_SCALARS) | st.text(TEXT_CHARS, max_size=15))
        elif edit == "insert":
            lines.insert(i, draw(st.text(TEXT_CHARS, max_size=30)))
        elif edit == "delete" and len(lines) > 1:
            del lines[i]
        elif edit == "duplicate":
            lines.insert(i, lines[i])
        elif edit == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif edit == "indent":
            lines[i] = " " * draw(st.integers(0, 9)) + lines[i].lstrip()
        elif edit == "slice":
            text = "\n".join(lines)
            a = draw(st.integers(0, len(text)))
            b = draw(st.integers(a, min(len(text), a + 200)))
            lines = (text[:a] + text[b:]).split("\n")
        elif edit == "tokens":
            col = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:col] + "".join(draw(st.lists(st.sampled_from(YAML_TOKENS), max_size=4))) \
                + lines[i][col:]
    return "\n".join(lines)


@given(text=mutated_journeys())
@fuzz(300)
def test_a_mutated_demo_journey_loads_or_raises_a_journey_error(text):
    loads_or_refuses(text)


def test_the_demo_journey_itself_loads():
    assert parse_journey(DEMO_JOURNEY, "journey.yml").stage_ids[0] == "awareness"


# ---- 2. event files -----------------------------------------------------------------
READ_AS = [(".csv", None), (".tsv", None), (".jsonl", None), (".ndjson", None), (".json", None),
           (".parquet", None), (".txt", "csv"), (".txt", "jsonl"), (".txt", "segment"), (".txt", "parquet")]


def reads_or_refuses(path: Path, format: str | None) -> None:
    """read_events returns a result or raises IngestError (a JourneyError); nothing else."""
    try:
        read_events(path, format=format)
    except JourneyError:
        pass


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@given(data=st.binary(max_size=3000), how=st.sampled_from(READ_AS))
@fuzz(120)
def test_any_bytes_in_any_event_file_read_or_raise_ingest_error(scratch, data, how):
    suffix, fmt = how
    path = scratch / f"bytes{suffix}"
    path.write_bytes(data)
    reads_or_refuses(path, fmt)


COLUMNS = ["user_id", "event", "ts", "timestamp", "anonymous_id", "event_id", "session_id", "date", "plan",
           "amount",
           "", " ", "user_id", "Event", "prop_date"]
PROPERTY_KEYS = st.sampled_from(COLUMNS) | st.text(TEXT_CHARS, max_size=8)
CELLS = st.one_of(st.sampled_from(["", " ", "u1", "signup", "NULL", "true", "1", "-0", "1e400", "NaN", "0x10",
                                   '"', '""', "a,b", "a\nb", "\\", "🙂", "9" * 30]),
                  iso_times(), st.text(TEXT_CHARS, max_size=12), st.integers().map(str))


@st.composite
def near_valid_csv(draw) -> bytes:
    header = draw(st.lists(st.sampled_from(COLUMNS) | st.text(TEXT_CHARS, max_size=6), min_size=1,
                           max_size=6))
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=len(header) + 1), max_size=8))
    out = [header, *rows]
    sep = draw(st.sampled_from([",", ",", ";", "\t", "|"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, None]))
    if quoting is None:  # cells written as they are: stray quotes, separators and newlines included
        text = newline.join(sep.join(row) for row in out)
    else:
        buf = io.StringIO()
        csv.writer(buf, delimiter=sep, quoting=quoting, lineterminator=newline).writerows(out)
        text = buf.getvalue()
    if draw(st.booleans()):  # a truncated file
        text = text[:draw(st.integers(0, len(text)))]
    return (draw(st.sampled_from(["", "\ufeff"])) + text).encode("utf-8")


@st.composite
def near_valid_jsonl(draw) -> bytes:
    keys = st.sampled_from(COLUMNS) | st.text(TEXT_CHARS, max_size=6)
    values = st.one_of(json_values(6), iso_times(), CELLS)
    lines = draw(st.lists(st.one_of(st.dictionaries(keys, values, max_size=6).map(json.dumps),
                                    json_values(4).map(json.dumps),
                                    st.text(TEXT_CHARS, max_size=20)), max_size=8))
    return "\n".join(lines).encode("utf-8")


def segment_messages(kind: str | None = None, ids=None) -> st.SearchStrategy[dict]:
    """Segment messages, mostly plausible, sometimes subtly wrong."""
    ident = ids or st.one_of(st.sampled_from(["u1", "u2", "anon-1"]), st.text(TEXT_CHARS, max_size=10),
                             st.integers(-5, 10**20), st.none(), st.just("u" * 257), st.booleans(),
                             st.floats(allow_nan=False, allow_infinity=False))
    return st.fixed_dictionaries(
        {"type": st.just(kind) if kind else st.sampled_from([*KINDS, "Track", "", "bogus", None])},
        optional={"userId": ident, "anonymousId": ident, "previousId": ident, "groupId": ident,
                  "messageId": ident, "event": st.one_of(st.sampled_from(["visit", "buy", " ", ""]),
                                                         st.text(TEXT_CHARS, max_size=12), st.integers()),
                  "timestamp": st.one_of(iso_times(), st.integers(), st.none()),
                  "originalTimestamp": iso_times(),
                  "sentAt": iso_times(), "receivedAt": iso_times(),
                  "properties": st.one_of(st.dictionaries(PROPERTY_KEYS, json_values(6), max_size=4),
                                          json_values(2)),
                  "traits": st.dictionaries(st.text(TEXT_CHARS, max_size=8), json_values(4), max_size=3),
                  "context": st.one_of(st.dictionaries(st.text(TEXT_CHARS, max_size=6), json_values(3),
                                                       max_size=2),
                                       st.text(max_size=4)),
                  "name": st.text(TEXT_CHARS, max_size=10), "category": json_values(2)})


@st.composite
def near_valid_segment(draw) -> bytes:
    msgs = draw(st.lists(segment_messages(), max_size=6))
    shape = draw(st.sampled_from(["batch", "list", "lines", "one"]))
    if shape == "batch":
        text = json.dumps({"batch": msgs, "context": {"library": {"name": "x"}}},
                          indent=draw(st.sampled_from([None, 2])))
    elif shape == "list":
        text = json.dumps(msgs, indent=draw(st.sampled_from([None, 1])))
    elif shape == "lines":
        text = "\n".join(json.dumps(m) for m in msgs)
    else:
        text = json.dumps(msgs[0] if msgs else {})
    if draw(st.booleans()):
        text = text[:draw(st.integers(0, len(text)))]
    return text.encode("utf-8")


@pytest.fixture(scope="module")
def sink(tmp_path_factory):
    """One workspace that every near-valid file below is ingested into, one after another."""
    return init_workspace(tmp_path_factory.mktemp("sink") / "ws", SHOP)


@given(data=st.data())
@fuzz(120)
def test_near_valid_event_files_read_and_ingest_or_raise_ingest_error(scratch, sink, data):
    suffix, fmt, content = data.draw(st.one_of(
        near_valid_csv().map(lambda b: (".csv", None, b)),
        near_valid_jsonl().map(lambda b: (".jsonl", None, b)),
        near_valid_jsonl().map(lambda b: (".txt", "jsonl", b)),
        near_valid_segment().map(lambda b: (".json", None, b)),
        near_valid_segment().map(lambda b: (".jsonl", "segment", b))), label="file")
    path = scratch / f"near{suffix}"
    path.write_bytes(content)
    reads_or_refuses(path, fmt)
    try:
        sink.ingest(path, format=fmt, skip_bad_rows=scratch / "bad.csv" if data.draw(st.booleans()) else None)
    except JourneyError:
        pass


@pytest.mark.parametrize("text", [
    "[" * 100_000 + "]" * 100_000,
    '{"batch": ' + "[" * 100_000 + "]" * 100_000 + "}",
    '[{"type": "track", "userId": "u", "event": "e", "timestamp": "2024-05-01T10:00:00Z", '
    '"properties": {"a": '
    + "[" * 100_000 + "]" * 100_000 + "}}]",
], ids=["bare array", "batch", "in a message"])
@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_deeply_nested_json_files_read_or_raise_ingest_error(scratch, text, suffix):
    path = scratch / f"deep{suffix}"
    path.write_text(text, encoding="utf-8")
    reads_or_refuses(path, None)
    reads_or_refuses(path, "segment")


EXTREME_TIMES = ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "0001-01-01T00:00:00Z",
                 "9999-12-31T23:59:59Z", "2300-01-01T00:00:00Z", "999999999999999", "-62135596801"]


@pytest.mark.parametrize("ts", EXTREME_TIMES)
def test_a_time_at_the_edge_of_the_calendar_is_stored_or_refused_and_every_measure_answers(tmp_path, ts):
    """Times the readers parse may lie outside what Python's datetime (years 1-9999 UTC) or
    pandas (1677-2262) can hold. Ingest stores them or raises IngestError; once stored,
    every measure answers or raises a JourneyError."""
    events = tmp_path / "events.csv"
    events.write_text("user_id,event,ts,revenue\nu1,visit,2024-05-01T10:00:00Z,\nu1,buy,2024-05-02T10:00:00Z,10\n"
                      f"u2,visit,{ts},\n", encoding="utf-8")
    ws = init_workspace(tmp_path / "ws", SHOP + "revenue: {event: buy, amount: revenue}\n")
    try:
        ws.ingest(events)
    except JourneyError:
        return
    measures = {"measure": ws.measure, "measure by week": lambda: ws.measure(period="week"),
                "funnel": lambda: ws.funnel(["visit", "buy"]), "paths": ws.paths,
                "transitions": ws.transitions, "kpis": ws.kpis, "customer": lambda: ws.customer("u2"),
                "retention": lambda: ws.retention("visit"), "stuck": lambda: ws.stuck("visit")}
    failed = {}
    for name, measure in measures.items():
        try:
            measure().to_dict()
        except JourneyError:
            pass
        except Exception as exc:  # noqa: BLE001 - collected, to name every measure that fails
            failed[name] = f"{type(exc).__name__}: {exc}"
    assert not failed, "\n".join(f"{k}: {v}" for k, v in failed.items())


# ---- 3. the collector ---------------------------------------------------------------
KIND_ARGS = st.sampled_from([None, *KINDS, "bogus"])


@given(msg=st.one_of(json_values(12), segment_messages()), kind=KIND_ARGS)
@fuzz(400)
def test_check_message_answers_a_reason_or_none_for_any_json_value(msg, kind):
    why = check_message(msg, kind)
    assert why is None or (isinstance(why, str) and why)


@pytest.fixture(scope="module")
def collecting(tmp_path_factory):
    ws = init_workspace(tmp_path_factory.mktemp("collect") / "ws", SHOP)
    collector = ws.collector(flush_every=60)
    yield ws, collector
    collector.close()


def accepts_or_refuses(collector: Collector, body: bytes, kind: str | None) -> None:
    try:
        receipt = collector.accept(body, kind)
    except IngestError:
        return
    assert isinstance(receipt, Receipt)
    assert receipt.accepted + len(receipt.rejected) >= (0 if kind is None else 1)


def store_opens(path: Path) -> int:
    """The workspace reopens, its store scans, a measure answers; returns the rows stored."""
    ws = journeymap.open(path)
    store = ws.folder.store
    store.snapshot()
    if store.is_empty:
        return 0
    with duckdb.connect() as con:
        rows = con.sql(f"SELECT count(*) FROM {store.scan_sql()}").fetchone()[0]
    ws.transitions().to_dict()
    return rows


GOOD_IDS = st.one_of(st.sampled_from(["u1", "u2", "anon-1", "o'brien"]), st.integers(0, 10**9),
                    st.text(TEXT_CHARS, min_size=1, max_size=12).filter(str.strip))
GOOD_TIMES = st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(9998, 12, 31),
                          timezones=st.one_of(st.none(), st.timezones())).map(dt.datetime.isoformat)


def plausible_messages(kind: str | None) -> st.SearchStrategy[dict]:
    """Messages the collector should accept (for `kind`'s route, or any kind in a batch):
    hostile only in their names, property keys, values and types."""
    kinds = st.just(kind) if kind else st.sampled_from(KINDS)
    return kinds.flatmap(lambda k: st.fixed_dictionaries(
        {"type": st.just(k), "userId": GOOD_IDS, "previousId": GOOD_IDS,
         "event": st.text(TEXT_CHARS, min_size=1, max_size=12).filter(str.strip)
         | st.sampled_from(["visit", "buy"])},
        optional={"anonymousId": GOOD_IDS,
                  "messageId": st.uuids().map(str) | st.sampled_from(["m1", "m2", ""]),
                  "timestamp": GOOD_TIMES, "sentAt": GOOD_TIMES,
                  "properties": st.dictionaries(PROPERTY_KEYS, json_values(6), max_size=4),
                  "traits": st.dictionaries(PROPERTY_KEYS, json_values(4), max_size=3),
                  "context": st.dictionaries(st.text(TEXT_CHARS, max_size=6), json_values(3), max_size=2),
                  "name": st.text(TEXT_CHARS, max_size=10)}))


def _dumps(value, ascii_only: bool = True) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode()


def bodies(kind: str | None) -> st.SearchStrategy[bytes]:
    """Request bodies for `kind`'s route (None: /v1/batch): mostly plausible, some wild."""
    message = st.one_of(plausible_messages(kind), plausible_messages(kind), segment_messages(kind))
    if kind is None:
        plausible = st.fixed_dictionaries(
            {"batch": st.lists(st.one_of(plausible_messages(None), plausible_messages(None),
                                         segment_messages(), json_values(3)), max_size=5)},
            optional={"context": json_values(3), "integrations": json_values(3)})
    else:
        plausible = message
    encoded = st.tuples(plausible, st.booleans()).map(lambda p: _dumps(*p))
    return st.one_of(encoded, encoded, encoded, st.binary(max_size=300), json_values(10).map(_dumps),
                     st.lists(segment_messages(), max_size=3).map(_dumps))


ROUTE_BODIES = st.sampled_from([None, *KINDS]).flatmap(lambda k: st.tuples(st.just(k), bodies(k)))


@given(route=ROUTE_BODIES)
@fuzz(150)
def test_any_body_gets_a_receipt_or_ingest_error_and_what_is_accepted_flushes(collecting, route):
    ws, collector = collecting
    kind, body = route
    accepts_or_refuses(collector, body, kind)
    collector.flush()  # must not raise: what was acknowledged goes to the store (or to rejected/)


def test_after_the_collector_fuzzing_the_store_opens_and_holds_what_was_stored(collecting):
    ws, collector = collecting
    collector.flush()
    assert collector.stored > 0  # the fuzzing reached the store
    assert store_opens(ws.path) == collector.stored


def test_a_message_acknowledged_at_the_deepest_nesting_accepted_still_flushes(tmp_path):
    """The collector parses a body once on `accept` and again when it flushes, deeper in
    the stack; every message it acknowledged must reach the store or rejected/, never
    make each later flush fail."""
    ws = init_workspace(tmp_path / "ws", SHOP)
    collector = ws.collector(flush_every=60)

    def body(depth: int) -> bytes:
        return (b'{"type":"track","userId":"u1","event":"visit","timestamp":"2024-05-01T10:00:00Z",'
                b'"properties":{"a":' + b"[" * depth + b"]" * depth + b"}}")

    def accepted(depth: int) -> bool:
        try:
            return collector.accept(body(depth), "track").accepted == 1
        except IngestError:
            return False
    try:
        lo, hi = 1, 20_000  # the deepest nesting accepted, by bisection
        while lo + 1 < hi:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if accepted(mid) else (lo, mid)
        collector.flush()
        assert store_opens(ws.path) >= 1
        ok = accepted(lo)
        assert ok
        collector.flush()
    finally:
        collector.close()


@pytest.mark.parametrize("ts", ["9999-12-31T23:59:59-05:00", "9999-12-31T20:00:00-12:00",
                                "1970-01-01T00:00:00+05:00"])
def test_a_timestamp_the_collector_accepts_never_blocks_its_flush(tmp_path, ts):
    """Times are judged in UTC, offset applied: the year 10000 in UTC is refused at the door
    (out of the range journeymap keeps), 1969 in UTC is kept; either way the flush goes on."""
    ws = init_workspace(tmp_path / "ws", SHOP)
    collector = ws.collector(flush_every=60)
    try:
        first = json.dumps({"type": "track", "userId": "u1", "event": "visit", "timestamp": ts}).encode()
        later = json.dumps({"type": "track", "userId": "u2", "event": "visit",
                            "timestamp": "2024-05-01T10:00:00Z"}).encode()
        receipt = collector.accept(first, "track")
        if ts.startswith("9999"):
            assert receipt.accepted == 0 and "out of range" in receipt.rejected[0]["reason"]
        else:
            assert receipt.accepted == 1
        collector.flush()
        collector.accept(later, "track")
        collector.flush()
        assert store_opens(ws.path) == 1 + receipt.accepted
    finally:
        collector.close()


# ---- 4. hostile names through every reader and every measure -------------------------
EVENT_NAMES = ["it's", 'say "hi"', "a;b", "DROP TABLE x; --", "'); DROP TABLE events; --", 'x" OR "1"="1',
               "line\nbreak", "cr\r\nlf", "back\\slash\\", "tab\there", "emoji 🙂🚀👩‍👩‍👧", "עברית ימין",
               "\u202eevil\u202c", "e\u0301\u0327 combining", "%s {0} $1 ?", "NULL"]
PROP_KEYS = ["it's", 'q"k', "k; DROP TABLE x; --", "new\nline", "back\\slash", "🙂", "עברית", "e\u0301"]
PROP_VALUES = ["'; DROP TABLE events; --", 'he said "no"', "semi;colon", "two\nlines", "c:\\path\\", "🙂🙃",
               "שלום", "a\u0308"]
USER = "o'brien\"; DROP TABLE users; --"
FORMATS = ["csv", "jsonl", "segment", "parquet"]


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar of exactly `text`: printable ASCII as it is, everything
    else escaped (\\U for characters beyond the BMP: YAML, unlike JSON, reads a
    \\u surrogate pair as two lone surrogates)."""
    def one(c: str) -> str:
        if c in '"\\':
            return "\\" + c
        if " " <= c <= "~":
            return c
        return f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}"
    return '"' + "".join(one(c) for c in text) + '"'


def _rows(names: list[str], keys: list[str], values: list[str], user: str) -> list[dict]:
    """User `user` does every event in order with the hostile properties; "plain" does the
    first half with plain values; "solo" does the first only."""
    rows, t0 = [], dt.datetime(2024, 5, 1, 10, tzinfo=dt.timezone.utc)
    for who, upto, props in ((user, len(names), dict(zip(keys, values))),
                             ("plain", max(1, len(names) // 2), {k: "plain" for k in keys}),
                             ("solo", 1, {k: "plain" for k in keys})):
        for i, name in enumerate(names[:upto]):
            rows.append({"user_id": who, "event": name,
                         "ts": (t0 + dt.timedelta(minutes=i)).isoformat().replace("+00:00", "Z"), **props})
    return rows


def _write(rows: list[dict], keys: list[str], folder: Path, fmt: str) -> Path:
    if fmt == "csv":
        path = folder / "events.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=["user_id", "event", "ts", *keys], quoting=csv.QUOTE_ALL)
            writer.writeheader()
            writer.writerows(rows)
    elif fmt == "jsonl":
        path = folder / "events.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    elif fmt == "segment":
        path = folder / "events.json"
        batch = [{"type": "track", "userId": r["user_id"], "event": r["event"], "timestamp": r["ts"],
                  "messageId": f"m{i}", "properties": {k: r[k] for k in keys}} for i, r in enumerate(rows)]
        path.write_text(json.dumps({"batch": batch}, ensure_ascii=False), encoding="utf-8")
    else:
        path = folder / "events.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _journey(names: list[str]) -> str:
    stages = "".join(f"  - {{id: s{i}, owner: team, enter: {{event: {_quoted(n)}}}}}\n"
                     for i, n in enumerate(names[:3]))
    return f"name: hostile\nstages:\n{stages}"


def check_names_pass_through(tmp_path: Path, fmt: str, names: list[str], keys: list[str], values: list[str],
                             user: str) -> None:
    """Ingest the hostile rows in `fmt`; every measure gives the names back byte for byte
    and counts a funnel on them (and on a condition on a hostile property) right."""
    rows = _rows(names, keys, values, user)
    ws = init_workspace(tmp_path / f"ws-{fmt}", _journey(names))
    stats = ws.ingest(_write(rows, keys, tmp_path, fmt))
    assert stats.added == len(rows)
    half = max(1, len(names) // 2)

    # the funnel: each step's name comes back, each count is right
    funnel = ws.funnel(names, window="30d").to_dict()
    assert funnel["steps"] == names
    assert [r["event"] for r in funnel["rows"]] == names
    expected = [3 if i == 0 else 2 if i < half else 1 for i in range(len(names))]
    assert funnel["counts"] == expected
    for key, value in zip(keys, values):  # a condition on a hostile property, with a hostile value
        cond = ws.funnel([{"event": names[0], "where": {key: value}}, names[-1]], window="30d").to_dict()
        assert cond["counts"] == [1, 1], (key, value, cond)

    # the transitions: the same names, and the one user's order
    edges = ws.transitions().to_dict()["edges"]
    assert {e[end] for e in edges for end in ("from", "to")} - {"$start", "$end"} == set(names)
    for a, b in zip(names, names[1:]):
        assert any(e["from"] == a and e["to"] == b for e in edges), (a, b)

    # the actual journey: event transitions and repeats name the same events
    paths = ws.paths().to_dict()
    assert {r["name"] for r in paths["repeats"]} == set(names)
    assert {e["to"] for e in paths["event_transitions"]["edges"] if e["from"] == "$start"} == {names[0]}

    # the map: the stages that enter on hostile names count their users
    measured = ws.measure()
    assert json.dumps(measured.to_dict())
    expected_entered = [3, 1 + (half > 1), 1 + (half > 2)][:len(measured.stages)]
    assert [s.entered for s in measured.stages] == expected_entered

    # one customer, by a hostile id: the timeline gives names, keys and values back
    customer = ws.customer(user).to_dict()
    assert customer["user_id"] == user
    timeline = sorted(customer["timeline"], key=lambda r: r["ts"])
    assert [r["event"] for r in timeline] == names
    for r in timeline:
        assert {k: r["properties"].get(k) for k in keys} == dict(zip(keys, values))


@pytest.mark.parametrize("fmt", FORMATS)
def test_hostile_names_pass_through_every_reader_and_measure_untouched(tmp_path, fmt):
    # a CSV header cell with a line break can defeat DuckDB's dialect sniffing among these
    # hostile rows (the file is then refused whole, with an IngestError): CSV gets the other keys
    keys = [k for k in PROP_KEYS if "\n" not in k] if fmt == "csv" else PROP_KEYS
    check_names_pass_through(tmp_path, fmt, EVENT_NAMES, keys, PROP_VALUES[:len(keys)], USER)


@pytest.mark.parametrize("fmt", FORMATS)
def test_hostile_event_names_and_values_pass_through_with_plain_keys(tmp_path, fmt):
    """The same, with property keys every reader can take as a column name: names and
    values are then the only hostile parts."""
    keys = ["k_quote", "k_semi", "k_sql", "k_newline", "k_backslash", "k_emoji", "k_rtl", "k_combining"]
    check_names_pass_through(tmp_path, fmt, EVENT_NAMES, keys, PROP_VALUES, USER)


# CSV property values that read as numbers or booleans are typed (by design): not text to compare
NUMBER = r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?"
NAME_TEXT = st.text(TEXT_CHARS, min_size=1, max_size=10).filter(lambda s: s.strip() != "")


@given(names=st.lists(NAME_TEXT, min_size=2, max_size=4, unique=True),
       key=st.text(TEXT_CHARS.filter(lambda c: c not in "\r\n"), min_size=1, max_size=8),
       value=st.text(TEXT_CHARS, min_size=1, max_size=10), fmt=st.sampled_from(FORMATS), data=st.data())
@fuzz(12)
def test_random_names_pass_through_every_reader_and_measure_untouched(tmp_path_factory, names, key, value,
                                                                      fmt, data):
    assume(key.strip() and key.lower() not in RESERVED and not key.startswith("prop_"))
    assume("$start" not in names and "$end" not in names)
    assume(not re.fullmatch(NUMBER, value.strip()) and value.strip().lower() not in ("true", "false"))
    user = data.draw(NAME_TEXT.filter(lambda u: u not in ("plain", "solo")), label="user")
    check_names_pass_through(tmp_path_factory.mktemp("names"), fmt, names, [key], [value], user)


# ---- 5. file names the server takes -------------------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A small workspace served in-process, with a write key."""
    root = tmp_path_factory.mktemp("site")
    events = root / "events.csv"
    events.write_text("user_id,event,ts\nu1,visit,2024-05-01T10:00:00Z\nu1,buy,2024-05-02T10:00:00Z\n"
                      "u2,visit,2024-05-01T11:00:00Z\n", encoding="utf-8")
    ws = init_workspace(root / "ws", SHOP)
    ws.ingest(events)
    key = ws.keys.create()[1]
    app = create_app(ws, flush_every=60)
    with TestClient(app) as client:
        yield client, app, key, ws


SECRET_FILES = ["../app.py", "../../journeymap/web/app.py", "../__init__.py", "/etc/passwd", "etc/passwd",
                "..", ".", "...", "..\\app.py", "....//app.py"]
ENCODED = ["%2e%2e%2fapp.py", "%2E%2E%2Fapp.py", "..%2fapp.py", "%2e%2e/app.py", "%2fetc%2fpasswd",
           "%252e%252e%252fapp.py", "..%5capp.py", "%2e%2e%5capp.py", "%c0%ae%c0%ae%c0%afapp.py", "%00",
           "journeymap.css%00.js", "..%00/app.py", "%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd"]


def _asgi_get(app, raw_path: bytes) -> tuple[int, bytes]:
    """GET with exactly this raw path, as a server (uvicorn) would hand it over: `path`
    percent-decoded, `raw_path` as sent. No client-side normalisation of `..`."""
    from urllib.parse import unquote_to_bytes
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": unquote_to_bytes(raw_path).decode("utf-8", "replace"),
             "raw_path": raw_path, "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver")],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80), "state": {}}
    sent: list[dict] = []
    asked: list[int] = []

    async def receive():  # the request once, then the client hangs up
        asked.append(1)
        if len(asked) == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    anyio.run(app, scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def _not_a_file(status: int, body: bytes) -> None:
    assert status in (400, 404, 405), (status, body[:200])
    assert b"import " not in body and b"root:" not in body, body[:200]


@pytest.mark.parametrize("name", SECRET_FILES + ENCODED)
def test_static_refuses_every_way_out_of_its_folder(site, name):
    client, app, _, _ = site
    res = client.get("/static/" + name)
    if res.request.url.path.startswith("/static/"):  # (the client resolves some `..` itself)
        _not_a_file(res.status_code, res.content)
        assert set(res.json()["error"]) == {"status", "code", "message"}
    _not_a_file(*_asgi_get(app, b"/static/" + name.encode()))


@pytest.mark.parametrize("prefix", ["/stage/", "/api/stage/", "/api/customer/"])
@pytest.mark.parametrize("name", ["../../etc/passwd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                                  "..%2f..%2fjourneymap%2fweb%2fapp.py",
                                  "/etc/passwd"])
def test_no_name_in_a_path_reaches_a_file(site, prefix, name):
    client, app, _, _ = site
    res = client.get(prefix + name)
    if res.request.url.path.startswith(prefix):
        _not_a_file(res.status_code, res.content)
    _not_a_file(*_asgi_get(app, (prefix + name).encode()))


def test_the_static_files_that_exist_are_served(site):
    client, app, _, _ = site
    assert client.get("/static/journeymap.css").status_code == 200
    assert client.get("/static/journeymap.js").status_code == 200
    status, body = _asgi_get(app, b"/static/journeymap.css")  # the raw-path helper reaches files
    assert status == 200 and body.startswith(b"/*")


def test_the_stuck_csv_file_name_never_carries_a_header_injection(site):
    client = site[0]
    res = client.get("/api/stuck.csv", params={"stage": 'visit"\r\nSet-Cookie: x=1'})
    assert res.status_code == 404 and "set-cookie" not in res.headers


# ---- 6. oversized and deeply nested bodies to the collector ---------------------------
PROMPT_S = 30.0  # a guard against a hang, not a timing claim


def _post(client, key: str, body: bytes, path: str = "/v1/batch", **headers):
    """POST in a thread; the test fails (rather than hangs) when no answer comes."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(client.post, path, content=body,
                             headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                                      **headers})
        try:
            return future.result(timeout=PROMPT_S)
        except concurrent.futures.TimeoutError:
            pytest.fail(f"no answer to a {len(body)}-byte body within {PROMPT_S:.0f}s")


def _refused(res) -> None:
    assert res.status_code in (400, 413, 422), (res.status_code, res.text[:300])
    error = res.json()["error"]
    assert error["status"] == res.status_code and error["code"] and error["message"]


NESTED = {
    "100k arrays": b"[" * 100_000 + b"]" * 100_000,
    "100k arrays in batch": b'{"batch":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "100k arrays in a message": b'{"batch":[{"type":"track","userId":"u","event":"e","properties":{"a":'
                                + b"[" * 100_000 + b"]" * 100_000 + b"}}]}",
    "80k objects": b'{"a":' * 80_000 + b"1" + b"}" * 80_000,
    "unclosed 400k": b"[" * 400_000,
}


@pytest.mark.parametrize("name", list(NESTED))
def test_deeply_nested_json_is_refused_promptly(site, name):
    client, _, key, _ = site
    assert len(NESTED[name]) <= 500 * 1024
    _refused(_post(client, key, NESTED[name]))


def test_a_body_over_the_limit_is_refused_promptly(site):
    client, _, key, _ = site
    msg = {"type": "track", "userId": "u", "event": "e", "properties": {"pad": "x" * 1000}}
    body = json.dumps({"batch": [msg] * 600}).encode()
    assert len(body) > 600 * 1024
    _refused(_post(client, key, body))
    assert _post(client, key, body[:600 * 1024]).status_code in (400, 413)


def test_a_body_over_the_limit_without_a_length_is_refused(site):
    """Sent chunked (no Content-Length): refused once the stream passes the limit."""
    client, _, key, _ = site

    def chunks():
        yield b'{"batch":['
        for _ in range(700):
            yield b'{"type":"track","userId":"u","event":"e","properties":{"p":"' + b"y" * 1000 + b'"}},'
        yield b"{}]}"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(client.post, "/v1/batch", content=chunks(),
                             headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        res = future.result(timeout=PROMPT_S)
    _refused(res)


def test_a_lying_content_length_is_refused(site):
    client, _, key, _ = site
    res = _post(client, key, b'{"batch": []}', **{"Content-Length": str(10**12)})
    assert res.status_code in (400, 413), res.text


def test_too_many_messages_and_too_big_a_message_are_refused(site):
    client, _, key, _ = site
    small = {"type": "track", "userId": "u", "event": "e"}
    _refused(_post(client, key, json.dumps({"batch": [small] * 2501}).encode()))
    big = {**small, "properties": {"p": "z" * (40 * 1024)}}
    res = _post(client, key, json.dumps(big).encode(), "/v1/track")
    _refused(res)


@given(route=ROUTE_BODIES)
@fuzz(60)
def test_any_body_to_any_collector_route_is_answered_without_a_5xx(site, route):
    client, _, key, _ = site
    kind, body = route
    path = "/v1/batch" if kind is None else f"/v1/{kind}"
    res = _post(client, key, body, path)
    assert res.status_code < 500, (path, body[:200], res.status_code, res.text[:300])
    assert res.status_code in (200, 400, 413), res.text[:300]
    if res.status_code != 200:
        _refused(res)


def test_after_the_http_fuzzing_the_collector_flushes_and_the_store_opens(site):
    _, app, _, ws = site
    collector = app.state.collector
    collector.flush()
    assert collector.status()["last_error"] is None
    assert store_opens(ws.path) >= 3

