"""A workspace as Python users see it: `journeymap.open(dir)`.

It holds the journey file, the event store and settings; every method reads
the store through the configured engine and returns the same result objects
as the ad-hoc functions.
"""

from __future__ import annotations

from pathlib import Path

from journeymap import __version__, settings
from journeymap.api import as_journey
from journeymap.cache import ResultCache, cache_key
from journeymap.insight.diagnose import diagnose
from journeymap.measure.paths.actual import ActualJourney, actual_journey
from journeymap.measure.funnel.funnel import FunnelResult, funnel
from journeymap.measure.map.measured_map import MapResult, measure_map
from journeymap.spec.model import Journey
from journeymap.spec.validate import validate_journey
from journeymap.store.engine import connect, engine_name, store_tables
from journeymap.store.clustered import ordered_events
from journeymap.store.readers import load_events
from journeymap.store.schema import property_columns
from journeymap.store.folder import Workspace


def data_facts(events, users) -> dict:
    """What validation needs to know about the data: event counts, properties, traits."""
    counts = events.group_by("event").aggregate(n=events.count()).to_pandas()
    return {"event_counts": dict(zip(counts["event"], counts["n"].astype(int))),
            "event_properties": property_columns(events.columns),
            "user_traits": [c for c in users.columns if c != "user_id"] if users is not None else []}


def validate_against(journey: Journey, events, users) -> None:
    """Raise one SpecError listing every mismatch between journey and data."""
    validate_journey(journey, **data_facts(events, users))


ORDERED = ".ordered"  # the store's events in journey order (see store/ordered.py)


class Project:
    """An open workspace."""

    def __init__(self, path: str | Path = ".", *, engine: str | None = None,
                 master: str | None = None):
        self.workspace = Workspace.open(Path(path))
        file_settings = self.workspace.settings
        self.engine = settings.resolve("engine", engine, file_settings)
        self.master = settings.resolve("spark_master", master, file_settings)
        self._con = None

    @property
    def journey(self) -> Journey:
        return as_journey(self.workspace.journey_path)

    def tables(self):
        """(events, users) Ibis tables over the store."""
        if self._con is None:
            self._con = connect(self.engine, master=self.master if self.engine == "spark" else None)
        return store_tables(self.workspace.store, self._con)

    def sources(self):
        """(events, users) for measures: on DuckDB the events come from the store's
        journey-ordered copy (rebuilt when the data change), so no measure sorts again."""
        events, users = self.tables()
        if engine_name(self._con) != "duckdb":
            return events, users
        folder = self.workspace.path / ORDERED
        return ordered_events(self._con, events, folder, self.workspace.store.fingerprint()), users

    def ingest(self, path, *, mapping=None, format=None, skip_bad_rows=None):
        """Load a file of events into the store (all or nothing, in bounded memory);
        returns counts."""
        return self.workspace.store.ingest(path, mapping=mapping, format=format,
                                           skip_bad_rows=skip_bad_rows)

    def validate(self) -> Journey:
        journey = self.journey
        validate_against(journey, *self.tables())
        return journey

    def measure(self, *, journey=None, persona=None, by=None, period=None,
                cache: bool = True) -> MapResult:
        """The measured map of the workspace's journey (or of the journey file `journey`,
        e.g. a draft); answered from the cache when data and journey are unchanged."""
        path = Path(journey) if journey is not None else self.workspace.journey_path
        text = path.read_text()
        key = cache_key("measure", __version__, self.engine,
                        self.workspace.store.fingerprint(), text, persona, by, period)
        store = ResultCache(self.workspace.path / ".cache")
        hit = store.get(key) if cache else None
        if hit is not None:
            return hit
        journey = as_journey(path)
        events, users = self.sources()
        result = diagnose(journey, measure_map(journey, events, users, persona=persona, by=by,
                                               period=period))
        store.put(key, result)
        return result

    def paths(self, *, journey=None, **options) -> ActualJourney:
        """The actual journey (see `journeymap.paths`) over the workspace's data, against
        the workspace's journey or the journey file `journey`."""
        events, users = self.sources()
        return actual_journey(as_journey(journey) if journey is not None else self.journey,
                              events, users, **options)

    def funnel(self, steps, **options) -> FunnelResult:
        events, _ = self.sources()
        return funnel(events, steps, **options)


def open_workspace(path: str | Path = ".", *, engine: str | None = None,
                   master: str | None = None) -> Project:
    """Open a workspace folder made by `journeymap init` or `journeymap demo`;
    `engine="spark"` (and a Spark `master`) runs the same measures on Spark."""
    return Project(path, engine=engine, master=master)
