"""EventStore.ingest: a file streamed in chunks, de-duplicated across them, committed once."""

from __future__ import annotations

import csv

import duckdb
import numpy as np
import pytest

from journeymap.errors import IngestError
from journeymap.store import eventstore, readers
from journeymap.store._idset import IdSet, hash_ids
from journeymap.store.eventstore import AppendStats, EventStore

ROWS = """
    event_id,user_id,event,ts,plan
    e1,u1,visit,2024-03-01T10:00:00Z,free
    e2,u2,visit,2024-03-01T11:00:00Z,free
    e3,u1,buy,2024-03-02T10:00:00Z,pro
    e1,u1,visit,2024-03-01T10:00:00Z,late
    e4,u3,visit,2024-03-03T10:00:00Z,free
    e5,u3,buy,2024-03-01T12:00:00Z,pro
    e3,u1,buy,2024-03-02T10:00:00Z,late
"""


@pytest.fixture
def tiny_chunks(monkeypatch):
    """Two-row chunks, so a small file is ingested in several."""
    monkeypatch.setattr(readers, "BATCH_ROWS", 2)
    monkeypatch.setattr(readers, "CHUNK_BYTES", 1)


@pytest.fixture
def store(tmp_path) -> EventStore:
    return EventStore(tmp_path / "store")


def stored(store: EventStore) -> list[tuple]:
    sql = f"SELECT event_id, plan FROM {store.scan_sql()} ORDER BY event_id"
    return duckdb.connect().sql(sql).fetchall()


def on_disk(store: EventStore) -> set[str]:
    return {p.relative_to(store.root).as_posix() for p in store.root.rglob("*") if p.name != ".lock"}


def test_chunks_are_deduplicated_across_each_other_and_committed_once(store, write, tiny_chunks):
    path = write("e.csv", ROWS)
    with readers.EventFile(path) as f:
        assert len(list(f.chunks())) == 4
    assert store.ingest(path) == AppendStats(added=5, duplicates=2)
    assert store.version == 1 and store.manifest()["rows"] == 5
    assert stored(store) == [("e1", "free"), ("e2", "free"), ("e3", "pro"), ("e4", "free"), ("e5", "pro")]
    assert store.ingest(path) == AppendStats(added=0, duplicates=7)
    assert store.version == 1


def test_hash_collisions_never_drop_an_event(store, write, tiny_chunks, monkeypatch):
    monkeypatch.setattr(eventstore, "hash_ids", lambda ids: np.full(len(ids), 7, np.uint64))
    assert store.ingest(write("e.csv", ROWS)) == AppendStats(added=5, duplicates=2)
    assert stored(store) == [("e1", "free"), ("e2", "free"), ("e3", "pro"), ("e4", "free"), ("e5", "pro")]


def test_a_bad_row_in_a_later_chunk_loads_nothing(store, write, tiny_chunks):
    store.ingest(write("old.csv", "event_id,user_id,event,ts,plan\ne0,u0,visit,2024-03-01,free\n"))
    before = (store.version, store.fingerprint(), on_disk(store))
    path = write("e.csv", ROWS + "    e9,u9,visit,not-a-time,free\n")
    with pytest.raises(IngestError, match="1 bad row") as err:
        store.ingest(path)
    assert err.value.rejected == [(f"{path}:9", 'unparseable ts "not-a-time"')]
    assert (store.version, store.fingerprint(), on_disk(store)) == before


def test_skip_bad_rows_loads_every_good_row_of_every_chunk(store, write, tiny_chunks, tmp_path):
    bad = tmp_path / "rejects.csv"
    path = write("e.csv", ROWS.replace("e2,u2,visit,", "e2,,visit,") + "    e9,u9,visit,2024-03-04,free\n")
    assert store.ingest(path, skip_bad_rows=bad) == AppendStats(added=5, duplicates=2)
    assert [r[0] for r in stored(store)] == ["e1", "e3", "e4", "e5", "e9"]
    with bad.open() as fh:
        assert [(r["location"], r["reason"]) for r in csv.DictReader(fh)] == [(f"{path}:3", "missing user_id")]


def test_ingest_matches_load_and_append(store, write, tmp_path):
    path = write("e.csv", ROWS)
    other = EventStore(tmp_path / "other")
    other.append(readers.load_events(path).events)
    assert store.ingest(path) == AppendStats(added=5, duplicates=2)
    assert stored(store) == stored(other) and store.columns() == other.columns()


def test_idset_flags_keys_seen_before_and_grows():
    ids = IdSet(capacity=4)
    keys = np.arange(1, 5001, dtype=np.uint64)
    assert not ids.add(keys).any() and len(ids) == 5000
    again = ids.add(np.array([3, 9999, 9999], np.uint64))
    assert again.tolist() == [True, False, True] and len(ids) == 5001


def test_hash_ids_is_stable_and_sees_slices():
    import pyarrow as pa
    arr = pa.array(["a", "b", "a", "ccc"])
    keys = hash_ids(arr)
    assert keys[0] == keys[2] and len(set(keys.tolist())) == 3 and (keys != 0).all()
    assert hash_ids(arr.slice(2)).tolist() == keys[2:].tolist()
    assert hash_ids(pa.chunked_array([arr[:1], arr[1:]])).tolist() == keys.tolist()
