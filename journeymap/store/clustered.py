"""The store's events kept in (user, time) order, so per-user measures skip the sort.

Every per-user measure walks each user's events in (user_id, ts, event,
event_id) order. Sorting 10M rows costs far more than the walk itself, so the
workspace keeps its (identity-stitched) events already in that order, as one or
more such copies of parts of the store (runs, see `store.runs`). A copy is a folder:

- `part-0.parquet`: every column, in (user, time) order; properties are read from here.
- `core.arrow`: Arrow IPC, uncompressed, the same rows and row groups: a dense
  user number `_uid` int32 (0.. in user_id order), `ts` timestamp[us, UTC],
  `event` as int32 codes into one dictionary. A funnel or a transition count
  needs nothing else, and reads it without decoding.
- `users.arrow`: per `_uid`, the `user_id` and the row where the user starts.

It is written like the store: temporary folder, fsync, rename; a crash leaves
the previous copy or none, never half of one.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from journeymap._deferred import ibis, ir
from journeymap.errors import EngineError
from journeymap.store._durable import fsync
from journeymap.store._read_ahead import read_ahead
from journeymap.store._strings import changes, kept_changes
from journeymap.store.frames import booleans, from_numbers, from_strings, numbers, string_buffers
from journeymap.store.schema import USER_ORDER

ROW_GROUP = 1 << 20
MEMORY_LIMIT = "2GB"  # DuckDB's cap while sorting; beyond it the sort spills to disk
STAMP = "clustered.json"
PARQUET, CORE, USERS = "part-0.parquet", "core.arrow", "users.arrow"
CORE_SCHEMA = pa.schema([("_uid", pa.int32()), ("ts", pa.timestamp("us", tz="UTC")),
                         ("event", pa.dictionary(pa.int32(), pa.string()))])


@dataclass(frozen=True)
class RowGroup:
    """One row group of the clustered copy: rows from `row0`, as numpy arrays."""

    row0: int
    uid: np.ndarray  # int32 user number per row
    t: np.ndarray  # int64 µs
    codes: np.ndarray  # int32 index into ClusteredEvents.vocab
    extra: pa.Table | None  # other columns asked for, read from the Parquet copy

    def slice(self, lo: int, hi: int) -> RowGroup:
        """Rows lo..hi-1 of the chunk."""
        more = self.extra.slice(lo, hi - lo) if self.extra is not None else None
        return RowGroup(self.row0 + lo, self.uid[lo:hi], self.t[lo:hi], self.codes[lo:hi], more)

    @staticmethod
    def concat(chunks: Sequence[RowGroup]) -> RowGroup:
        """Consecutive chunks as one."""
        if len(chunks) == 1:
            return chunks[0]
        more = pa.concat_tables([c.extra for c in chunks]) if chunks[0].extra is not None else None
        return RowGroup(chunks[0].row0, *(np.concatenate([getattr(c, k) for c in chunks])
                                       for k in ("uid", "t", "codes")), more)


@dataclass(frozen=True)
class ClusteredEvents:
    """A clustered copy of events (see the module doc) and an Ibis view of it."""

    folder: Path
    #: the Ibis connection for `table`, or a function returning it (called on first use);
    #: a new DuckDB connection when None
    con: object = None

    clustered = True  # capability flags of an event source (see store.sources)
    passes_use_engine = False

    @classmethod
    def open(cls, folder: str | Path, con=None) -> ClusteredEvents:
        """The copy in `folder`, as `build_clustered` writes it."""
        folder = Path(folder)
        missing = [n for n in (PARQUET, CORE, USERS) if not (folder / n).is_file()]
        if missing:
            raise EngineError(f"{folder} is not a clustered copy: {missing[0]} is missing")
        if not {"events", "rows", "ts_max"} <= set(_read_stamp(folder)):
            raise EngineError(f"{folder / STAMP} is incomplete or from an older journeymap: "
                              "build the copy again")
        return cls(folder, con)

    @cached_property
    def table(self) -> ir.Table:
        """An Ibis view of the Parquet copy (made on first use: the fast path needs none)."""
        con = self.con() if callable(self.con) else self.con or ibis.duckdb.connect()
        return without_uid(con.read_parquet(str(self.folder / PARQUET)))

    @property
    def files(self) -> tuple[str, ...]:
        return (str(self.folder / PARQUET),)

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """The columns of `table`, from the Parquet copy's schema (no engine)."""
        return columns_of(self.files)

    @cached_property
    def vocab(self) -> tuple[str, ...]:
        """Event names; `RowGroup.codes` index into them."""
        return tuple(self._stamp["events"])

    @cached_property
    def _users(self) -> pa.Table:
        return pa.ipc.open_file(pa.memory_map(str(self.folder / USERS))).read_all()  # zero-copy

    @cached_property
    def user_ids(self) -> pa.Array:
        """user_id per `_uid`."""
        return self._users.column("user_id").combine_chunks()

    @cached_property
    def starts(self) -> np.ndarray:
        """Row where each user starts, plus the number of rows (int64, n_users + 1)."""
        return np.append(numbers(self._users.column("start").combine_chunks()), np.int64(self.n_rows))

    @cached_property
    def _stamp(self) -> dict:
        return _read_stamp(self.folder)

    @property
    def n_rows(self) -> int:
        return int(self._stamp["rows"])

    def data_end_us(self) -> int:
        """The last event's time, µs (0 when empty)."""
        return int(self._stamp["ts_max"])

    @property
    def user_count(self) -> int:
        """How many users the copy holds."""
        return len(self.user_ids)

    def row_groups(self, extra: Sequence[str] = ()) -> Iterator[RowGroup]:
        """The rows in order, a row group at a time; `extra` columns from the Parquet copy.

        `core.arrow` is memory-mapped: the arrays are views of the file, not copies. Once
        the caller asks for the next row group, the pages of the earlier ones are handed
        back (MADV_DONTNEED on a read-only file mapping: a later touch reads them again
        from the page cache), so resident memory stays about one row group.
        """
        parquet = pq.ParquetFile(self.folder / PARQUET) if extra else None
        with open(self.folder / CORE, "rb") as fh:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        whole = pa.py_buffer(mapped)
        core = pa.ipc.open_file(whole)
        row0 = released = 0
        n = core.num_record_batches
        # the next row group's extra columns are read while the caller works on this one
        extras = read_ahead([lambda i=i: parquet.read_row_group(i, columns=list(extra))
                             for i in range(n)]) if parquet else None
        try:
            for i, more in zip(range(n), extras or [None] * n):
                rb = core.get_batch(i)
                yield RowGroup(row0, numbers(rb.column(0)), numbers(rb.column(1)),
                               numbers(rb.column(2).indices), more)
                row0 += rb.num_rows
                end = max(b.address + b.size for c in rb.columns for b in c.buffers() if b) \
                    - whole.address
                upto = end // mmap.PAGESIZE * mmap.PAGESIZE
                if hasattr(mapped, "madvise") and upto > released:
                    mapped.madvise(mmap.MADV_DONTNEED, released, upto - released)
                    released = upto
        finally:  # also when the caller stops early: the read in flight is waited for
            if extras is not None:
                extras.close()


