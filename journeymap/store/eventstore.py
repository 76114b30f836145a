"""An append-only, date-partitioned Parquet event store committed through a manifest.

Layout under `root`::

    events/date=YYYY-MM-DD/part-<uuid>.parquet   rows sorted by (user_id, ts, event, event_id)
    users-<uuid>.parquet                          user_id + traits (one current file)
    identities-<uuid>.parquet                     anonymous_id -> user_id (one current file)
    manifest.json                                 the committed files, columns and a version

Users and identities are rewritten on change, so they get a fresh name each time:
a fixed name could not be swapped together with the manifest. New files are
written under a temporary name, fsynced and renamed; then the manifest is
written to a temporary file, fsynced and `os.replace`d — that replace is the
commit. Readers use only files listed in the manifest (`event_files()`), so a
crash leaves the old state; files not listed are swept at the next append.

De-duplication is by event_id. To keep appends fast on a large store, a batch
is checked against the stored files of the UTC dates it covers (reading only
their event_id column): content-hash ids include the time, so this is exact for
them; a source id (Segment messageId) re-sent with a different date is kept twice.

Read everything with DuckDB: ``SELECT * FROM {store.scan_sql()}`` (union by
name, since appends may add property columns; `hive_partitioning=false`, or
DuckDB adds a `date` column from the folder names).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from journeymap.errors import IngestError
from journeymap.store import _normalize as norm
from journeymap.store._tabular import lit, q
from journeymap.store.timestamps import connect

__all__ = ["AppendStats", "EventStore"]

MANIFEST = "manifest.json"
SORT_KEYS = ("user_id", "ts", "event", "event_id")
_DAY_US = norm.DAY_US


@dataclass(frozen=True)
class AppendStats:
    """What an append did: events added and events skipped as already known."""

    added: int
    duplicates: int


class EventStore:
    """Parquet files behind a manifest; one writer at a time, any number of readers."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"EventStore({str(self.root)!r})"

    # ---- reading -------------------------------------------------------------
    def manifest(self) -> dict:
        """The committed manifest (an empty one before the first append)."""
        try:
            return json.loads((self.root / MANIFEST).read_text())
        except FileNotFoundError:
            return {"format": 1, "version": 0, "events": [], "users": None, "identities": None,
                    "columns": {}, "rows": 0}
        except ValueError as exc:
            raise IngestError(f"the store manifest is unreadable: {exc}",
                              file=str(self.root / MANIFEST)) from None

    @property
    def version(self) -> int:
        """Commit counter: +1 on every commit."""
        return int(self.manifest()["version"])

    @property
    def is_empty(self) -> bool:
        """True while no events are committed."""
        return not self.manifest()["events"]

    def event_files(self) -> list[str]:
        """Absolute paths of the committed event files."""
        return [str(self.root / p) for p in self.manifest()["events"]]

    def users_file(self) -> str | None:
        """Absolute path of the committed users file, if any."""
        name = self.manifest()["users"]
        return str(self.root / name) if name else None

    def identities_file(self) -> str | None:
        """Absolute path of the committed identities file, if any."""
        name = self.manifest()["identities"]
        return str(self.root / name) if name else None

    def columns(self) -> dict[str, str]:
        """Committed event columns and their Arrow type names."""
        return dict(self.manifest()["columns"])

    def fingerprint(self) -> str:
        """A short hash that changes whenever the committed content changes."""
        m = self.manifest()
        key = json.dumps([m["events"], m["users"], m["identities"]], sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def scan_sql(self) -> str:
        """A DuckDB table expression over all committed events."""
        return _scan(self.event_files())

    # ---- writing -------------------------------------------------------------
    def append(self, events: pa.Table, users: pa.Table | None = None,
               identities: pa.Table | None = None) -> AppendStats:
        """Add new events (de-duplicated by event_id), upsert users, add identities."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock():
            m = self.manifest()
            self._sweep(m)
            events, columns = norm.unify(norm.events(events), m["columns"], "event property")
            users = norm.users(users) if users is not None and users.num_rows else None
            if users is not None and m["users"]:
                users, _ = norm.unify(users, norm.type_names(pq.read_schema(self.root / m["users"])),
                                      "user trait")
            fresh = self._fresh(events, m)
            new = {"events": m["events"] + self._write_events(fresh),
                   "users": self._write_users(users, m["users"]),
                   "identities": self._write_identities(identities, m["identities"])}
            if any(new[k] != m[k] for k in new):
                self._commit({**m, **new, "version": m["version"] + 1, "rows": m["rows"] + fresh.num_rows,
                              "columns": columns if fresh.num_rows else m["columns"]})
        return AppendStats(fresh.num_rows, events.num_rows - fresh.num_rows)

    @contextlib.contextmanager
    def _lock(self):
        """Serialize writers with an advisory lock on root/.lock (where supported)."""
        with open(self.root / ".lock", "a+") as fh:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - Windows
                yield
                return
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _sweep(self, m: dict) -> None:
        """Delete files a crashed or superseded append left behind."""
        keep = {self.root / p for p in [*m["events"], m["users"], m["identities"]] if p}
        candidates = [*self.root.glob("events/date=*/part-*.parquet"), *self.root.glob("events/*/.*.tmp"),
                      *self.root.glob("users-*.parquet"), *self.root.glob("identities-*.parquet"),
                      *self.root.glob(".*.tmp")]
        for path in candidates:
            if path not in keep:
                path.unlink(missing_ok=True)
        for part in self.root.glob("events/date=*"):
            with contextlib.suppress(OSError):
                part.rmdir()  # only succeeds when empty

    def _fresh(self, events: pa.Table, m: dict) -> pa.Table:
        """The batch without repeated (first kept) or already stored event ids."""
        if not events.num_rows:
            return events
        con = connect()
        try:
            ids = events.select(["event_id"]).append_column("k", pa.array(np.arange(events.num_rows)))
            con.register("batch", ids)
            if con.sql("SELECT count(*) > count(DISTINCT event_id) FROM batch").fetchone()[0]:
                first = con.sql("SELECT min(k) FROM batch GROUP BY event_id ORDER BY 1").to_arrow_table()
                events = events.take(first.column(0))
                con.unregister("batch")
                con.register("batch", events.select(["event_id"]))
            files = self._same_days(events, m)
            if files:  # semi-join: hashes the batch, streams only event_id of stored files
                known = con.sql(f"SELECT DISTINCT event_id FROM {_scan(files, union=False)} "
                                "WHERE event_id IN (SELECT event_id FROM batch)").to_arrow_table()
                if known.num_rows:
                    events = events.filter(pc.invert(pc.is_in(events.column("event_id"), known.column(0))))
        finally:
            con.close()
        return events

    def _same_days(self, events: pa.Table, m: dict) -> list[str]:
        """Stored event files of the UTC dates present in `events`."""
        ts = pc.cast(events.column("ts"), pa.int64()).to_numpy()
        days = {_day(int(d)) for d in np.unique(np.floor_divide(ts, _DAY_US))}
        return [str(self.root / p) for p in m["events"] if p.split("/")[1][5:] in days]

    def _write_events(self, events: pa.Table) -> list[str]:
        """Write one file per UTC date, rows in (user_id, ts, event, event_id) order."""
        if not events.num_rows:
            return []
        events = events.take(norm.write_order(events))
        days = np.floor_divide(pc.cast(events.column("ts"), pa.int64()).to_numpy(), _DAY_US)
        cuts = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), len(days)]
        jobs = [(events.slice(lo, hi - lo), _part_name(int(days[lo]))) for lo, hi in zip(cuts[:-1], cuts[1:])]
        with ThreadPoolExecutor(max_workers=min(len(jobs), 2 * (os.cpu_count() or 1))) as pool:
            return list(pool.map(lambda job: self._write_file(*job), jobs))

    def _write_users(self, users: pa.Table | None, current: str | None) -> str | None:
        """Upsert users by user_id (new non-null traits win); returns the users file name."""
        if users is None:
            return current
        con = connect()
        try:
            con.register("new", users.append_column("__k", pa.array(np.arange(1, users.num_rows + 1))))
            both = "SELECT * FROM new"
            if current:
                both = f"SELECT *, 0 AS __k FROM {_scan([str(self.root / current)])} UNION ALL BY NAME {both}"
            names = con.sql(f"SELECT * FROM ({both}) LIMIT 0").columns
            picks = [f"arg_max({q(c)}, __k) FILTER (WHERE {q(c)} IS NOT NULL) AS {q(c)}"
                     for c in names if c not in ("user_id", "__k")]
            merged = con.sql(f"SELECT {', '.join(['user_id', *picks])} FROM ({both}) "
                             "GROUP BY user_id ORDER BY user_id").to_arrow_table()
        finally:
            con.close()
        if current and _same(merged, pq.read_table(self.root / current)):
            return current
        return self._write_file(merged, f"users-{uuid.uuid4().hex}.parquet")

    def _write_identities(self, identities: pa.Table | None, current: str | None) -> str | None:
        """Add new (anonymous_id, user_id) links; returns the identities file name."""
        if identities is None or not identities.num_rows:
            return current
        new = norm.identities(identities)
        old = pq.read_table(self.root / current) if current else new.schema.empty_table()
        both = pa.concat_tables([old, new]).group_by(["anonymous_id", "user_id"], use_threads=False)
        merged = both.aggregate([]).sort_by([("anonymous_id", "ascending"), ("user_id", "ascending")])
        if merged.num_rows == old.num_rows:
            return current
        return self._write_file(merged, f"identities-{uuid.uuid4().hex}.parquet")

    def _write_file(self, table: pa.Table, rel: str) -> str:
        """Write `table` at root/rel via a fsynced temporary file and a rename."""
        final = self.root / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp")
        dictionary = [c for c in table.column_names if c != "event_id"]
        pq.write_table(table, tmp, compression="zstd", use_dictionary=dictionary)
        _fsync(tmp)
        os.rename(tmp, final)
        _fsync(final.parent)
        return rel

    def _commit(self, manifest: dict) -> None:
        """Atomically replace the manifest: the commit point."""
        tmp = self.root / f".manifest-{uuid.uuid4().hex}.json.tmp"
        with open(tmp, "w") as fh:
            json.dump(manifest, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.root / MANIFEST)
        _fsync(self.root)


def _day(days_since_epoch: int) -> str:
    """ISO date of a day number."""
    return (dt.date(1970, 1, 1) + dt.timedelta(days=days_since_epoch)).isoformat()


def _part_name(day: int) -> str:
    """A new event file name in the partition of `day`."""
    return f"events/date={_day(day)}/part-{uuid.uuid4().hex}.parquet"


def _scan(files: list[str], union: bool = True) -> str:
    """DuckDB read_parquet over files (no hive `date` column; union by name)."""
    listing = ", ".join(lit(f) for f in files)
    return f"read_parquet([{listing}], union_by_name={str(union).lower()}, hive_partitioning=false)"


def _same(a: pa.Table, b: pa.Table) -> bool:
    """True when two tables hold the same columns and values."""
    return set(a.column_names) == set(b.column_names) and a.equals(b.select(a.column_names))


def _fsync(path: Path) -> None:
    """fsync a file or directory (directories: best effort)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. directories on Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
