"""CSV, JSONL and Parquet readers: canonical columns, natural types, mapping, bad rows by line."""

from __future__ import annotations

import csv
import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from journeymap.errors import IngestError
from journeymap.store import _lines
from journeymap.store.readers import load_events, read_events
from journeymap.store.schema import TS_TYPE

UTC = dt.timezone.utc
GOOD_CSV = """
    user_id,event,ts,plan,seats,price,trial,zip
    u1,signup,2024-03-01T10:00:00Z,pro,3,9.5,true,007
    u2,login,2024-03-01 11:00:00+01:00,free,1,0,false,10115
    u1,login,1709290800,pro,,2.25,,
"""


def rows(result):
    return result.events.to_pylist()


def test_csv_canonical_columns_and_natural_types(write):
    res = read_events(write("e.csv", GOOD_CSV))
    assert res.rejected == []
    schema = res.events.schema
    assert schema.names == ["event_id", "user_id", "event", "ts", "plan", "seats", "price", "trial", "zip"]
    assert schema.field("ts").type == TS_TYPE
    assert [schema.field(n).type for n in ("plan", "seats", "price", "trial", "zip")] == \
        [pa.string(), pa.int64(), pa.float64(), pa.bool_(), pa.string()]   # '007' stays text
    first, second, third = rows(res)
    assert first["ts"] == dt.datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert second["ts"] == dt.datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert third["ts"] == dt.datetime(2024, 3, 1, 11, tzinfo=UTC)
    assert (first["seats"], first["trial"], first["zip"], third["seats"]) == (3, True, "007", None)


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_property_names_keep_the_spaces_around_them(write, delimiter):
    """DuckDB trims header cells; a property is named as the file writes it, as JSON and
    Parquet keep it (a funnel step's condition on ' seats ' finds it), while a core
    column written ' user_id ' is still the user id. Types are found as for any column."""
    header = delimiter.join([" user_id ", "event", "ts", " seats ", "a b ", '" q "', "\u00a0nb\u00a0"])
    row = delimiter.join(["u1", "go", "2024-03-01T10:00:00Z", "3", "x", "y", "z"])
    res = read_events(write("e.csv", f"{header}\n{row}\n"))
    assert res.events.schema.names == ["event_id", "user_id", "event", "ts", " seats ", "a b ", " q ",
                                       "\u00a0nb\u00a0"]
    assert rows(res)[0]["user_id"] == "u1" and rows(res)[0][" seats "] == 3


def test_content_hash_event_id_is_deterministic(write):
    a = read_events(write("a.csv", GOOD_CSV)).events.column("event_id").to_pylist()
    b = read_events(write("b.csv", GOOD_CSV)).events.column("event_id").to_pylist()
    assert a == b and len(set(a)) == 3
    changed = write("c.csv", GOOD_CSV.replace("pro,3", "pro,4"))
    c = read_events(changed).events.column("event_id").to_pylist()
    assert c[0] != a[0] and c[1:] == a[1:]


def test_event_id_column_is_used_when_present(write):
    path = write("e.csv", """
        event_id,user_id,event,ts
        e-1,u1,signup,2024-03-01
    """)
    assert rows(read_events(path))[0]["event_id"] == "e-1"


def test_csv_mapping(write):
    path = write("e.csv", """
        customer,what,time,sid
        c1,signup,2024-03-01T10:00:00Z,s1
    """)
    res = read_events(path, mapping={"user_id": "customer", "event": "what", "ts": "time",
                                     "session_id": "sid"})
    assert res.events.column_names == ["event_id", "user_id", "event", "ts", "session_id"]
    assert rows(res)[0]["user_id"] == "c1" and rows(res)[0]["session_id"] == "s1"


def test_timestamp_column_alias(write):
    res = read_events(write("e.csv", "user_id,event,timestamp\nu1,a,2024-03-01\n"))
    assert rows(res)[0]["ts"] == dt.datetime(2024, 3, 1, tzinfo=UTC)


def test_missing_required_column_names_it_and_lists_columns(write):
    path = write("e.csv", "user_id,evnt,ts\nu1,a,2024-03-01\n")
    with pytest.raises(IngestError) as err:
        read_events(path)
    msg = str(err.value)
    assert "'event'" in msg and "user_id, evnt, ts" in msg and "did you mean 'evnt'" in msg
    assert err.value.file == str(path)


