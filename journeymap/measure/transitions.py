"""Directly-follows transitions: what customers actually do next.

Each user's events (or stages) in deterministic order; every consecutive pair
is a transition, a user's first event comes from `$start` and their last goes
to `$end`. Per pair: occurrences, distinct users, share of the source's
outgoing transitions, median and p90 seconds on the edge.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from journeymap.errors import QueryError
from journeymap.measure import kernels
from journeymap.measure.streams import Stream, event_stream, fold_rare, stage_stream
from journeymap.results import Result
from journeymap.spec.model import Journey
from journeymap.store.frames import as_source

START, END = "$start", "$end"
LEVELS = ("event", "stage")


@dataclass(frozen=True)
class TransitionsResult(Result):
    """Edges of the actual journey, busiest first."""

    level: str
    edges: list[dict]
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


def _pair_stats(stream: Stream) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(from, to, user, seconds) for every transition including $start/$end ones."""
    n_users, v = stream.n_users, len(stream.vocab)
    codes = stream.codes.astype(np.int64)
    first, last = stream.offsets[:-1], stream.offsets[1:] - 1
    nxt = np.empty_like(codes)
    nxt[:-1] = codes[1:]
    secs = np.full(len(codes), np.nan)
    secs[:-1] = (stream.t[1:] - stream.t[:-1]) / 1e6
    if n_users:
        nxt[last] = v + 1
        secs[last] = np.nan
    frm = np.concatenate([codes, np.full(n_users, v)])
    to = np.concatenate([nxt, codes[first]])
    user = np.concatenate([stream.user_of_row(), np.arange(n_users)])
    return frm, to, user, np.concatenate([secs, np.full(n_users, np.nan)])


MAX_DENSE_PAIRS = 1 << 24


def _dense(pair: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pair ids renumbered 0..k-1 (keys = original ids) when the id space is too big."""
    if width * width <= MAX_DENSE_PAIRS:
        return pair, np.arange(width * width)
    keys, inverse = np.unique(pair, return_inverse=True)
    return inverse, keys


def edge_table(stream: Stream) -> list[dict]:
    """Every directly-follows pair with counts, users, share and times."""
    names = list(stream.vocab) + [START, END]
    frm, to, user, secs = _pair_stats(stream)
    width = len(names)
    ids, keys = _dense(frm * width + to, width)
    counts, users = kernels.pair_counts(ids, user, len(keys))
    out_total = np.bincount(keys // width, weights=counts, minlength=width)
    order = kernels.group_by_key(ids, counts)
    bounds = np.concatenate(([0], np.cumsum(counts)))
    rows = []
    for i in np.flatnonzero(counts):
        g = secs[order[bounds[i]:bounds[i + 1]]]
        g = g[~np.isnan(g)]
        key = int(keys[i])
        rows.append({"from": names[key // width], "to": names[key % width],
                     "count": int(counts[i]), "users": int(users[i]),
                     "share": float(counts[i] / out_total[key // width]),
                     "median_s": float(np.median(g)) if g.size else None,
                     "p90_s": float(np.quantile(g, 0.9)) if g.size else None})
    rows.sort(key=lambda r: (-r["count"], r["from"], r["to"]))
    return rows


def level_stream(events, level: str, journey: Journey | None, users, include, exclude,
                 fold_below: float) -> Stream:
    """The coded stream for a level ('event' or 'stage'), filtered and folded."""
    if level not in LEVELS:
        raise QueryError(f"unknown level '{level}': use event or stage")
    if level == "stage" and journey is None:
        raise QueryError("stage-level transitions need a journey")
    if journey is not None and not isinstance(journey, Journey):
        from journeymap.api import as_journey
        journey = as_journey(journey)
    stream = event_stream(as_source(events), journey=journey, users=users, include=include,
                          exclude=exclude)
    if level == "stage":
        return stage_stream(stream, journey)
    return fold_rare(stream, fold_below)


def transitions(events, *, level: str = "event", journey=None, users: Iterable[str] | None = None,
                include: Iterable[str] | None = None, exclude: Iterable[str] | None = None,
                fold_below: float = 0.0) -> TransitionsResult:
    """Directly-follows transitions between events or stages.

    `users` restricts to those ids; `include`/`exclude` keep or drop event
    names before pairing; `fold_below` folds events rarer than that share of
    all occurrences into "other".

    >>> import pandas as pd
    >>> ev = pd.DataFrame({"user_id": ["a", "a", "b"], "event": ["view", "buy", "view"],
    ...                    "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-01"])})
    >>> t = transitions(ev).to_pandas()
    >>> t[t["from"] == "view"][["to", "count"]].values.tolist()
    [['$end', 1], ['buy', 1]]
    """
    stream = level_stream(events, level, journey, users, include, exclude, fold_below)
    return TransitionsResult(level, edge_table(stream), stream.n_users)
