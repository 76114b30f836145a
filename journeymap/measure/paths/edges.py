"""Directly-follows edges: their names, their order (busiest first) and their rows, the
same whichever pass counted them (the driver's, or the engine's executors')."""

from __future__ import annotations

from typing import TypedDict

import numpy as np

from journeymap.errors import QueryError
from journeymap.measure._feed.predicates import name_ranks

START, END = "$start", "$end"
MAX_DENSE_PAIRS = 1 << 22  # ~2,000 distinct events; counters stay ~130 MB

#: One directly-follows edge (its `to_dict` shape is itself): `from` and `to` (event or
#: stage names, `$start` / `$end` at a trace's ends), `count` (occurrences), `users`
#: (distinct users), `share` (of the source's outgoing transitions), `median_s` and
#: `p90_s` (seconds on the edge; None from `$start` or to `$end`).
Edge = TypedDict("Edge", {"from": str, "to": str, "count": int, "users": int, "share": float,
                          "median_s": float | None, "p90_s": float | None})


def check_width(n_events: int) -> int:
    """The width of the pair ids (events, then $start and $end), if the pairs fit."""
    width = n_events + 2
    if width * width > MAX_DENSE_PAIRS:
        raise QueryError(f"{n_events:,} distinct events are too many to pair: fold rare "
                         "ones into 'other' (fold_below) or exclude some")
    return width


def busiest_first(names: list[str], counts: np.ndarray) -> np.ndarray:
    """The pair ids (from * width + to) that occur, busiest first, then by the names in
    text order."""
    width = len(names)
    keys = np.flatnonzero(counts)
    rank = name_ranks(names)
    return keys[np.lexsort((rank[keys % width], rank[keys // width], -counts[keys]))]


def edge_rows(names: list[str], keys: np.ndarray, counts: np.ndarray, users: np.ndarray,
              medians: np.ndarray, p90s: np.ndarray) -> list[Edge]:
    """The edges of `keys` (medians and p90s per key, NaN where a pair has no duration)."""
    width = len(names)
    out_total = counts.reshape(width, width).sum(axis=1)
    share = counts[keys] / out_total[keys // width]
    labels = np.array(names, object)
    return [{"from": a, "to": b, "count": c, "users": u, "share": sh, "median_s": m, "p90_s": p}
            for a, b, c, u, sh, m, p in zip(labels[keys // width].tolist(), labels[keys % width].tolist(),
                                            counts[keys].tolist(), users[keys].tolist(), share.tolist(),
                                            _or_none(medians), _or_none(p90s))]


def _or_none(values: np.ndarray) -> list:
    """Floats as a list, None where NaN."""
    return np.where(np.isnan(values), None, values.astype(object)).tolist()
