"""The store's id index: one event per event_id against everything stored, whatever the day."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pytest

from journeymap.store import _idindex, eventstore
from journeymap.store.eventstore import AppendStats, EventStore
from journeymap.store.schema import TS_TYPE

UTC = dt.timezone.utc


def events(ids, day=1) -> pa.Table:
    n = len(ids)
    return pa.table({"event_id": list(ids), "user_id": [f"u{i % 3}" for i in range(n)],
                     "event": ["view"] * n,
                     "ts": pa.array([dt.datetime(2024, 3, day, 10, i % 60, tzinfo=UTC) for i in range(n)],
                                    TS_TYPE)})


def stored_ids(store: EventStore) -> list[str]:
    import duckdb
    return sorted(duckdb.connect().sql(f"SELECT event_id FROM {store.scan_sql()}").fetchnumpy()["event_id"])


@pytest.fixture
def store(tmp_path) -> EventStore:
    return EventStore(tmp_path / "store")


def test_an_id_sent_again_on_another_day_is_kept_once(store):
    assert store.append(events(["m1", "m2"], day=1)) == AppendStats(2, 0)
    assert store.append(events(["m2", "m3"], day=20)) == AppendStats(1, 1)  # m2 again, 19 days on
    assert store.append(events(["m1"], day=5)) == AppendStats(0, 1)
    assert stored_ids(store) == ["m1", "m2", "m3"]


def test_equal_keys_are_confirmed_on_the_ids(store, monkeypatch):
    """Every id hashing to one key: only real repeats are dropped."""
    def one_key(ids):
        return np.full(len(ids), 7, np.uint64)
    monkeypatch.setattr(eventstore, "hash_ids", one_key)
    monkeypatch.setattr(_idindex, "hash_ids", one_key)
    store.append(events(["a", "b"], day=1))
    store.append(events(["c"], day=2))
    assert store.append(events(["a", "d", "c", "e"], day=3)) == AppendStats(2, 2)
    assert stored_ids(store) == ["a", "b", "c", "d", "e"]


def test_key_files_merge_in_tiers_and_cover_every_event_file(store):
    sizes = []
    for k in range(1, 12):
        store.append(events([f"id{k}-{i}" for i in range(k)], day=k))
        sizes.append([e["rows"] for e in store.manifest()["ids"]])
    m = store.manifest()
    assert sizes[-1] == [45, 21]  # 1..9 merged as each newer pile reached the one before; 10 + 11
    assert max(len(s) for s in sizes) <= 4
    assert all(a > b for s in sizes for a, b in zip(s, s[1:]))  # tiers shrink newest-last
    assert sorted(f for e in m["ids"] for f in e["events"]) == sorted(m["events"])
    on_disk = {p.relative_to(store.root).as_posix() for p in (store.root / "ids").iterdir()}
    assert on_disk == {e["keys"] for e in m["ids"]}  # merged-away key files are gone


def test_a_store_from_before_the_index_gets_one_at_its_next_append(store):
    store.append(events(["x", "y"], day=1))
    manifest = json.loads((store.root / "manifest.json").read_text())
    for e in manifest.pop("ids"):
        (store.root / e["keys"]).unlink()
    (store.root / "manifest.json").write_text(json.dumps(manifest))
    assert store.append(events(["y", "z"], day=9)) == AppendStats(1, 1)
    m = store.manifest()
    assert sorted(f for e in m["ids"] for f in e["events"]) == sorted(m["events"])
    assert stored_ids(store) == ["x", "y", "z"]


def test_ids_repeated_within_one_chunked_append_and_against_the_store(store):
    store.append(events(["s1", "s2"], day=2))
    chunks = [events(["s2", "n1", "n1"], day=3), events(["n1", "n2", "s1"], day=4)]
    assert store.append(iter(chunks)) == AppendStats(2, 4)
    assert stored_ids(store) == ["n1", "n2", "s1", "s2"]


@pytest.mark.parametrize("shape", ["hashes", "hashes with repeats", "not spread"])
def test_sorted_order_is_a_sorting_permutation(shape):
    """The bucket sort (hash keys, over a million) and its fallback (keys not spread like
    hashes) both give a permutation that sorts the keys."""
    from journeymap.store._idset import hash_ids, sorted_order
    n = (1 << 20) + 12_345
    ids = pa.array([f"id-{i % (n // 3) if shape == 'hashes with repeats' else i}" for i in range(n)])
    keys = hash_ids(ids) if shape != "not spread" else np.arange(n, dtype=np.uint64)[::-1] % 1000
    order = sorted_order(keys)
    assert np.array_equal(np.sort(order), np.arange(n))
    assert np.all(keys[order][1:] >= keys[order][:-1])
