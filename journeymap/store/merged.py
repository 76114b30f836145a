"""Several clustered runs read as one: rows merged into (user, time) order as they are read.

The workspace keeps its events clustered as sorted runs (see `store.runs`): the
first ingest writes one, each later ingest adds one for its new events only.
`MergedEvents` reads k runs as a single clustered source, with exactly the
order, user numbers and row numbers one clustered copy of all the events would
have (`ClusteredEvents`), so every measure gives the same numbers either way:

- users: the union of the runs' user ids in byte order (nulls, one nameless
  user, last), numbered 0..; each run's own numbers map into it;
- event names: the union, sorted; each run's codes map into it;
- rows: a chunk of whole users at a time (about a row group), each run's rows of
  those users merged by (user, time, event) with a compiled k-way merge; rows
  equal on all three in different runs are ordered by event id, as the one sort
  by (user_id, ts, event, event_id) would.

Memory: the runs' Arrow cores are memory-mapped; a chunk's rows are copied once
into merged order.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from journeymap._deferred import ibis
from journeymap.store import clustered
from journeymap.store._merge import merge_order
from journeymap.store._strings import sorted_union
from journeymap.store.clustered import CORE, PARQUET, ClusteredEvents, RowGroup, columns_of, without_uid
from journeymap.store.frames import string_buffers


@dataclass(frozen=True)
class MergedEvents:
    """k clustered runs as one clustered source (see the module doc)."""

    runs: tuple[ClusteredEvents, ...]
    #: the Ibis connection for `table`, or a function returning it; a new DuckDB one if None
    con: object = None

    clustered = True  # capability flags of an event source (see store.sources)
    passes_use_engine = False

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(f for run in self.runs for f in run.files)

    @cached_property
    def columns(self) -> tuple[str, ...]:
        return columns_of(self.files)

    @cached_property
    def table(self):
        """An Ibis view of every run's Parquet copy (made on first use)."""
        con = self.con() if callable(self.con) else self.con or ibis.duckdb.connect()
        return without_uid(con.read_parquet(list(self.files), union_by_name=True))

    @cached_property
    def vocab(self) -> tuple[str, ...]:
        return tuple(sorted(set().union(*(run.vocab for run in self.runs))))

    @cached_property
    def _codes(self) -> list[np.ndarray]:
        """Per run: its event codes -> codes into `vocab`."""
        index = {name: k for k, name in enumerate(self.vocab)}
        return [np.array([index[v] for v in run.vocab], np.int32) for run in self.runs]

    @cached_property
    def _union(self) -> tuple[pa.Array, list[np.ndarray]]:
        """The users of all runs, and per run its user numbers -> numbers in the union."""
        union, maps, nameless = None, [], []
        for run in self.runs:
            ids = run.user_ids
            named = len(ids) - ids.null_count  # a null id sorts last: one nameless user
            nameless.append(named < len(ids))
            ids = ids.slice(0, named)
            if union is None:
                union, maps = ids, [np.arange(named, dtype=np.int64)]
                continue
            source, at_u, at_r = sorted_union(*string_buffers(union), *string_buffers(ids))
            union = pa.concat_arrays([union.cast(pa.string()), ids.cast(pa.string())]).take(pa.array(source))
            maps = [at_u[m] for m in maps] + [at_r]
        n = len(union)
        if any(nameless):
            union = pa.concat_arrays([union, pa.nulls(1, union.type)])
        maps = [np.append(m, n) if has else m for m, has in zip(maps, nameless)]
        return union, [m.astype(np.int64) for m in maps]

    @property
    def user_ids(self) -> pa.Array:
        """user_id per user number."""
        return self._union[0]

    @cached_property
    def starts(self) -> np.ndarray:
        """Row where each user starts in the merged order, plus the number of rows."""
        counts = np.zeros(len(self.user_ids), np.int64)
        for run, to in zip(self.runs, self._union[1]):
            np.add.at(counts, to, np.diff(run.starts))
        return np.concatenate(([0], np.cumsum(counts))).astype(np.int64)

    @property
    def n_rows(self) -> int:
        return sum(run.n_rows for run in self.runs)

    def data_end_us(self) -> int:
        return max(run.data_end_us() for run in self.runs)

    @property
    def user_count(self) -> int:
        return len(self.user_ids)

    def row_groups(self, extra: Sequence[str] = ()) -> Iterator[RowGroup]:
        """The rows in merged order, a chunk of whole users at a time (about a row group;
        one user with more rows is a chunk of their own); `extra` columns from the runs'
        Parquet copies (null where a run lacks the column)."""
        readers = [_RunReader(run, to, codes, extra)
                   for run, to, codes in zip(self.runs, self._union[1], self._codes)]
        starts, n_users = self.starts, len(self.user_ids)
        u0 = 0
        try:
            while u0 < n_users:
                end = starts[u0] + clustered.ROW_GROUP
                u1 = max(int(np.searchsorted(starts, end, "right")) - 1, u0 + 1)
                u1 = min(u1, n_users)
                yield _merged([(r, r.rows_of(u0, u1)) for r in readers], int(starts[u0]), extra)
                u0 = u1
        finally:
            for r in readers:
                r.close()


