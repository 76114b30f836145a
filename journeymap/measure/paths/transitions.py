"""Directly-follows transitions: what customers actually do next.

Each user's events (or stages) in deterministic order; every consecutive pair
is a transition, a user's first event comes from `$start` and their last goes
to `$end`. Per pair: occurrences, distinct users, share of the source's
outgoing transitions, median and p90 seconds on the edge.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from journeymap.errors import QueryError
from journeymap.measure._feed.batches import flagged_rows, iter_batches
from journeymap.measure._feed.executors import in_executors
from journeymap.measure._feed.parallel import over_ranges, user_ranges
from journeymap.measure._feed.traces import (
    Stream,
    coded_parts,
    event_stream,
    fold_rare,
    only_events,
    select_users,
    stage_stream,
    user_pieces,
)
from journeymap.measure.kernels import transitions as kernels
from journeymap.measure.kernels.buckets import median_p90_of_groups
from journeymap.measure.map.entries import entries_of
from journeymap.measure.map.stage_batch import StageRules
from journeymap.measure.paths.edges import END, START, Edge, busiest_first, check_width, edge_rows
from journeymap.measure.paths.executors import Names, on_executors
from journeymap.results import Result
from journeymap.spec.model import ActivityRule, Journey
from journeymap.store.sources import as_source

LEVELS = ("event", "stage")


@dataclass(frozen=True)
class TransitionsResult(Result):
    """Edges of the actual journey, busiest first."""

    level: str
    edges: list[Edge]
    users: int
    title = "transitions"

    def rows(self) -> list[dict]:
        return self.edges

    def to_dict(self) -> dict:
        return {"level": self.level, "users": self.users, "edges": self.edges,
                "starts": self.starts, "ends": self.ends}

    @property
    def starts(self) -> dict[str, int]:
        return {e["to"]: e["count"] for e in self.edges if e["from"] == START}

    @property
    def ends(self) -> dict[str, int]:
        return {e["from"]: e["count"] for e in self.edges if e["to"] == END}

    def graph(self) -> dict:
        """Nodes and weighted edges, for a network drawing."""
        nodes = sorted({e["from"] for e in self.edges} | {e["to"] for e in self.edges})
        return {"nodes": [{"id": n} for n in nodes],
                "edges": [{"source": e["from"], "target": e["to"], "weight": e["count"],
                           "users": e["users"], "median_s": e["median_s"]} for e in self.edges]}


def pair_pass(pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n: int):
    """Per pair id (from * width + to, over `n` names): occurrences, distinct users, and
    the seconds on each occurrence grouped by pair (`secs[starts[p]:starts[p] +
    counts[p]]`, in the pieces' order). `pieces`: (offsets, codes, t) of whole users
    each, in order (a stream's user ranges, or the batches as read, paired where they
    lie); runs of them with about equal rows are counted in parallel."""
    rows = np.concatenate(([0], np.cumsum([int(o[-1] - o[0]) for o, _, _ in pieces]))).astype(np.int64)
    shares = user_ranges(rows)
    size = (n + 2) ** 2

    def count(i0: int, i1: int):
        counts, users, last, base = np.zeros(size, np.int64), np.zeros(size, np.int64), \
            np.full(size, -1, np.int64), 0
        for offsets, codes, _ in pieces[i0:i1]:
            kernels.add_transition_counts(offsets, codes, n, base, counts, users, last)
            base += len(offsets) - 1
        return counts, users

    got = over_ranges(shares, count)
    counts = sum(c for c, _ in got)
    users = sum(u for _, u in got)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    fill, at = {}, starts.copy()
    for (i0, _), (c, _) in zip(shares, got):
        fill[i0] = at.copy()  # this share writes each pair's seconds after the earlier shares'
        at += c
    secs = np.empty(int(counts.sum()), np.float64)
    over_ranges(shares, lambda i0, i1: [kernels.transition_secs(*piece, n, fill[i0], secs)
                                        for piece in pieces[i0:i1]])
    return counts, users, starts, secs


def edge_times(keys, width: int, n: int, counts, starts, secs) -> tuple[np.ndarray, np.ndarray]:
    """Median and p90 seconds of each pair in `keys` (NaN for pairs from $start or to $end,
    which have no duration; names at or past `n`), computed on pair ranges in parallel
    (each pair's seconds reordered where they lie in `secs`)."""
    medians, p90s = np.full(len(keys), np.nan), np.full(len(keys), np.nan)
    timed = np.flatnonzero((keys // width < n) & (keys % width < n))
    if not len(timed):
        return medians, p90s
    at, sizes = starts[keys[timed]], counts[keys[timed]]
    med, p90 = np.empty(len(timed)), np.empty(len(timed))
    over_ranges(user_ranges(np.concatenate(([0], np.cumsum(sizes)))),  # shares of equal work
                lambda a, b: median_p90_of_groups(secs, at[a:b], sizes[a:b], med[a:b], p90[a:b], True))
    medians[timed], p90s[timed] = med, p90
    return medians, p90s


def edge_table(stream: Stream) -> list[Edge]:
    """Every directly-follows pair with counts, users, share and times."""
    return edges_of(stream.vocab, user_pieces(stream.offsets, stream.codes, stream.t))


def edges_of(vocab, pieces) -> list[Edge]:
    """`edge_table` of pieces (see `pair_pass`) coded against `vocab`."""
    names = list(vocab) + [START, END]
    width = check_width(len(vocab))
    counts, users, starts, secs = pair_pass(pieces, len(vocab))
    keys = busiest_first(names, counts)
    medians, p90s = edge_times(keys, width, len(vocab), counts, starts, secs)
    return edge_rows(names, keys, counts, users, medians, p90s)


def level_stream(events, level: str, journey: Journey | None, users, include, exclude,
                 fold_below: float) -> Stream:
    """The coded stream for a level ('event' or 'stage'), filtered and folded."""
    if level not in LEVELS:
        raise QueryError(f"unknown level '{level}': use event or stage")
    if level == "stage" and journey is None:
        raise QueryError("stage-level transitions need a journey")
    source = as_source(events)
    every = event_stream(source, journey=journey, users=users)
    stream = only_events(every, include, exclude)
    if level == "event":
        return fold_rare(stream, fold_below)
    entries = entries_of(journey, [every.as_batch()], every.n_users, source.data_end_us()) \
        if any(isinstance(s.enter, ActivityRule) for s in journey.stages) else None
    return stage_stream(stream, journey, entries)


def transitions(events, *, level: str = "event", journey=None, users: Iterable[str] | None = None,
                include: Iterable[str] | None = None, exclude: Iterable[str] | None = None,
                fold_below: float = 0.0) -> TransitionsResult:
    """Directly-follows transitions between events or stages.

    `users` restricts to those ids; `include`/`exclude` keep or drop event
    names before pairing; `fold_below` folds events rarer than that share of
    all occurrences into "other". On an engine with executors (Spark), event
    and stage transitions are counted there (see `paths.executors`).
    """
    users = None if users is None else list(users)  # read once, used twice
    at_stages = level == "stage" and journey is not None
    if (level == "event" and journey is None) or at_stages:  # what the executors can count
        source = as_source(events)
        if users is not None:
            source = as_source(select_users(source.table, users))
        query = flagged_rows(source, [s.enter for s in journey.stages] if at_stages else [],
                             keep_all=True, extra=("event",))
        if in_executors(query):
            names = Names(None if not include else frozenset(include), frozenset(exclude or ()))
            if at_stages:
                names = stage_names(names, journey)
            return counted_in_executors(query, names, 0.0 if at_stages else fold_below)
        if not at_stages and not include and not exclude and fold_below <= 0:
            # every event as read: the batches paired where they lie, not joined first
            parts, vocab = coded_parts(iter_batches(query, task="sequences"))
            pieces = [p for b, c in parts for p in user_pieces(b.offsets, c, b.t)]
            return TransitionsResult(level, edges_of(vocab, pieces), sum(b.n_users for b, _ in parts))
    stream = level_stream(events, level, journey, users, include, exclude, fold_below)
    return TransitionsResult(level, edge_table(stream), stream.n_users)


def stage_names(names: Names, journey: Journey) -> Names:
    """`names` at stage level: the journey's stages, and its activity stages (with the
    rules that say when they were entered)."""
    activity = tuple(k for k, s in enumerate(journey.stages) if isinstance(s.enter, ActivityRule))
    return replace(names, stages=tuple(s.id for s in journey.stages), activity=activity,
                   rules=StageRules.of(journey) if activity else None)


def counted_in_executors(query, names: Names, fold_below: float) -> TransitionsResult:
    """Event (or, with `names.stages`, stage) transitions counted in the engine's
    executors, the names kept and folded as `only_events` and `fold_rare` keep and fold
    them."""
    if fold_below > 0:
        table = query.source.table
        got = table.group_by("event").agg(n=table.event.count()).to_pyarrow().to_pydict()
        kept = {e: n for e, n in zip(got["event"], got["n"]) if names.of(e) is not None}
        total = sum(kept.values())
        names = replace(names, rare=frozenset(e for e, n in kept.items() if n / total < fold_below))
    return counted_result("stage" if names.stages else "event", *on_executors(query, names))


def counted_result(level: str, vocab, counts, users, medians, p90s) -> TransitionsResult:
    """The result of transitions counted in the executors (see `paths.executors`)."""
    keys = busiest_first(vocab, counts)
    width = len(vocab)
    n_users = int(users.reshape(width, width)[vocab.index(START)].sum())  # each has one first event
    return TransitionsResult(level, edge_rows(vocab, keys, counts, users, medians[keys], p90s[keys]),
                             n_users)
