"""A workspace as Python users see it: `journeymap.open(dir)`.

A workspace holds the journey file, the event store and settings. Each method
takes one snapshot of the store (its manifest read once) and uses it for both
the cache key and the data, reads the journey file once, and answers with the
same result objects as the functions of `journeymap.api`: from the cache when
neither data, journey nor options changed, else over the store's clustered copy
(DuckDB) or the store's files (other engines).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from journeymap import api, settings
from journeymap._deferred import duckdb, is_ibis_table
from journeymap._version import __version__
from journeymap.api import (
    ActivationResult,
    ActualJourney,
    CustomerJourney,
    DriversResult,
    FunnelResult,
    JourneyMap,
    KpiResult,
    RetentionResult,
    StuckCustomers,
    TransitionsResult,
)
from journeymap.cache import ResultCache, cache_key
from journeymap.spec.load import parse_journey
from journeymap.spec.model import Journey
from journeymap.store.collector import Collector
from journeymap.store.engine import (
    connect,
    engine_errors,
    require_events,
    resolve_identity,
    stitched_sql,
    store_tables,
)
from journeymap.store.eventstore import AppendStats, Snapshot
from journeymap.store.folder import WorkspaceFolder
from journeymap.store.keys import KeyRing
from journeymap.store.runs import Runs, open_runs
from journeymap.store.runs import refresh as refresh_runs
from journeymap.store.schema import property_columns
from journeymap.store.spend import FILE as SPEND_FILE
from journeymap.store.spend import store_spend
from journeymap.store.stored_users import StoredUsers
from journeymap.store.warehouse import parquet_copy, read_table

__all__ = ["Workspace", "find_workspace", "init_workspace", "open_workspace", "read_table",
           "scratch_workspace"]

CLUSTERED = ".clustered"  # the store's events clustered by user and time, as runs (store/runs.py)
CACHE = ".cache"
COLLECTOR = ".collector"  # the live collector's journal and refused rows (store/collector.py)
KEYS = "keys.json"  # write keys, as hashes (store/keys.py)


PLACEHOLDER_JOURNEY = ("name: (no journey)\nstages:\n"
                       "  - {id: any_event, owner: nobody, enter: {event: (none)}}\n")


@dataclass(frozen=True)
class _Read:
    """What one call reads: the journey file's text (parsed once) and one store snapshot."""

    text: str | None
    journey: Journey | None
    snapshot: Snapshot


