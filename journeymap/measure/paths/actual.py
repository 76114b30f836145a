"""The actual journey beside the designed one: one object for paths, loops and exits."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from journeymap._deferred import ir
from journeymap.errors import QueryError, did_you_mean
from journeymap.measure._feed.batches import flagged_rows
from journeymap.measure._feed.executors import in_executors
from journeymap.measure._feed.traces import event_stream, only_events, select_users, stage_stream
from journeymap.measure._feed.users import persona_flags, values_for
from journeymap.measure.map.entries import StageEntries, entries_of
from journeymap.measure.paths.actual_executors import Plan, on_executors
from journeymap.measure.paths.deviations import (
    ConformanceResult,
    conformance,
    exits,
    repeats,
    stage_at_rows,
    stage_moves,
)
from journeymap.measure.paths.executors import Names, finished
from journeymap.measure.paths.top_paths import (
    PathsResult,
    check_paths,
    count_paths,
    split_matrices,
    top_paths,
)
from journeymap.measure.paths.transitions import TransitionsResult, counted_result, edge_table, stage_names
from journeymap.results import Result, flat
from journeymap.spec.model import Journey
from journeymap.store.sources import as_source

EXIT_TOP = 10


@dataclass(frozen=True)
class ActualJourney(Result):
    """What customers do: transitions, top paths, repeats, moves, exits, conformance."""

    journey: str
    users: int
    event_transitions: TransitionsResult
    stage_transitions: TransitionsResult
    paths: PathsResult
    repeats: list[dict]
    stage_moves: list[dict]
    exits: list[dict]
    conformance: ConformanceResult
    at_stage: dict = field(default_factory=dict)
    at_stage_name: str | None = None
    title = "the actual journey"

    def rows(self) -> list[dict]:
        return self.paths.rows()

    def sections(self) -> dict[str, list[dict]]:
        """paths, the event and stage transitions, repeats, stage moves, exits,
        conformance, and (with a stage) the paths of those who advanced and dropped."""
        out = {"paths": self.paths.rows(),
               "event_transitions": [flat(e) for e in self.event_transitions.edges],
               "stage_transitions": [flat(e) for e in self.stage_transitions.edges],
               "repeats": [flat(r) for r in self.repeats], "stage_moves": self.stage_moves,
               "exits": self.exits, "conformance": self.conformance.rows()}
        for name, paths in self.at_stage.items():
            out[f"{name}_paths"] = paths.rows()
        return out

    def to_dict(self) -> dict:
        return {"journey": self.journey, "users": self.users,
                "event_transitions": self.event_transitions.to_dict(),
                "stage_transitions": self.stage_transitions.to_dict(),
                "paths": self.paths.to_dict(), "repeats": self.repeats,
                "stage_moves": self.stage_moves, "exits": self.exits,
                "conformance": self.conformance.to_dict(),
                "at_stage": {k: v.to_dict() for k, v in self.at_stage.items()},
                "sankey": self.paths.sankey(), "graph": self.stage_transitions.graph()}


def split_paths(stream, entries: StageEntries, k: int, depth: int, top: int) -> dict:
    """From entering stage k (its qualifying event): paths of users who advanced vs dropped."""
    return {name: count_paths(stream, mat, top, len(mat), {"from_stage": k, "depth": depth})
            for name, mat in split_matrices(stream, entries, k, depth).items()}


def actual_journey(journey: Journey, events: ir.Table, users: ir.Table | None = None, *,
                   persona: str | None = None, stage: str | None = None, start: str | None = None,
                   end: str | None = None, depth: int = 6, top: int = 20,
                   include=None, exclude=None) -> ActualJourney:
    """Measure the actual journey of all users (or one persona); `include` / `exclude`
    keep or drop event names (e.g. noise like page views) before anything is counted."""
    check_paths(depth, top)
    source = as_source(events)
    events = source.table
    flags = persona_flags(journey, events, users)
    ids = None
    if persona is not None:
        journey.persona(persona)
        ids = flags.filter(flags.column(persona).fill_null(False)).column("user_id").to_pylist()
    query = flagged_rows(source if ids is None else as_source(select_users(events, ids)),
                         [s.enter for s in journey.stages], keep_all=True, extra=("event",))
    if in_executors(query):
        return _in_executors(journey, query, source.data_end_us(), flags if persona is None else None,
                             stage, start, end, depth, top, include, exclude)
    every = event_stream(source, journey=journey, users=ids)  # the stage rules, read once
    data_end = source.data_end_us()
    entries = entries_of(journey, [every.as_batch()], every.n_users, data_end)
    stream = only_events(every, include, exclude)
    stages = stage_stream(stream, journey, entries)
    masks = {p.id: values_for(flags, stages.users, p.id).astype(bool)
             for p in journey.personas} if persona is None else {}
    at_stage = {}
    if stage is not None:
        k = journey.stage_ids.index(journey.stage(stage).id)
        if k + 1 < len(journey.stages):
            at_stage = split_paths(stream, entries, k, depth, top)
    return ActualJourney(
        journey.name, stream.n_users,
        TransitionsResult("event", edge_table(stream), stream.n_users),
        TransitionsResult("stage", edge_table(stages), stages.n_users),
        top_paths(stream, start=start, end=end, depth=depth, top=top),
        repeats(stream), stage_moves(stages, journey),
        exits(stream, journey.inactivity, data_end, stage_at_rows(stream, entries),
              tuple(journey.stage_ids))[:EXIT_TOP],
        conformance(stages, journey, masks), at_stage, stage)


def _in_executors(journey: Journey, query, data_end: int, flags, stage, start, end, depth: int, top: int,
                  include, exclude) -> ActualJourney:
    """The actual journey counted in the engine's executors: one pass of tallies (the
    paths, repeats, moves, exits, conformance and both transition tables), then one for
    the transitions' durations in their wanted buckets."""
    k = journey.stage_ids.index(journey.stage(stage).id) if stage is not None else None
    split = k is not None and k + 1 < len(journey.stages)
    names = Names(None if not include else frozenset(include), frozenset(exclude or ()))
    levels = {"event": replace(names, ties_by_stage=True), "stage": stage_names(names, journey)}
    plan = Plan(journey, None if include is None else tuple(include),
                None if exclude is None else tuple(exclude), start, end, depth, k if split else None,
                data_end,
                flags.select(["user_id", *[p.id for p in journey.personas]]) if flags is not None else None)
    counted = on_executors(query, plan, top)  # the tallies, both transition tables' too
    edges = finished(query, {level: (n, counted.transitions(level)) for level, n in levels.items()})
    for name in (start, end):
        if name is not None and name not in counted.names():
            raise QueryError(f"no event '{name}' in these events" +
                             did_you_mean(name, sorted(counted.names())))
    at_stage = {name: counted.paths(name, top, {"from_stage": k, "depth": depth})
                for name in ("advanced", "dropped")} if split else {}
    return ActualJourney(
        journey.name, counted.total("users"), counted_result("event", *edges["event"]),
        counted_result("stage", *edges["stage"]),
        counted.paths("path", top, {"start": start, "end": end, "depth": depth}),
        counted.repeats(), counted.stage_moves(journey), counted.exits()[:EXIT_TOP],
        counted.conformance([p.id for p in journey.personas] if flags is not None else []),
        at_stage, stage)
