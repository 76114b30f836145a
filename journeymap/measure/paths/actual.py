"""The actual journey beside the designed one: one object for paths, loops and exits."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from journeymap._deferred import ir
from journeymap.measure._feed.traces import event_stream, only_events, stage_stream
from journeymap.measure._feed.users import persona_flags, positions, values_for
from journeymap.measure.map.entries import StageEntries, entries_of, stage_at
from journeymap.measure.paths.deviations import ConformanceResult, conformance, exits, repeats, stage_moves
from journeymap.measure.paths.top_paths import PathsResult, count_paths, path_matrix, top_paths
from journeymap.measure.paths.transitions import TransitionsResult, edge_table
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


def stage_at_rows(stream, entries: StageEntries) -> np.ndarray:
    """For every row of the stream: the last stage its user had entered by then (-1)."""
    pos = positions(entries.users, stream.users) if entries.n_users else \
        np.full(stream.n_users, -1, np.int64)
    return stage_at(entries, pos[stream.user_of_row()], stream.t)


def split_paths(stream, entries: StageEntries, k: int, depth: int, top: int) -> dict:
    """From entering stage k (its qualifying event): paths of users who advanced vs dropped."""
    if not entries.n_users:
        return {name: PathsResult([], 0, {"from_stage": k, "depth": depth})
                for name in ("advanced", "dropped")}
    pos = positions(entries.users, stream.users)
    inside = pos >= 0
    entry = np.where(inside, entries.entry_t[np.maximum(pos, 0), k], -1)
    nxt = np.where(inside, entries.entry_t[np.maximum(pos, 0), k + 1], -1) \
        if k + 1 < entries.entry_t.shape[1] else np.full(len(pos), -1)
    user = stream.user_of_row()
    at_or_after = (stream.t >= np.where(entry[user] >= 0, entry[user], np.iinfo(np.int64).max)) \
        & ((stream.stage_bits >> k) & 1).astype(bool)
    begin = np.full(stream.n_users, -1, np.int64)
    rows = np.flatnonzero(at_or_after)
    uniq, idx = np.unique(user[rows], return_index=True)
    begin[uniq] = rows[idx]
    out = {}
    for name, sel in (("advanced", (entry >= 0) & (nxt >= 0)), ("dropped", (entry >= 0) & (nxt < 0))):
        sel &= begin >= 0
        mat = path_matrix(stream, begin[sel], stream.offsets[1:][sel], depth)
        out[name] = count_paths(stream, mat, top, int(sel.sum()), {"from_stage": k,
                                                                      "depth": depth})
    return out


def actual_journey(journey: Journey, events: ir.Table, users: ir.Table | None = None, *,
                   persona: str | None = None, stage: str | None = None, start: str | None = None,
                   end: str | None = None, depth: int = 6, top: int = 20,
                   include=None, exclude=None) -> ActualJourney:
    """Measure the actual journey of all users (or one persona); `include` / `exclude`
    keep or drop event names (e.g. noise like page views) before anything is counted."""
    source = as_source(events)
    events = source.table
    flags = persona_flags(journey, events, users)
    ids = None
    if persona is not None:
        journey.persona(persona)
        ids = flags.filter(flags.column(persona).fill_null(False)).column("user_id").to_pylist()
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