class Workspace:
    """An open workspace folder.

    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "events.csv").write_text("user_id,event,ts\\nu1,visit,2024-01-01\\n"
    ...                                   "u1,buy,2024-01-02\\nu2,visit,2024-01-01\\n")
    >>> ws = init_workspace(d / "shop", "name: shop\\nstages:\\n"
    ...                     "  - {id: visit, owner: web, enter: {event: visit}}\\n"
    ...                     "  - {id: buy, owner: sales, enter: {event: buy}}\\n")
    >>> ws.ingest(d / "events.csv")
    AppendStats(added=3, duplicates=0)
    >>> ws.measure().stage("visit").rate
    0.5
    >>> ws.funnel(["visit", "buy"]).counts
    [2, 1]
    """

    def __init__(self, path: str | Path = ".", *, engine: str | None = None,
                 master: str | None = None):
        self.folder = WorkspaceFolder.open(Path(path))
        file_settings = self.folder.settings
        self.engine = settings.resolve("engine", engine, file_settings)
        self.master = settings.resolve("spark_master", master, file_settings)
        self.journey_path = self.folder.journey_path  # the journey measured by default
        self.keeps_results = True  # answers written to the result cache (not in a scratch workspace)
        self._con = None
        self._open: dict[str, tuple[str, object]] = {}

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r}, engine={self.engine!r})"

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def journey(self) -> Journey:
        """The workspace's journey file, parsed."""
        return self._read().journey

    # ---- reading ---------------------------------------------------------------------
    def _read(self, journey: str | Path | None = None, *, needs_journey: bool = True) -> _Read:
        """The journey file (the workspace's, or `journey`) read and parsed once, and the
        store's state read once; measures that need no journey read no file."""
        snapshot = self.folder.store.snapshot()
        if not needs_journey:
            return _Read(None, None, snapshot)
        path = Path(journey) if journey is not None else self.journey_path
        text = path.read_text(encoding="utf-8")
        return _Read(text, parse_journey(text, str(path)), snapshot)

    def split_options(self) -> list[str]:
        """What `by` can split on: user traits, then event properties (read on each user's
        stage-1 entry event), by name."""
        events, users = self.tables()
        traits = sorted(c for c in users.columns if c != "user_id") if users is not None else []
        return traits + sorted(c for c in property_columns(events.columns) if c not in traits)

    def _connection(self):
        if self._con is None:
            self._con = connect(self.engine, master=self.master if self.engine == "spark" else None)
        return self._con

    def tables(self, snapshot: Snapshot | None = None):
        """(events, users) Ibis tables over a snapshot of the store (default: now)."""
        snapshot = snapshot or self.folder.store.snapshot()
        return self._opened(("tables", snapshot.fingerprint),
                            lambda: store_tables(snapshot, self._connection()))

    def sources(self, snapshot: Snapshot | None = None, *, users: bool = True):
        """(events, users) for measures: on DuckDB the events come from the store's runs
        clustered by user and time (see `store.runs`), so no measure sorts, and the users
        from the store's users file (see `store.stored_users`); the Ibis connection opens
        only when a measure reads through it. Users None when not asked for."""
        snapshot = snapshot or self.folder.store.snapshot()
        if self.engine != "duckdb":
            events, users_table = self.tables(snapshot)
            return events, users_table if users else None
        require_events(snapshot)
        events = self._opened(("sources", snapshot.fingerprint),
                              lambda: open_runs(self.path / CLUSTERED, self._clustered(snapshot),
                                                self._connection))
        if not users or not snapshot.users_file:
            return events, None
        return events, StoredUsers(snapshot.users_file, lambda: self.tables(snapshot)[1])

    def _clustered(self, snapshot: Snapshot) -> Runs:
        """The store's runs clustered by user and time, brought up to `snapshot`: a run
        for new event files, merged with others as they pile up."""
        return refresh_runs(self.path / CLUSTERED, snapshot, lambda: duckdb.connect(), stitched_sql)

    def _opened(self, key: tuple, open_them: Callable):
        """Tables opened over one state of the store, kept while the store stays in it (a
        long-lived process, such as the dashboard, opens them once per change)."""
        if self._open.get(key[0], (None,))[0] != key[1]:
            self._open[key[0]] = (key[1], open_them())
        return self._open[key[0]][1]

    def _answer(self, kind: str, read: _Read, options: dict, compute: Callable, cache: bool,
                users: bool = True):
        """compute(events, users) over the snapshot, or the cached answer to the same
        question on the same data and journey (users None when `users` is False)."""
        key = cache_key(kind, __version__, self.engine, read.snapshot.fingerprint, read.text,
                        sorted(options.items()))
        store = ResultCache(self.path / CACHE)
        hit = store.get(key) if cache else None
        if hit is not None:
            return hit
        with engine_errors(f"{kind} over the workspace {self.path}", self.engine):
            result = compute(*self.sources(read.snapshot, users=users))
        if self.keeps_results:
            store.put(key, result)
        return result

    # ---- writing ---------------------------------------------------------------------
    def ingest(self, path, *, mapping=None, format=None, skip_bad_rows=None) -> AppendStats:
        """Load a file of events, or an Ibis table (e.g. `store.warehouse.read_table`'s,
        read as a Parquet file would be; `format` is then ignored), into the store (all
        or nothing, in bounded memory); returns counts."""
        if is_ibis_table(path):
            with parquet_copy(path) as copy:
                return self.ingest(copy, mapping=mapping, format="parquet", skip_bad_rows=skip_bad_rows)
        stats = self.folder.store.ingest(path, mapping=mapping, format=format,
                                         skip_bad_rows=skip_bad_rows)
        if stats.added and self.engine == "duckdb":  # the new events clustered now, not at the
            with engine_errors(f"clustering the events of {self.path}", self.engine):  # next read
                self._clustered(self.folder.store.snapshot())
        return stats

    @property
    def keys(self) -> KeyRing:
        """The collector's write keys (created, listed and revoked; kept as hashes)."""
        return KeyRing(self.path / KEYS)

    def collector(self, *, flush_every: float = 1.0, separate_process: bool = False) -> Collector:
        """A collector of Segment messages into this workspace's store (not started:
        `.start()` moves what an earlier run left in its journal and flushes on; with
        `separate_process` the moves run in a worker process, as `serve` does)."""
        return Collector(self.folder.store, self.path / COLLECTOR, flush_every=flush_every,
                         separate_process=separate_process)

    def ingest_users(self, path, *, mapping=None, format=None) -> int:
        """Load a users file (user_id + traits), or an Ibis table of them, into the store:
        one row per user, later non-null values win; returns the rows read."""
        if is_ibis_table(path):
            with parquet_copy(path) as copy:
                return self.ingest_users(copy, mapping=mapping, format="parquet")
        return self.folder.store.ingest_users(path, mapping=mapping, format=format)

    # ---- the measures ----------------------------------------------------------------
    def validate(self, *, journey: str | Path | None = None) -> Journey:
        """The journey (the workspace's, or the file `journey`), checked against the data:
        one SpecError listing every event name, property or trait the data lacks."""
        read = self._read(journey)
        with engine_errors(f"validate against the workspace {self.path}", self.engine):
            events, users = self.tables(read.snapshot)
            return api.validate(read.journey, events, users=users)

    def measure(self, *, journey: str | Path | None = None, persona: str | None = None,
                by: str | None = None, period: str | None = None, cache: bool = True,
                _read: _Read | None = None) -> JourneyMap:
        """The measured map of the workspace's journey (or of the journey file `journey`,
        e.g. a draft), with its leaks and findings."""
        read = _read or self._read(journey)
        options = {"persona": persona, "by": by, "period": period}
        return self._answer("measure", read, options,
                            lambda events, users: api.measure(read.journey, events, users=users, **options),
                            cache)

    def _map(self, read: _Read) -> JourneyMap:
        """The map of all customers on this read (the same cache entry as `measure()`)."""
        return self.measure(journey=None, cache=True, _read=read)

    def customer(self, user_id: str, *, journey: str | Path | None = None, limit: int = 500
                 ) -> CustomerJourney:
        """One customer (a user id, or an anonymous / device id resolved through the
        identities): current stage, since when, stuck or not, their timeline."""
        read = self._read(journey)
        resolved = resolve_identity(read.snapshot, str(user_id))
        measured = self._map(read)
        with engine_errors(f"look up customer {user_id!r} in the workspace {self.path}", self.engine):
            events, users = self.sources(read.snapshot)
            return api.customer(read.journey, events, resolved, users=users, measured=measured,
                                limit=limit, looked_up=str(user_id))

    def stuck(self, stage: str, *, journey: str | Path | None = None, cache: bool = True
              ) -> StuckCustomers:
        """The customers stuck in `stage` now (see `journeymap.api.stuck`)."""
        read = self._read(journey)
        read.journey.stage(stage)
        measured = self._map(read)
        return self._answer("stuck", read, {"stage": stage},
                            lambda events, users: api.stuck(read.journey, events, stage, users=users,
                                                            measured=measured), cache)

    def paths(self, *, journey: str | Path | None = None, cache: bool = True, **options) -> ActualJourney:
        """The actual journey (see `journeymap.paths`) over the workspace's data, against
        the workspace's journey or the journey file `journey`."""
        read = self._read(journey)
        return self._answer("paths", read, options,
                            lambda events, users: api.paths(read.journey, events, users=users, **options),
                            cache)

    def funnel(self, steps, *, cache: bool = True, **options) -> FunnelResult:
        """A funnel (see `journeymap.funnel`) over the workspace's events."""
        read = self._read(needs_journey=False)
        steps = list(steps)
        return self._answer("funnel", read, {"steps": steps, **options},
                            lambda events, _: api.funnel(events, steps, **options), cache,
                            users=False)

    def kpis(self, *, journey: str | Path | None = None, spend: str | Path | None = None,
             cache: bool = True, **options) -> KpiResult:
        """The journey KPIs (see `journeymap.api.kpis`) over the workspace's data; the spend
        table is `spend` or the journey's `spend` file (relative to the journey file), or
        the workspace's `spend.parquet` (`journeymap ingest --spend`)."""
        read = self._read(journey)
        path = Path(spend) if spend is not None else self._spend_file(read.journey)
        stamp = None if path is None or not path.exists() else [str(path), path.stat().st_mtime_ns,
                                                                 path.stat().st_size]
        measured = self._map(read) if journey is None else None
        return self._answer("kpis", read, {"spend": stamp, **options},
                            lambda events, users: api.kpis(read.journey, events, users=users, spend=path,
                                                           measured=measured, **options), cache)

    def _spend_file(self, journey: Journey) -> Path | None:
        if journey.spend is not None:
            p = Path(journey.spend)
            return p if p.is_absolute() else Path(journey.file or self.journey_path).parent / p
        default = self.path / SPEND_FILE
        return default if default.exists() else None

    def ingest_spend(self, path, *, format=None):
        """Merge a spend file (date, channel, campaign, cost, impressions, clicks) into the
        workspace's spend table; returns the `Spend` read (its problems listed)."""
        return store_spend(self.path, path, format=format)

    def drivers(self, from_stage: str, to_stage: str | None = None, *, journey: str | Path | None = None,
                cache: bool = True, **options) -> DriversResult:
        """Drivers and blockers of a transition (see `journeymap.drivers`)."""
        read = self._read(journey)
        options = {"horizon": f"{read.journey.drivers.horizon / 86400:g}d", **options}
        opts = {**options, "horizon": list(options["horizon"]) if isinstance(options["horizon"], (list, tuple))
                else options["horizon"]}
        return self._answer("drivers", read, {"from": from_stage, "to": to_stage, **opts},
                            lambda events, users: api.drivers(read.journey, events, from_stage=from_stage,
                                                              to_stage=to_stage, users=users, **options), cache)

    def correlation(self, steps, *, cache: bool = True, **options):
        """PostHog's funnel correlation (see `journeymap.correlation`) over the workspace's
        events (identities stitched; traits from the workspace's users)."""
        read = self._read(needs_journey=False)
        steps = list(steps)
        return self._answer("correlation", read, {"steps": steps, **options},
                            lambda events, users: api.correlation(events, steps, users=users, **options), cache)

    def activation(self, from_stage: str, to_stage: str, *, journey: str | Path | None = None,
                   cache: bool = True, horizon: str | None = None) -> ActivationResult:
        """Each persona's activation moment (see `journeymap.api.activation`)."""
        read = self._read(journey)
        horizon = horizon or f"{read.journey.drivers.horizon / 86400:g}d"
        return self._answer("activation", read, {"from": from_stage, "to": to_stage, "horizon": horizon},
                            lambda events, users: api.activation(read.journey, events, from_stage=from_stage,
                                                                 to_stage=to_stage, users=users,
                                                                 horizon=horizon), cache)

    def retention(self, start, returning=None, *, cache: bool = True, **options) -> RetentionResult:
        """Retention cohorts (see `journeymap.retention`) over the workspace's events,
        identities stitched."""
        read = self._read(needs_journey=False)
        return self._answer("retention", read, {"start": start, "returning": returning, **options},
                            lambda events, _: api.retention(events, start, returning, **options), cache,
                            users=False)

    def transitions(self, *, cache: bool = True, **options) -> TransitionsResult:
        """Directly-follows transitions (see `journeymap.transitions`) over the workspace's
        events; `level="stage"` against the workspace's journey."""
        read = self._read(needs_journey=options.get("level") == "stage")
        journey = read.journey
        return self._answer("transitions", read, options,
                            lambda events, _: api.transitions(events, journey=journey, **options), cache,
                            users=False)


