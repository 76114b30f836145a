"""The store's events kept in journey order, so per-user measures skip the sort.

Every per-user measure walks each user's events in (user_id, ts, event,
event_id) order. Sorting 10M rows costs far more than the walk itself, so the
workspace keeps a copy of its (identity-stitched) events already in that
order, with a dense user number `_uid`, rebuilt whenever the store's
fingerprint changes. It is written like the store: temporary folder, fsync,
rename; a crash leaves the previous copy or none, never half of one.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq

ORDER_SQL = "user_id, ts, event, event_id"
ROW_GROUP = 1 << 20
MEMORY_LIMIT = "2GB"  # DuckDB's cap while sorting; beyond it the sort spills to disk
STAMP = "ordered.json"


@dataclass(frozen=True)
class OrderedEvents:
    """Parquet files of events in journey order, and an Ibis view of them."""

    files: tuple[str, ...]
    table: ir.Table

    @classmethod
    def from_files(cls, files: Sequence[str], con=None) -> OrderedEvents:
        """Trust Parquet files already sorted by (user_id, ts, event, event_id) with a dense
        `_uid` user number (as `ordered_events` writes them, or a pipeline of yours)."""
        from journeymap.errors import EngineError
        missing = [f for f in files if "_uid" not in pq.read_schema(f).names]
        if missing:
            raise EngineError(f"{missing[0]} has no _uid column: it is not in journey order")
        con = con or ibis.duckdb.connect()
        return cls(tuple(files), con.read_parquet(list(files)).drop("_uid"))

    def record_batches(self, columns: Sequence[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
        """The rows in order; `event` and `user_id` as dictionaries (small ints, no strings)."""
        coded = [c for c in ("event", "user_id") if c in columns]
        for f in self.files:
            pf = pq.ParquetFile(f, read_dictionary=coded)
            yield from pf.iter_batches(batch_size=batch_rows, columns=list(columns))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _build(con, events: ir.Table, target: Path) -> None:
    """Write `events` in journey order with `_uid` into a fresh folder, then swap it in."""
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cols = [c for c in events.columns if c != "_uid"]
    inner = ibis.to_sql(events.select(*cols), dialect="duckdb")
    path = (tmp / "part-0.parquet").as_posix()
    spill = target.with_name(target.name + ".spill")
    spill.mkdir(exist_ok=True)  # the sort spills here instead of holding 100M rows in RAM
    con.raw_sql(f"SET temp_directory = '{spill.as_posix()}'")
    con.raw_sql(f"SET memory_limit = '{MEMORY_LIMIT}'")
    con.raw_sql(
        f"COPY (SELECT *, (dense_rank() OVER (ORDER BY user_id) - 1)::BIGINT AS _uid "
        f"FROM ({inner}) ORDER BY {ORDER_SQL}) TO '{path}' "
        f"(FORMAT parquet, ROW_GROUP_SIZE {ROW_GROUP})")
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
    _fsync_dir(tmp)
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    _fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(spill, ignore_errors=True)


def ordered_events(con, events: ir.Table, folder: Path, fingerprint: str) -> OrderedEvents:
    """The journey-ordered copy of `events` in `folder`, (re)built if `fingerprint` changed."""
    folder = Path(folder)
    stamp = folder / STAMP
    current = json.loads(stamp.read_text()).get("fingerprint") if stamp.exists() else None
    if current != fingerprint or not list(folder.glob("part-*.parquet")):
        _build(con, events, folder)
        (folder / STAMP).write_text(json.dumps({"fingerprint": fingerprint}))
    files = tuple(sorted(str(p) for p in folder.glob("part-*.parquet")))
    return OrderedEvents(files, con.read_parquet(list(files)).drop("_uid"))