def test_mapping_to_unknown_column_is_an_error(write):
    path = write("e.csv", "customer,event,ts\nu1,a,2024-03-01\n")
    with pytest.raises(IngestError, match="'custmer'.*did you mean 'customer'"):
        read_events(path, mapping={"user_id": "custmer"})
    with pytest.raises(IngestError, match="unknown canonical column 'usr_id'"):
        read_events(path, mapping={"usr_id": "customer"})


def test_anonymous_only_rows_use_the_anonymous_id_as_user(write):
    path = write("e.csv", "user_id,anonymous_id,event,ts\n"
                          ",anon-1,view,2024-03-01\nu1,anon-1,buy,2024-03-01\n")
    res = read_events(path)
    assert [(r["user_id"], r["anonymous_id"]) for r in rows(res)] == [("anon-1", "anon-1"), ("u1", "anon-1")]


BAD_CSV = (
    'user_id,event,ts,plan\n'                       # 1
    'u1,signup,2024-03-01T10:00:00Z,pro\n'           # 2 good
    'u2,login,2024-03-01T10:00:01Z\n'                # 3 too few fields
    '\n'                                             # 4 blank
    'u3,"two\nlines",2024-03-02,free\n'              # 5-6 good, multi-line field
    'u4,x,1709290800,a,b\n'                          # 7 too many fields
    ',z,2024-03-01,free\n'                           # 8 no user
    'u6,,2024-03-01,free\n'                          # 9 no event
    'u7,w,garbage,free\n'                            # 10 bad ts
    'u8,w,,free\n'                                   # 11 no ts
    '   ,,soon,free\n'                               # 12 everything wrong
    'u9,last,2024-03-03,free'                        # 13 good, no final newline
)


@pytest.mark.parametrize("chunk", [None, 7])
def test_bad_csv_rows_are_rejected_whole_with_file_line_reasons(tmp_path, monkeypatch, chunk):
    if chunk:  # exercise record tracking across chunk boundaries
        monkeypatch.setattr(_lines, "CHUNK", chunk)
    path = tmp_path / "bad.csv"
    path.write_text(BAD_CSV)
    res = read_events(path)
    assert [r["user_id"] for r in rows(res)] == ["u1", "u3", "u9"]
    assert rows(res)[1]["event"] == "two\nlines"
    got = [(r.location, r.reason, r.raw) for r in res.rejected]
    f = str(path)
    assert got == [
        (f"{f}:3", "wrong number of fields: expected 4, found 3", "u2,login,2024-03-01T10:00:01Z"),
        (f"{f}:7", "wrong number of fields: expected 4, found 5", "u4,x,1709290800,a,b"),
        (f"{f}:8", "missing user_id", ",z,2024-03-01,free"),
        (f"{f}:9", "missing event", "u6,,2024-03-01,free"),
        (f"{f}:10", 'unparseable ts "garbage"', "u7,w,garbage,free"),
        (f"{f}:11", "missing ts", "u8,w,,free"),
        (f"{f}:12", 'missing user_id; missing event; unparseable ts "soon"', "   ,,soon,free"),
    ]


def test_load_events_refuses_bad_rows_and_lists_the_first_ten(tmp_path):
    path = tmp_path / "bad.csv"
    bad = "".join(f"u{i},e,never\n" for i in range(12))
    path.write_text(f"user_id,event,ts\n{bad}u,e,2024-03-01\n")
    with pytest.raises(IngestError) as err:
        load_events(path)
    msg = str(err.value)
    assert "12 bad row(s)" in msg and "--skip-bad-rows" in msg and "and 2 more" in msg
    assert f"{path}:2: unparseable ts" in msg and f"{path}:11:" in msg and f"{path}:12:" not in msg
    assert len(err.value.rejected) == 10 and err.value.rejected[0][0] == f"{path}:2"


def test_skip_bad_rows_writes_every_bad_row_and_keeps_the_good(tmp_path):
    path, out = tmp_path / "bad.csv", tmp_path / "out" / "rejected.csv"
    path.write_text(BAD_CSV)
    res = load_events(path, skip_bad_rows=out)
    assert res.events.num_rows == 3
    with out.open(newline="") as fh:
        written = list(csv.reader(fh))
    assert written[0] == ["location", "reason", "raw"]
    assert [w[0] for w in written[1:]] == [r.location for r in res.rejected] and len(written) == 8
    assert written[5][2] == "u7,w,garbage,free"