def open_workspace(path: str | Path = ".", *, engine: str | None = None,
                   master: str | None = None) -> Workspace:
    """Open a workspace folder made by `journeymap init` or `journeymap demo`;
    `engine="spark"` (and a Spark `master`) runs the same measures on Spark. See
    `Workspace` for an example."""
    return Workspace(path, engine=engine, master=master)


def find_workspace(start: str | Path | None = None) -> Path:
    """The workspace folder containing `start` (default: the current folder)."""
    return WorkspaceFolder.find(start).path


def init_workspace(path: str | Path, journey_text: str, *, engine: str | None = None,
                   master: str | None = None) -> Workspace:
    """Create a workspace (journey file, empty store, settings) in a new or empty folder;
    an existing workspace is opened as it is."""
    return Workspace(WorkspaceFolder.init(Path(path), journey_text).path, engine=engine, master=master)


@contextmanager
def scratch_workspace(journey=None, events: Sequence = (), *, users: Sequence = (), mapping=None,
                      format=None, engine: str | None = None, master: str | None = None
                      ) -> Iterator[Workspace]:
    """A workspace in a temporary folder holding these event (and users) files or Ibis
    tables, ingested exactly as `journeymap ingest` would (de-duplicated, identities
    stitched), removed afterwards: files measured without a workspace give a workspace's
    numbers. Without a journey (a funnel needs none) the workspace holds a placeholder
    journey file."""
    text = PLACEHOLDER_JOURNEY if journey is None else journey if isinstance(journey, str) and \
        "\n" in journey else Path(journey).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="journeymap-") as tmp:
        ws = init_workspace(Path(tmp) / "workspace", text, engine=engine, master=master)
        ws.keeps_results = False  # removed afterwards: no cache to write
        if journey is not None and not (isinstance(journey, str) and "\n" in journey):
            ws.journey_path = Path(journey)  # errors name the user's file, not the copy
        for f in events:
            ws.ingest(f, mapping=mapping, format=format)
        for f in users:
            ws.ingest_users(f)
        yield ws