def columns_of(files: Sequence[str]) -> tuple[str, ...]:
    """The columns of Parquet copies read by name as one table (`table`), without `_uid`."""
    names = dict.fromkeys(n for f in files for n in pq.read_schema(f).names)
    return tuple(n for n in names if n != "_uid")


def without_uid(table: ir.Table) -> ir.Table:
    """The table without `_uid`, which copies written before 2026-12-06 kept in their Parquet."""
    return table.drop("_uid") if "_uid" in table.columns else table


def _sorted_parquet(con, events, path: Path, spill: Path) -> None:
    """DuckDB writes `events` (an Ibis table, or DuckDB SQL with `con` a DuckDB
    connection) in (user, time) order; sorts beyond MEMORY_LIMIT spill."""
    if isinstance(events, str):
        inner, run = events, con.execute
    else:
        cols = [c for c in events.columns if c != "_uid"]
        inner, run = ibis.to_sql(events.select(*cols), dialect="duckdb"), con.raw_sql
    spill.mkdir(exist_ok=True)
    run(f"SET temp_directory = '{spill.as_posix()}'")
    run(f"SET memory_limit = '{MEMORY_LIMIT}'")
    run(f"COPY (SELECT * FROM ({inner}) ORDER BY {', '.join(USER_ORDER)}) "
        f"TO '{path.as_posix()}' (FORMAT parquet, ROW_GROUP_SIZE {ROW_GROUP})")


#: `new_users`' "no row before": the first id begins a user
NO_ID = object()