def test_jsonl_types_nesting_mapping_and_bad_lines(write, monkeypatch):
    monkeypatch.setattr(_lines, "CHUNK", 50)
    path = write("e.jsonl", """
        {"who": "u1", "name": "signup", "at": "2024-03-01T10:00:00Z", "n": 1, "ctx": {"a": [1, 2]}, "ok": true}
        {"who": 2, "name": "login", "at": 1709290800000, "n": 2.5, "date": "2024-01-01"}
        this is not json

        [1, 2]
        {"who": "u3", "name": "", "at": "2024-03-01"}
        {"who": "u4", "name": "x", "at": "2024-03-01", "n": 3}
    """)
    res = read_events(path, mapping={"user_id": "who", "event": "name", "ts": "at"})
    names = res.events.column_names
    assert names[:4] == ["event_id", "user_id", "event", "ts"]
    assert res.events.schema.field("n").type == pa.float64()
    assert res.events.schema.field("ok").type == pa.bool_()
    assert res.events.schema.field("ctx").type == pa.string()
    assert "prop_date" in names                       # `date` is the store's partition key
    got = rows(res)
    assert [r["user_id"] for r in got] == ["u1", "2", "u4"]
    assert json.loads(got[0]["ctx"]) == {"a": [1, 2]}
    assert got[1]["ts"] == dt.datetime(2024, 3, 1, 11, tzinfo=UTC)
    assert [(r.location.rsplit(":", 1)[1], r.reason) for r in res.rejected] == [
        ("3", "malformed JSON line: Expecting value"), ("5", "not a JSON object"),
        ("6", "missing event (column 'name')")]
    assert res.rejected[0].raw == "this is not json"


def test_jsonl_integers_stay_integers(write):
    res = read_events(write("e.ndjson", '{"user_id":"u","event":"e","ts":"2024-03-01","k":-1}\n'
                                        '{"user_id":"u","event":"e","ts":"2024-03-02","k":7}\n'))
    assert res.events.schema.field("k").type == pa.int64()
    assert res.events.column("k").to_pylist() == [-1, 7]


def test_parquet_keeps_types_and_locates_rows(tmp_path):
    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({
        "uid": pa.array([1, None, 3], pa.int32()),
        "event": ["a", "b", "c"],
        "ts": pa.array([dt.datetime(2024, 3, 1, 10)] * 3, pa.timestamp("ms")),
        "qty": pa.array([1, 2, 3], pa.int16()),
        "meta": [{"k": 1}, {"k": 2}, {"k": 3}],
        "price": pa.array([1.5, 2.5, 3.5], pa.float32()),
    }), path)
    res = read_events(path, mapping={"user_id": "uid"})
    assert [(r.location, r.reason) for r in res.rejected] == \
        [(f"{path}:row 2", "missing user_id (column 'uid')")]
    assert json.loads(res.rejected[0].raw)["event"] == "b"
    schema = res.events.schema
    assert (schema.field("qty").type, schema.field("meta").type, schema.field("price").type) == \
        (pa.int64(), pa.string(), pa.float64())
    assert rows(res)[0]["user_id"] == "1" and rows(res)[0]["ts"] == dt.datetime(2024, 3, 1, 10, tzinfo=UTC)


def test_format_argument_overrides_the_extension(write):
    path = write("events.txt", '{"user_id": "u", "event": "e", "ts": "2024-03-01"}\n')
    assert read_events(path, format="ndjson").events.num_rows == 1
    with pytest.raises(IngestError, match="unknown format"):
        read_events(write("events.xml", "<x/>"))


def test_other_delimiters_and_empty_files(write, tmp_path):
    tsv = read_events(write("e.tsv", "user_id\tevent\tts\tn\nu1\ta\t2024-03-01\t5\n"))
    assert tsv.events.column("n").to_pylist() == [5]
    semi = read_events(write("e.csv", "user_id;event;ts\nu1;a;2024-03-01\n"))
    assert semi.events.column("user_id").to_pylist() == ["u1"]
    for name in ("empty.csv", "empty.jsonl", "header.csv"):
        path = tmp_path / name
        path.write_text("user_id,event,ts\n" if name == "header.csv" else "")
        res = read_events(path)
        assert (res.events.num_rows, res.rejected) == (0, [])
        assert res.events.column_names == ["event_id", "user_id", "event", "ts"]


def test_missing_file_is_an_ingest_error(tmp_path):
    with pytest.raises(IngestError, match="no such file"):
        read_events(tmp_path / "nope.csv")