def _merged(pieces: list[tuple[_RunReader, RowGroup]], row0: int, extra: Sequence[str]) -> RowGroup:
    """The runs' rows of the same users (each run's reader and rows) as one RowGroup in
    (user, time, event, event id) order."""
    pieces = [(r, p) for r, p in pieces if len(p.t)]
    parts = [p for _, p in pieces]
    if len(parts) == 1:
        return RowGroup(row0, parts[0].uid, parts[0].t, parts[0].codes, parts[0].extra)
    uid = np.concatenate([p.uid for p in parts])
    t = np.concatenate([p.t for p in parts])
    codes = np.concatenate([p.codes for p in parts])
    bounds = np.cumsum([0] + [len(p.t) for p in parts]).astype(np.int64)
    perm, tie = merge_order(uid, t, codes, bounds)
    if tie:
        ids = pa.concat_arrays([r.event_ids(p) for r, p in pieces])
        perm = _ties_by_event_id(perm, uid, t, codes, ids)
    more = None
    if extra:
        more = pa.concat_tables([p.extra for p in parts], promote_options="permissive").take(pa.array(perm))
    return RowGroup(row0, uid[perm].astype(np.int32), t[perm], codes[perm], more)


def _ties_by_event_id(perm: np.ndarray, uid, t, codes, ids: pa.Array) -> np.ndarray:
    """perm with each group of rows equal on (user, time, event) ordered by event id."""
    key_u, key_t, key_c = uid[perm], t[perm], codes[perm]
    same = (key_u[1:] == key_u[:-1]) & (key_t[1:] == key_t[:-1]) & (key_c[1:] == key_c[:-1])
    starts = np.flatnonzero(np.diff(np.concatenate(([False], same, [False])).astype(np.int8)) == 1)
    ends = np.flatnonzero(np.diff(np.concatenate(([False], same, [False])).astype(np.int8)) == -1)
    perm = perm.copy()
    for lo, hi in zip(starts, ends + 1):  # rows lo..hi-1 of the merged order are equal
        group = perm[lo:hi]
        order = pc.sort_indices(ids.take(pa.array(group))).to_numpy()
        perm[lo:hi] = group[order]
    return perm


class _RunReader:
    """One run's rows of a range of merged user numbers, read in increasing order."""

    def __init__(self, run: ClusteredEvents, to: np.ndarray, codes: np.ndarray, extra: Sequence[str]):
        self.run, self.to, self.codes, self.extra = run, to, codes, list(extra)
        with open(run.folder / CORE, "rb") as fh:
            self._mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self.core = pa.ipc.open_file(pa.py_buffer(self._mapped)).read_all()  # zero-copy views
        self._parquet = self._groups = None  # opened on first read of other columns
        self._cached: tuple[int, list[str], pa.Table] | None = None

    def rows_of(self, u0: int, u1: int) -> RowGroup:
        """This run's rows of merged users u0..u1-1 (uid as merged numbers, codes as merged
        codes)."""
        l0, l1 = np.searchsorted(self.to, [u0, u1])
        lo, hi = int(self.run.starts[l0]), int(self.run.starts[l1])
        part = self.core.slice(lo, hi - lo)
        uid = self.to[_numpy(part.column(0))]
        t = _numpy(part.column(1).cast(pa.int64()))
        codes = self.codes[_codes(part.column(2))]
        return RowGroup(lo, uid, t, codes, self._extra(lo, hi) if self.extra else None)

    def _read(self, columns: list[str], lo: int, hi: int) -> pa.Table:
        """Columns of rows lo..hi-1 from the Parquet copy (row groups read once in turn)."""
        if self._parquet is None:
            self._parquet = pq.ParquetFile(self.run.folder / PARQUET)
            meta = self._parquet.metadata
            self._groups = np.cumsum([0] + [meta.row_group(i).num_rows for i in range(meta.num_row_groups)])
        names = self._parquet.schema_arrow.names
        i0 = int(np.searchsorted(self._groups, lo, "right")) - 1
        i1 = int(np.searchsorted(self._groups, hi, "left"))
        pieces = []
        for i in range(i0, max(i1, i0 + 1)):
            if self._cached is None or self._cached[:2] != (i, columns):
                present = [c for c in columns if c in names]
                self._cached = (i, columns, self._parquet.read_row_group(i, columns=present))
            pieces.append(self._cached[2])
        table = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
        return table.slice(lo - int(self._groups[i0]), hi - lo)

    def _extra(self, lo: int, hi: int) -> pa.Table:
        table = self._read(self.extra, lo, hi)
        for name in self.extra:  # a column this run lacks (added by later ingests): nulls
            if name not in table.column_names:
                table = table.append_column(name, pa.nulls(hi - lo))
        return table.select(self.extra)

    def event_ids(self, part: RowGroup) -> pa.Array:
        """The event ids of rows this reader gave (`part`: row0 is the run's row)."""
        lo = part.row0
        return self._read(["event_id"], lo, lo + len(part.t)).column("event_id").combine_chunks() \
            .cast(pa.string())

    def close(self) -> None:
        self.core = None
        self._mapped.close()


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    chunks = column.chunks
    if len(chunks) == 1:
        return chunks[0].to_numpy()
    return np.concatenate([c.to_numpy() for c in chunks]) if chunks else np.zeros(0)


def _codes(column: pa.ChunkedArray) -> np.ndarray:
    """The dictionary indices of a core `event` column (one dictionary per run)."""
    chunks = column.chunks
    if not chunks:
        return np.zeros(0, np.int32)
    return np.concatenate([c.indices.to_numpy() for c in chunks]) if len(chunks) > 1 else \
        chunks[0].indices.to_numpy()
