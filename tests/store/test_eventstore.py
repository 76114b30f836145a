"""The Parquet event store: layout, de-duplication, schema union, conflicts, crash safety."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from journeymap.errors import IngestError
from journeymap.store.eventstore import AppendStats, EventStore
from journeymap.store.readers import read_events
from journeymap.store.schema import TS_TYPE

UTC = dt.timezone.utc
CSV = """
    user_id,event,ts,plan
    u2,login,2024-03-02T09:00:00Z,free
    u1,signup,2024-03-01T10:00:00Z,pro
    u1,login,2024-03-01T09:00:00Z,pro
    u1,login,2024-03-01T09:00:00Z,free
    u0,view,2024-03-01T23:59:59.999Z,free
"""


def events(n=3, day=1, **props) -> pa.Table:
    cols = {"event_id": [f"e{day}-{i}" for i in range(n)], "user_id": [f"u{i % 2}" for i in range(n)],
            "event": ["view"] * n,
            "ts": pa.array([dt.datetime(2024, 3, day, 10, i, tzinfo=UTC) for i in range(n)], TS_TYPE)}
    return pa.table({**cols, **{k: v[:n] for k, v in props.items()}})


def scan(store: EventStore, sql="SELECT * FROM {scan} ORDER BY event_id") -> pa.Table:
    return duckdb.connect().sql(sql.format(scan=store.scan_sql())).to_arrow_table()


def files_on_disk(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != ".lock"}


@pytest.fixture
def store(tmp_path) -> EventStore:
    return EventStore(tmp_path / "store")


def test_layout_partitions_and_input_order(store, write):
    assert store.is_empty and store.version == 0 and store.event_files() == []
    stats = store.append(read_events(write("e.csv", CSV)).events)
    assert stats == AppendStats(added=5, duplicates=0)
    assert not store.is_empty and store.version == 1
    rel = sorted(Path(f).relative_to(store.root).parent.as_posix() for f in store.event_files())
    assert rel == ["events/date=2024-03-01", "events/date=2024-03-02"]
    day1 = pq.read_table([f for f in store.event_files() if "2024-03-01" in f][0])
    assert day1.column("user_id").to_pylist() == ["u1", "u1", "u1", "u0"]  # as in the file
    manifest = json.loads((store.root / "manifest.json").read_text())
    assert sorted(manifest["events"]) == sorted(Path(f).relative_to(store.root).as_posix()
                                                for f in store.event_files())
    assert scan(store).num_rows == 5


def test_reingesting_the_same_file_adds_nothing(store, write):
    path = write("e.csv", CSV)
    store.append(read_events(path).events)
    version, fingerprint = store.version, store.fingerprint()
    assert store.append(read_events(path).events) == AppendStats(added=0, duplicates=5)
    assert (store.version, store.fingerprint()) == (version, fingerprint)
    assert scan(store).num_rows == 5


def test_only_ids_not_stored_yet_are_added_in_input_order(store):
    store.append(pa.concat_tables([events(3, day=1), events(2, day=2)]))
    before = set(store.event_files())
    mix = pa.concat_tables([events(5, day=1), events(2, day=2), events(1, day=3)])
    mix = mix.take(pa.array([6, 4, 0, 3, 5, 1, 7, 2]))  # stored and new ids interleaved
    assert store.append(mix) == AppendStats(added=3, duplicates=5)
    assert scan(store).column("event_id").to_pylist() == \
        ["e1-0", "e1-1", "e1-2", "e1-3", "e1-4", "e2-0", "e2-1", "e3-0"]
    [day1] = [f for f in set(store.event_files()) - before if "2024-03-01" in f]
    added = pq.read_table(day1).column("event_id").to_pylist()
    assert added == ["e1-4", "e1-3"]  # the new rows, in the order they came


def test_event_id_dedupe_within_a_batch_keeps_the_first(store):
    batch = pa.concat_tables([events(2, plan=["first", "first"]), events(2, plan=["late", "late"])])
    assert store.append(batch) == AppendStats(added=2, duplicates=2)
    assert scan(store).column("plan").to_pylist() == ["first", "first"]


def test_schema_union_across_appends(store):
    store.append(events(2, day=1, plan=["a", "b"]))
    store.append(events(2, day=2, seats=[1, 2]))
    store.append(events(2, day=1, coupon=["x", None]).set_column(0, "event_id", pa.array(["c1", "c2"])))
    files = store.event_files()
    sql = f"SELECT * FROM read_parquet({files}, union_by_name=true) ORDER BY event_id"
    got = duckdb.connect().sql(sql).to_arrow_table()
    assert got.num_rows == 6 and {"plan", "seats", "coupon"} <= set(got.column_names)
    assert scan(store).column("seats").to_pylist() == [None, None, None, None, 1, 2]


def test_numeric_properties_widen_to_double(store):
    store.append(events(2, day=1, amount=pa.array([1, 2], pa.int32())))
    store.append(events(2, day=2, amount=[0.5, 1.5]))
    assert store.columns()["amount"] == "double"
    assert scan(store).column("amount").to_pylist() == [1.0, 2.0, 0.5, 1.5]


def test_type_conflict_names_column_and_types_and_writes_nothing(store):
    store.append(events(2, day=1, plan=["a", "b"]))
    before = (store.version, store.fingerprint(), files_on_disk(store.root))
    with pytest.raises(IngestError) as err:
        store.append(events(2, day=2, plan=[1, 2]))
    assert "'plan'" in str(err.value) and "int64" in str(err.value) and "string" in str(err.value)
    assert (store.version, store.fingerprint(), files_on_disk(store.root)) == before


def test_crash_before_the_manifest_commit_keeps_the_old_state(store, monkeypatch):
    store.append(events(2, day=1), users=pa.table({"user_id": ["u0"], "plan": ["free"]}))
    before = (store.version, store.fingerprint(), store.event_files(), store.users_file())

    def crash(src, dst):
        raise OSError("power cut")
    with monkeypatch.context() as m:
        m.setattr(os, "replace", crash)
        with pytest.raises(OSError, match="power cut"):
            store.append(events(3, day=2), users=pa.table({"user_id": ["u0"], "plan": ["pro"]}))
    assert (store.version, store.fingerprint(), store.event_files(), store.users_file()) == before
    assert scan(store).num_rows == 2
    assert pq.read_table(store.users_file()).column("plan").to_pylist() == ["free"]
    orphans = files_on_disk(store.root) - {"manifest.json"} - {
        Path(f).relative_to(store.root).as_posix() for f in [*store.event_files(), store.users_file()]}
    assert orphans        # the half-done append left files behind...
    assert store.append(events(3, day=2)) == AppendStats(added=3, duplicates=0)
    listed = {Path(f).relative_to(store.root).as_posix() for f in [*store.event_files(), store.users_file()]}
    listed |= {e["keys"] for e in store.manifest()["ids"]}  # the id index
    assert files_on_disk(store.root) == listed | {"manifest.json"}   # ...which the next append swept
    assert scan(store).num_rows == 5


def test_users_upsert_and_identities_dedupe(store):
    store.append(events(1), users=pa.table({"user_id": ["u1", "u2"], "plan": ["free", "pro"],
                                            "seats": [1, 5]}),
                 identities=pa.table({"anonymous_id": ["a1"], "user_id": ["u1"]}))
    v = store.version
    store.append(events(0), users=pa.table({"user_id": ["u1", "u3"], "plan": ["pro", None],
                                            "country": ["NO", "SE"]}),
                 identities=pa.table({"anonymous_id": ["a1", "a2"], "user_id": ["u1", "u1"]}))
    assert store.version == v + 1
    users = {r["user_id"]: r for r in pq.read_table(store.users_file()).to_pylist()}
    assert users["u1"] == {"user_id": "u1", "plan": "pro", "seats": 1, "country": "NO"}
    assert users["u2"] == {"user_id": "u2", "plan": "pro", "seats": 5, "country": None}
    assert users["u3"]["country"] == "SE"
    assert pq.read_table(store.identities_file()).to_pylist() == [
        {"anonymous_id": "a1", "user_id": "u1"}, {"anonymous_id": "a2", "user_id": "u1"}]
    v, fp = store.version, store.fingerprint()
    store.append(events(0), identities=pa.table({"anonymous_id": ["a2"], "user_id": ["u1"]}))
    assert (store.version, store.fingerprint()) == (v, fp)


def test_version_and_fingerprint_track_commits(store):
    fps = [store.fingerprint()]
    for day in (1, 2):
        store.append(events(2, day=day))
        fps.append(store.fingerprint())
    assert store.version == 2 and len(set(fps)) == 3


def test_date_property_does_not_clash_with_the_partition(store):
    store.append(events(1, date=["someday"]))
    assert scan(store).column("prop_date").to_pylist() == ["someday"]
    assert "date" not in scan(store).column_names


def test_bad_tables_are_refused(store):
    with pytest.raises(IngestError, match="no 'event_id' column"):
        store.append(events(1).drop_columns(["event_id"]))
    with pytest.raises(IngestError, match="1 event row"):
        store.append(events(1).set_column(1, "user_id", pa.array([None], pa.string())))
    naive = events(1).set_column(3, "ts", pa.array([dt.datetime(2024, 3, 1, 10)], pa.timestamp("ns")))
    store.append(naive)
    assert scan(store).column("ts").to_pylist() == [dt.datetime(2024, 3, 1, 10, tzinfo=UTC)]
