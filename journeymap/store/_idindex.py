"""Every stored event id, as sorted 64-bit keys: de-duplication against the whole store.

Each commit that adds events also writes one key file, ``ids/keys-<uuid>.npy``: the
keys (`_idset.hash_ids`) of the ids it added, sorted, each with the event file and
the row that hold the id. The manifest lists them under ``"ids"`` as entries
``{"keys": file, "events": [event files], "rows": n}``; together they cover every
committed event file. Key files pile up like sorted runs and merge the same way
(binary-counter tiers: the newest two merge while the newer is at least as large),
so a store keeps about log2(appends) of them and an append's check costs a binary
search per id in each.

A key found in a file is only a candidate: the id is compared with the one stored
id the key points to, so a hash collision never drops an event. An id
re-sent on any later day is caught, whatever its timestamp (the check does not
depend on where the event falls). Stores written before key files existed get them
for their uncovered event files at the next append (one pass over their event_id
column).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from journeymap.store._durable import fsync
from journeymap.store._idset import hash_ids, sorted_order

__all__ = ["IdIndex", "KEY_DTYPE"]

KEY_DTYPE = np.dtype([("k", "<u8"), ("f", "<u4"), ("r", "<u4")])
FOLDER = "ids"


@dataclass
class IdIndex:
    """The key files of one manifest, read and extended by the store's one writer."""

    root: Path
    entries: list[dict]
    _written: set = field(default_factory=set)

    @classmethod
    def of(cls, root: Path, manifest: dict) -> IdIndex:
        return cls(root, [dict(e) for e in manifest.get("ids", [])])

    @property
    def files(self) -> list[str]:
        return [e["keys"] for e in self.entries]

    def cover(self, event_files: list[str]) -> None:
        """Add an entry for committed event files no entry covers (stores from before)."""
        covered = {f for e in self.entries for f in e["events"]}
        missing = [f for f in event_files if f not in covered]
        if not missing:
            return
        keys, where = [], []
        for i, rel in enumerate(missing):
            ids = pq.read_table(self.root / rel, columns=["event_id"]).column(0)
            keys.append(hash_ids(ids))
            where.append(np.full(len(ids), i, np.uint32))
        self.entries.insert(0, self._write(np.concatenate(keys), np.concatenate(where), missing,
                                           np.concatenate([np.arange(len(k), dtype=np.uint32) for k in keys])))

    def stored(self, ids: pa.Array | pa.ChunkedArray, keys: np.ndarray) -> np.ndarray:
        """True where an id (with its key) is already stored."""
        out = np.zeros(len(keys), np.bool_)
        if not len(keys) or not self.entries:  # nothing stored yet (a first ingest): no sort
            return out
        order = sorted_order(keys)  # sorted needles: each search starts where the last ended
        needles = keys[order]
        for entry in self.entries:
            table = np.load(self.root / entry["keys"], mmap_mode="r")
            k = np.ascontiguousarray(table["k"])
            lo, hi = np.empty_like(order), np.empty_like(order)
            lo[order] = np.searchsorted(k, needles, "left")
            hi[order] = np.searchsorted(k, needles, "right")
            rows = np.flatnonzero((hi > lo) & ~out)
            if not len(rows):
                continue
            span = hi[rows] - lo[rows]  # equal keys in one file: every file they point to
            row_of = np.repeat(rows, span)
            at = np.repeat(lo[rows] - np.cumsum(span) + span, span) + np.arange(span.sum())
            file_of, row_in = np.asarray(table["f"][at]), np.asarray(table["r"][at])
            for f in np.unique(file_of):
                mine = file_of == f
                cand = row_of[mine]
                there = pq.read_table(self.root / entry["events"][int(f)], columns=["event_id"]).column(0)
                same = pc.equal(ids.take(pa.array(cand)), there.take(pa.array(row_in[mine])))
                out[cand[same.to_numpy(zero_copy_only=False)]] = True
        return out

    def add(self, keys: np.ndarray, file_of: np.ndarray, row_in: np.ndarray, events: list[str]) -> None:
        """Add the keys of a commit's new event files (each key's file and row in it),
        then merge tiers as they pile up."""
        if not len(keys):
            return
        self.entries.append(self._write(keys, file_of, events, row_in))
        while len(self.entries) >= 2 and self.entries[-1]["rows"] >= self.entries[-2]["rows"]:
            a, b = self.entries[-2], self.entries[-1]
            ta, tb = (np.load(self.root / e["keys"]) for e in (a, b))
            merged = self._write(np.concatenate([ta["k"], tb["k"]]),
                                 np.concatenate([ta["f"], tb["f"] + np.uint32(len(a["events"]))]),
                                 a["events"] + b["events"], np.concatenate([ta["r"], tb["r"]]))
            self.entries[-2:] = [merged]
            for e in (a, b):  # written by this append, never committed: not needed
                if e["keys"] in self._written:
                    (self.root / e["keys"]).unlink(missing_ok=True)

    def _write(self, keys: np.ndarray, file_of: np.ndarray, events: list[str], row_in: np.ndarray) -> dict:
        order = sorted_order(keys)
        table = np.empty(len(keys), KEY_DTYPE)
        table["k"], table["f"], table["r"] = keys[order], file_of[order], row_in[order]
        rel = f"{FOLDER}/keys-{uuid.uuid4().hex}.npy"
        final = self.root / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, table)
            fh.flush()
        fsync(tmp)
        tmp.rename(final)
        fsync(final.parent)
        self._written.add(rel)
        return {"keys": rel, "events": list(events), "rows": int(len(keys))}
