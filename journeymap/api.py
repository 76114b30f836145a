"""The public Python surface: measure a journey, run a funnel, open a workspace."""

from __future__ import annotations

import os

from journeymap.insight.diagnose import diagnose
from journeymap.measure.paths.actual import ActualJourney, actual_journey
from journeymap.measure.map.measured_map import MapResult, measure_map
from journeymap.spec.load import load_journey
from journeymap.spec.model import Journey
from journeymap.store.frames import as_source, as_table


def as_journey(journey) -> Journey:
    """A Journey from an object, a path to a YAML file, or YAML text."""
    if isinstance(journey, Journey):
        return journey
    if isinstance(journey, (str, os.PathLike)):
        return load_journey(journey)
    raise TypeError(f"expected a Journey, a path or YAML text, not {type(journey).__name__}")


def measure(journey, events, *, users=None, persona: str | None = None, by: str | None = None,
            period: str | None = None) -> MapResult:
    """Measure a journey over events: stages, leaks with owners, findings.

    `journey` is a Journey, a YAML path or YAML text; `events` any table form
    `funnel` accepts; `users` an optional table of traits (user_id + columns).

    >>> import pandas as pd
    >>> ev = pd.DataFrame({"user_id": ["a", "a", "b"], "event": ["visit", "buy", "visit"],
    ...                    "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-01"])})
    >>> yaml = '''
    ... name: shop
    ... stages:
    ...   - {id: visit, owner: marketing, enter: {event: visit}}
    ...   - {id: buy, owner: sales, enter: {event: buy}}
    ... '''
    >>> measure(yaml, ev).stage("visit").rate
    0.5
    """
    j = as_journey(journey)
    table = as_source(events)
    traits = as_table(users) if users is not None else None
    return diagnose(j, measure_map(j, table, traits, persona=persona, by=by, period=period))


def paths(journey, events, *, users=None, persona: str | None = None, stage: str | None = None,
          start: str | None = None, end: str | None = None, depth: int = 6, top: int = 20,
          include=None, exclude=None) -> ActualJourney:
    """The actual journey: transitions, top paths, loops, backtracks, skips, exits and
    conformance to the designed stage order; with `stage`, paths of users who advanced
    from it versus those who dropped."""
    j = as_journey(journey)
    traits = as_table(users) if users is not None else None
    return actual_journey(j, as_source(events), traits, persona=persona, stage=stage, start=start,
                          end=end, depth=depth, top=top, include=include, exclude=exclude)