def new_users(user: pa.Array, before=NO_ID) -> np.ndarray:
    """Per row of ids in sorted order: it begins a user (missing ids, sorted together,
    are one nameless user); `before` is the id of the row before the first (`NO_ID`:
    none)."""
    n = len(user)
    if n and not user.null_count:  # no missing ids: a compiled pass over the bytes
        new = changes(*string_buffers(user))
        new[0] = before is NO_ID or user[0].as_py() != before
        return new
    new = np.zeros(n, np.bool_)
    if n:
        a, b = user.slice(1), user.slice(0, n - 1)
        same = pc.or_(pc.equal(a, b).fill_null(False), pc.and_(pc.is_null(a), pc.is_null(b)))
        new[1:] = booleans(pc.invert(same))
        new[0] = before is NO_ID or user[0].as_py() != before
    return new


def new_users_at(user: pa.Array, rows: np.ndarray) -> np.ndarray | None:
    """`new_users` of the ids at `rows` (increasing row numbers; ids present), read in
    place: None when an id is below the one before it (not in order)."""
    return kept_changes(*string_buffers(user), rows)


def _core_and_users(parquet: Path, folder: Path) -> dict:
    """Write core.arrow and users.arrow from the sorted Parquet; returns the stamp facts."""
    pf = pq.ParquetFile(parquet, read_dictionary=["event"])
    names: set[str] = set()
    for i in range(pf.num_row_groups):
        names.update(pf.read_row_group(i, columns=["event"]).column(0).chunk(0).dictionary
                     .to_pylist() if pf.metadata.row_group(i).num_rows else [])
    vocab = sorted(names)
    index = {name: k for k, name in enumerate(vocab)}
    dictionary = from_strings(vocab)
    ids, starts, row0, ts_max, n_users, last = [], [], 0, 0, 0, NO_ID
    groups = read_ahead([lambda i=i: pf.read_row_group(i, columns=["ts", "event", "user_id"])
                         for i in range(pf.num_row_groups)])  # the next decoded while this one is written
    with closing(groups), pa.OSFile(str(folder / CORE), "wb") as sink, \
            pa.ipc.new_file(sink, CORE_SCHEMA) as out:
        for rg in groups:
            ev = rg.column("event").combine_chunks()
            lut = np.array([index[v] for v in ev.dictionary.to_pylist()], np.int32)
            codes = lut[numbers(ev.indices)] if len(lut) else np.zeros(0, np.int32)
            user = rg.column("user_id").combine_chunks()
            new = new_users(user, last)
            uid = np.cumsum(new, dtype=np.int64) + (n_users - 1)  # the user's rank by id
            ts = rg.column("ts").combine_chunks().cast(CORE_SCHEMA[1].type)
            ts_max = max(ts_max, int(numbers(ts).max(initial=0)))
            out.write_batch(pa.record_batch(
                [from_numbers(uid.astype(np.int32)), ts,
                 pa.DictionaryArray.from_arrays(from_numbers(codes), dictionary)], schema=CORE_SCHEMA))
            at = np.flatnonzero(new)
            starts.append(at + row0)
            ids.append(user.take(from_numbers(at)))
            n_users += len(at)
            last = user[len(user) - 1].as_py() if len(user) else last
            row0 += rg.num_rows
    users = pa.table({"user_id": pa.concat_arrays(ids) if ids else from_strings([]),
                      "start": from_numbers(np.concatenate(starts) if starts else np.zeros(0, np.int64))})
    with pa.OSFile(str(folder / USERS), "wb") as sink, pa.ipc.new_file(sink, users.schema) as out:
        out.write_table(users)
    return {"events": vocab, "rows": row0, "ts_max": ts_max}


def build_clustered(con, events, target: Path, fingerprint: str = "") -> None:
    """Write the clustered copy of `events` into `target` (replacing it whole): an Ibis
    table on the DuckDB connection `con`, or DuckDB SQL (with `con` a plain DuckDB
    connection, e.g. `engine.stitched_sql`'s)."""
    target = Path(target)
    tmp = target.with_name(target.name + ".tmp")
    spill = target.with_name(target.name + ".spill")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _sorted_parquet(con, events, tmp / PARQUET, spill)
    shutil.rmtree(spill, ignore_errors=True)
    facts = _core_and_users(tmp / PARQUET, tmp)
    (tmp / STAMP).write_text(json.dumps({"fingerprint": fingerprint, **facts}))
    for name in (PARQUET, CORE, USERS, STAMP):
        fsync(tmp / name)
    fsync(tmp)
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    fsync(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def _read_stamp(folder: Path) -> dict:
    try:
        return json.loads((folder / STAMP).read_text())
    except (OSError, ValueError):
        return {}
