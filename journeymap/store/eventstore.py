"""An append-only, date-partitioned Parquet event store committed through a manifest.

Layout under `root`::

    events/date=YYYY-MM-DD/part-<uuid>.parquet   rows in input order (measures sort elsewhere)
    users-<uuid>.parquet                          user_id + traits (one current file)
    identities-<uuid>.parquet                     anonymous_id -> user_id (one current file)
    manifest.json                                 the committed files, columns and a version

Users and identities are rewritten on change, so they get a fresh name each time:
a fixed name could not be swapped together with the manifest. New files are
written under a temporary name, fsynced and renamed; then the manifest is
written to a temporary file, fsynced and `os.replace`d — that replace is the
commit. Readers use only files listed in the manifest (`event_files()`), so a
crash leaves the old state; files not listed are swept at the next append.

De-duplication is by event_id, first kept, against everything stored: within one
append (which may arrive in chunks, see `ingest`) every id is checked against all
earlier ids through 64-bit keys, and against the store through its id index
(``ids/keys-*.npy``, see `_idindex`): sorted keys, each pointing at the file that
holds the id, confirmed on the ids themselves. A Segment messageId re-sent with
another timestamp, on another day, is still caught.

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
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from journeymap.errors import IngestError
from journeymap.store import _normalize as norm
from journeymap.store._durable import exclusive, fsync
from journeymap.store._idindex import IdIndex
from journeymap.store._idset import IdSet, hash_ids
from journeymap.store._tabular import lit, q
from journeymap.store.frames import numbers
from journeymap.store.readers import EventFile, checked_chunks, read_users
from journeymap.store.timestamps import connect

__all__ = ["AppendStats", "EventStore", "Snapshot"]

MANIFEST = "manifest.json"
#: near-unique columns: dictionary encoding only costs time and space there
_NO_DICTIONARY = {"event_id", "user_id", "anonymous_id", "session_id", "ts"}
_DAY_US = norm.DAY_US


@dataclass(frozen=True)
class AppendStats:
    """What an append did: events added and events skipped as already known."""

    added: int
    duplicates: int


@dataclass(frozen=True)
class Snapshot:
    """One committed state of the store: its files, columns and fingerprint."""

    root: Path
    manifest: dict

    @property
    def version(self) -> int:
        return int(self.manifest["version"])

    @property
    def is_empty(self) -> bool:
        return not self.manifest["events"]

    @property
    def event_files(self) -> list[str]:
        return [str(self.root / p) for p in self.manifest["events"]]

    @property
    def users_file(self) -> str | None:
        name = self.manifest["users"]
        return str(self.root / name) if name else None

    @property
    def identities_file(self) -> str | None:
        name = self.manifest["identities"]
        return str(self.root / name) if name else None

    @property
    def columns(self) -> dict[str, str]:
        return dict(self.manifest["columns"])

    def scan_sql(self) -> str:
        """A DuckDB table expression over the snapshot's events."""
        return _scan(self.event_files)

    @property
    def fingerprint(self) -> str:
        """A short hash that changes whenever the committed content changes."""
        m = self.manifest
        key = json.dumps([m["events"], m["users"], m["identities"]], sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:16]


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
                    "columns": {}, "rows": 0, "ids": []}
        except ValueError as exc:
            raise IngestError(f"the store manifest is unreadable: {exc}",
                              file=str(self.root / MANIFEST)) from None

    def snapshot(self) -> Snapshot:
        """The committed state now, read once: a reader that keeps to it sees one version
        of the data, whatever commits meanwhile (committed event files are never removed)."""
        return Snapshot(self.root, self.manifest())

    @property
    def version(self) -> int:
        """Commit counter: +1 on every commit."""
        return self.snapshot().version

    @property
    def is_empty(self) -> bool:
        """True while no events are committed."""
        return self.snapshot().is_empty

    def event_files(self) -> list[str]:
        """Absolute paths of the committed event files."""
        return self.snapshot().event_files

    def users_file(self) -> str | None:
        """Absolute path of the committed users file, if any."""
        return self.snapshot().users_file

    def identities_file(self) -> str | None:
        """Absolute path of the committed identities file, if any."""
        return self.snapshot().identities_file

    def columns(self) -> dict[str, str]:
        """Committed event columns and their Arrow type names."""
        return self.snapshot().columns

    def fingerprint(self) -> str:
        """A short hash that changes whenever the committed content changes."""
        return self.snapshot().fingerprint

    def scan_sql(self) -> str:
        """A DuckDB table expression over all committed events."""
        return _scan(self.event_files())

    # ---- writing -------------------------------------------------------------
    def ingest(self, path: str | Path, *, mapping: dict[str, str] | None = None,
               format: str | None = None, skip_bad_rows: str | Path | None = None) -> AppendStats:
        """Load one event file, all or nothing: read, check, de-duplicate and write it chunk by
        chunk (bounded memory), then commit once. Bad rows: see `readers.load_events`.

        >>> import pathlib, tempfile
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "events.csv").write_text("user_id,event,ts\\nu1,signup,2024-01-01\\n")
        >>> EventStore(d / "store").ingest(d / "events.csv")
        AppendStats(added=1, duplicates=0)
        >>> EventStore(d / "store").ingest(d / "events.csv")
        AppendStats(added=0, duplicates=1)
        """
        with EventFile(path, mapping=mapping, format=format) as f:
            return self.append(checked_chunks(f, skip_bad_rows), users=f.users, identities=f.identities)

    def ingest_users(self, path: str | Path, *, mapping: dict[str, str] | None = None,
                     format: str | None = None) -> int:
        """Load a users file (user_id + traits) and upsert it: one row per user id, a
        later non-null value wins over an earlier one (later rows of the file, later
        ingests). Returns the rows read. Committed as a new version, like events."""
        users = read_users(path, mapping=mapping, format=format)
        self.append([], users=users)
        return users.num_rows

    def append(self, events: pa.Table | Iterable[pa.Table], users: pa.Table | None = None,
               identities: pa.Table | None = None) -> AppendStats:
        """Add new events (de-duplicated by event_id), upsert users, add identities.

        `events` is a table or an iterable of tables (chunks of one batch): chunks are
        written as they come and committed together; if anything fails, nothing is.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with exclusive(self.root / ".lock"):
            m = self.manifest()
            self._sweep(m)
            batch = _Batch(self, m)
            try:
                for chunk in [events] if isinstance(events, pa.Table) else events:
                    batch.add(chunk)
                self._finish(m, batch, users, identities)
            except BaseException:
                batch.discard()
                raise
        return AppendStats(batch.added, batch.rows - batch.added)

    def _finish(self, m: dict, batch: _Batch, users: pa.Table | None, identities: pa.Table | None) -> None:
        """Write users and identities, then commit the batch's files if anything changed."""
        users = norm.users(users) if users is not None and users.num_rows else None
        if users is not None and m["users"]:
            users, _ = norm.unify(users, norm.type_names(pq.read_schema(self.root / m["users"])),
                                  "user trait")
        new = {"events": m["events"] + batch.files,
               "users": self._write_users(users, m["users"]),
               "identities": self._write_identities(identities, m["identities"])}
        batch.files += [f for k in ("users", "identities") if new[k] != m[k] for f in [new[k]]]
        if any(new[k] != m[k] for k in new):
            new["ids"] = batch.indexed()
            self._commit({**m, **new, "version": m["version"] + 1, "rows": m["rows"] + batch.added,
                          "columns": batch.columns})
            for rel in set(IdIndex.of(self.root, m).files) - {e["keys"] for e in new["ids"]}:
                (self.root / rel).unlink(missing_ok=True)  # merged away; only writers read them

    def _sweep(self, m: dict) -> None:
        """Delete files a crashed or superseded append left behind."""
        keep = {self.root / p for p in [*m["events"], m["users"], m["identities"],
                                        *IdIndex.of(self.root, m).files] if p}
        candidates = [*self.root.glob("events/date=*/part-*.parquet"), *self.root.glob("events/*/.*.tmp"),
                      *self.root.glob("users-*.parquet"), *self.root.glob("identities-*.parquet"),
                      *self.root.glob(".*.tmp"), *self.root.glob("ids/keys-*.npy"), *self.root.glob("ids/.*.tmp")]
        for path in candidates:
            if path not in keep:
                path.unlink(missing_ok=True)
        self._prune()

    def _prune(self) -> None:
        """Remove empty partition folders."""
        for part in self.root.glob("events/date=*"):
            with contextlib.suppress(OSError):
                part.rmdir()  # only succeeds when empty

    def _write_events(self, events: pa.Table) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Write one file per UTC date present, rows in input order; returns the files and,
        for each row, the index of its file among them and its row there."""
        if not events.num_rows:
            return [], np.empty(0, np.uint32), np.empty(0, np.uint32)
        days = _days(events)
        order = None
        if (days[1:] < days[:-1]).any():
            order = np.argsort(days, kind="stable")
            events, days = events.take(order), days[order]
        cuts = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), len(days)]
        jobs = [(events.slice(lo, hi - lo), _part_name(int(days[lo]))) for lo, hi in zip(cuts[:-1], cuts[1:])]
        file_of = np.repeat(np.arange(len(jobs), dtype=np.uint32), np.diff(cuts))
        row_in = (np.arange(len(days)) - np.repeat(cuts[:-1], np.diff(cuts))).astype(np.uint32)
        if order is not None:
            file_of[order], row_in[order] = file_of.copy(), row_in.copy()
        with ThreadPoolExecutor(max_workers=min(len(jobs), 2 * (os.cpu_count() or 1))) as pool:
            return list(pool.map(lambda job: self._write_file(*job), jobs)), file_of, row_in

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
        dictionary = [c for c in table.column_names if c not in _NO_DICTIONARY]
        pq.write_table(table, tmp, compression="zstd", use_dictionary=dictionary)
        fsync(tmp)
        os.rename(tmp, final)
        fsync(final.parent)
        return rel

    def _commit(self, manifest: dict) -> None:
        """Atomically replace the manifest: the commit point."""
        tmp = self.root / f".manifest-{uuid.uuid4().hex}.json.tmp"
        with open(tmp, "w") as fh:
            json.dump(manifest, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.root / MANIFEST)
        fsync(self.root)


class _Batch:
    """One append in progress: chunks de-duplicated against each other and the store, then written."""

    def __init__(self, store: EventStore, m: dict):
        self.store, self.m = store, m
        self.columns: dict[str, str] = dict(m["columns"])
        self.files: list[str] = []  # written, not yet committed
        self.ids = IdSet()
        self.index = IdIndex.of(store.root, m)
        self.index.cover(m["events"])
        self.keys: list[np.ndarray] = []
        self.file_of: list[np.ndarray] = []
        self.row_in: list[np.ndarray] = []
        self.rows = self.added = 0

    def add(self, chunk: pa.Table) -> None:
        """De-duplicate and write one chunk."""
        events, columns = norm.unify(norm.events(chunk), self.columns, "event property")
        self.rows += events.num_rows
        events, keys = self._first(events)
        stored = self.index.stored(events.column("event_id"), keys)
        fresh = events.filter(~stored) if stored.any() else events
        if fresh.num_rows:
            self.columns = columns
            self.added += fresh.num_rows
            files, file_of, row_in = self.store._write_events(fresh)
            self.keys.append(keys[~stored])
            self.file_of.append(file_of + np.uint32(len(self.files)))
            self.row_in.append(row_in)
            self.files += files

    def indexed(self) -> list[dict]:
        """The id index with this batch's events added (its key file written)."""
        events = [f for f in self.files if f.startswith("events/")]
        if self.keys:
            self.index.add(np.concatenate(self.keys), np.concatenate(self.file_of),
                           np.concatenate(self.row_in), events)
        return self.index.entries

    def discard(self) -> None:
        """Delete the files written so far (the append failed)."""
        for rel in self.files:
            (self.store.root / rel).unlink(missing_ok=True)
        self.store._prune()

    def _first(self, events: pa.Table) -> tuple[pa.Table, np.ndarray]:
        """`events` without ids seen before in this batch (first kept), and their keys."""
        keys = hash_ids(events.column("event_id"))
        seen = self.ids.add(keys)
        if not seen.any():
            return events, keys
        hit = np.unique(keys[seen])
        cand = np.flatnonzero(np.isin(keys, hit))  # rows whose key was seen: confirm on the ids
        ids = events.column("event_id").take(cand)
        repeat = _not_first(ids)
        earlier = self._written_ids(hit)
        if len(earlier):
            repeat |= pc.is_in(ids, earlier).to_numpy(zero_copy_only=False)
        keep = np.ones(events.num_rows, np.bool_)
        keep[cand[repeat]] = False
        return events.filter(keep), keys[keep]

    def _written_ids(self, keys: np.ndarray) -> pa.Array:
        """Ids with one of `keys` in the files this batch has written."""
        found = []
        for rel in self.files:
            ids = pq.read_table(self.store.root / rel, columns=["event_id"]).column(0).combine_chunks()
            found.append(ids.filter(np.isin(hash_ids(ids), keys)))
        return pa.concat_arrays(found) if found else pa.array([], pa.string())


def _not_first(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """True where an id appeared earlier in `ids`."""
    codes = pc.dictionary_encode(ids).combine_chunks().indices.to_numpy()
    repeat = np.ones(len(codes), np.bool_)
    repeat[np.unique(codes, return_index=True)[1]] = False
    return repeat


def _days(events: pa.Table) -> np.ndarray:
    """UTC day number of each event."""
    return np.floor_divide(numbers(events.column("ts").combine_chunks()), _DAY_US)


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
