"""Top paths (variants): the sequences customers actually follow.

A path is a user's events from an anchor, up to a depth: from their first
`start` event, ending at their first `end` event, or between the two (start
to the first end after it). Paths are counted once per user.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from journeymap.errors import QueryError, did_you_mean
from journeymap.measure._feed.traces import Stream
from journeymap.results import Result

MORE = "…"


@dataclass(frozen=True)
class PathsResult(Result):
    """The most common paths with their users and share of the users considered."""

    paths: list[dict]
    users: int
    anchor: dict
    title = "top paths"

    def rows(self) -> list[dict]:
        return [{"path": " → ".join(p["path"]), "users": p["users"], "share": p["share"]}
                for p in self.paths]

    def to_dict(self) -> dict:
        return {"anchor": self.anchor, "users": self.users, "paths": self.paths}

    def sankey(self) -> dict:
        """A plotly Sankey figure (JSON-able dict): nodes are (step, event)."""
        nodes: dict[tuple[int, str], int] = {}
        links: dict[tuple[int, int], int] = {}
        for p in self.paths:
            ids = [nodes.setdefault((i, e), len(nodes)) for i, e in enumerate(p["path"])]
            for a, b in zip(ids, ids[1:]):
                links[(a, b)] = links.get((a, b), 0) + p["users"]
        labels = [e for (_, e) in sorted(nodes, key=nodes.get)]
        return {"data": [{"type": "sankey", "node": {"label": labels},
                          "link": {"source": [a for a, _ in links], "target": [b for _, b in links],
                                   "value": list(links.values())}}],
                "layout": {"title": {"text": "Top paths"}}}


def code_of(stream: Stream, name: str) -> int:
    if name not in stream.vocab:
        raise QueryError(f"no event '{name}' in these events" + did_you_mean(name, stream.vocab))
    return stream.vocab.index(name)


def first_rows(stream: Stream, code: int, after: np.ndarray | None = None) -> np.ndarray:
    """Per user, the row of the first `code` (after row `after[u]` when given); -1 if none."""
    rows = np.flatnonzero(stream.codes == code)
    user = stream.user_of_row()[rows]
    if after is not None:
        ok = rows > after[user]
        rows, user = rows[ok], user[ok]
    out = np.full(stream.n_users, -1, np.int64)
    uniq, idx = np.unique(user, return_index=True)
    out[uniq] = rows[idx]
    return out


def path_matrix(stream: Stream, begin: np.ndarray, stop: np.ndarray, depth: int) -> np.ndarray:
    """Codes of rows begin[u]..stop[u]-1 (at most `depth`), -1 padded; -2 marks a cut."""
    idx = begin[:, None] + np.arange(depth)[None, :]
    valid = idx < stop[:, None]
    mat = np.where(valid, stream.codes[np.minimum(idx, len(stream.codes) - 1)], -1)
    cut = stop - begin > depth
    if depth and cut.any():
        mat = np.concatenate([mat, np.where(cut, -2, -1)[:, None]], axis=1)
    return mat


def _unique_rows(mat: np.ndarray, n_codes: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows and their counts; rows packed into one integer when they fit."""
    base = n_codes + 2  # codes -2 and -1 shift to 0 and 1
    if base ** mat.shape[1] >= 2 ** 62:
        return np.unique(mat, axis=0, return_counts=True)
    key = np.zeros(len(mat), np.int64)
    for j in range(mat.shape[1]):
        key = key * base + (mat[:, j] + 2)
    keys, first, counts = np.unique(key, return_index=True, return_counts=True)
    return mat[first], counts


def count_paths(stream: Stream, mat: np.ndarray, top: int, considered: int, anchor: dict
                ) -> PathsResult:
    """Distinct rows of a path matrix, most users first (ties by path text)."""
    if not len(mat) or not considered:
        return PathsResult([], considered, anchor)
    uniq, counts = _unique_rows(mat, len(stream.vocab))
    floor = np.sort(counts)[::-1][min(top, len(counts)) - 1]  # only paths that can make the top
    rows = np.flatnonzero(counts >= floor)
    names = {i: [MORE if c == -2 else stream.vocab[c] for c in uniq[i] if c != -1] for i in rows}
    order = sorted(rows, key=lambda i: (-counts[i], names[i]))[:top]
    paths = [{"path": names[i], "users": int(counts[i]), "share": float(counts[i] / considered)}
             for i in order]
    return PathsResult(paths, considered, anchor)


def top_paths(stream: Stream, *, start: str | None = None, end: str | None = None,
              depth: int = 6, top: int = 20) -> PathsResult:
    """Top paths from `start`, ending at `end`, or between the two."""
    if depth < 1 or top < 1:
        raise QueryError("depth and top must be at least 1")
    anchor = {"start": start, "end": end, "depth": depth}
    user_start, user_stop = stream.offsets[:-1], stream.offsets[1:]
    if start is not None:
        begin = first_rows(stream, code_of(stream, start))
        stop = user_stop.copy()
        if end is not None:
            last = first_rows(stream, code_of(stream, end), after=begin)
            stop = np.where(last >= 0, last + 1, -1)
        keep = (begin >= 0) & (stop >= 0)
    elif end is not None:
        last = first_rows(stream, code_of(stream, end))
        keep = last >= 0
        stop = last + 1
        begin = np.maximum(user_start, stop - depth)
        mat = path_matrix(stream, begin[keep], stop[keep], depth)
        cut = (begin > user_start)[keep]
        mat = np.concatenate([np.where(cut, -2, -1)[:, None], mat], axis=1)
        return count_paths(stream, mat, top, int(keep.sum()), anchor)
    else:
        begin, stop, keep = user_start, user_stop, np.ones(stream.n_users, bool)
    mat = path_matrix(stream, begin[keep], stop[keep], depth)
    return count_paths(stream, mat, top, int(keep.sum()), anchor)
