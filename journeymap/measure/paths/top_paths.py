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
from journeymap.measure._feed.users import positions
from journeymap.measure.kernels.paths import fill_paths
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
    """Codes of rows begin[u]..stop[u]-1 (at most `depth`), -1 padded; -2 marks a cut
    (a last column, when some path goes on past `depth`)."""
    begin, stop = np.asarray(begin, np.int64), np.asarray(stop, np.int64)
    cut = depth > 0 and bool((stop - begin > depth).any())
    mat = np.empty((len(begin), depth + cut), np.int64)
    fill_paths(stream.codes, begin, stop, depth, mat)
    return mat


def _unique_rows(mat: np.ndarray, n_codes: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows (in order of their packed key) and their counts; rows packed into
    one integer when they fit, and unpacked from the distinct keys."""
    base = n_codes + 2  # codes -2 and -1 shift to 0 and 1
    if base ** mat.shape[1] >= 2 ** 62:
        return np.unique(mat, axis=0, return_counts=True)
    key = np.zeros(len(mat), np.int64)
    for j in range(mat.shape[1]):
        key = key * base + (mat[:, j] + 2)
    keys, counts = np.unique(key, return_counts=True)
    rows = np.empty((len(keys), mat.shape[1]), np.int64)
    for j in range(mat.shape[1] - 1, -1, -1):
        keys, rows[:, j] = np.divmod(keys, base)
    return rows - 2, counts


def _names(stream: Stream, row: np.ndarray) -> list[str]:
    return [MORE if c == -2 else stream.vocab[c] for c in row if c != -1]


def count_paths(stream: Stream, mat: np.ndarray, top: int, considered: int, anchor: dict
                ) -> PathsResult:
    """Distinct rows of a path matrix, most users first (ties by path text)."""
    if not len(mat) or not considered:
        return PathsResult([], considered, anchor)
    uniq, counts = _unique_rows(mat, len(stream.vocab))
    floor = np.sort(counts)[::-1][min(top, len(counts)) - 1]  # only paths that can make the top
    rows = np.flatnonzero(counts >= floor)
    return best_paths([(_names(stream, uniq[i]), int(counts[i])) for i in rows], top, considered,
                      anchor)


def every_path(stream: Stream, mat: np.ndarray) -> list[tuple[list[str], int]]:
    """Every distinct row of a path matrix as (its names, its users)."""
    if not len(mat):
        return []
    uniq, counts = _unique_rows(mat, len(stream.vocab))
    return [(_names(stream, row), int(n)) for row, n in zip(uniq, counts)]


def best_paths(paths: list[tuple[list[str], int]], top: int, considered: int, anchor: dict
               ) -> PathsResult:
    """The `top` paths of (names, users), most users first (ties by path text)."""
    if not paths or not considered:
        return PathsResult([], considered, anchor)
    order = sorted(paths, key=lambda p: (-p[1], p[0]))[:top]
    return PathsResult([{"path": names, "users": n, "share": float(n / considered)}
                        for names, n in order], considered, anchor)


def check_paths(depth: int, top: int) -> None:
    if depth < 1 or top < 1:
        raise QueryError("depth and top must be at least 1")


def anchored(stream: Stream, start: str | None, end: str | None, depth: int, *,
             absent_ok: bool = False) -> np.ndarray:
    """The path matrix of every user with a path from `start`, ending at `end`, or
    between the two (a row per user considered). An anchor not among the events is an
    error, or (with `absent_ok`, e.g. a part of the users) no path."""
    def code(name: str) -> int:
        if absent_ok and name not in stream.vocab:
            return len(stream.vocab)  # matches no row
        return code_of(stream, name)

    user_start, user_stop = stream.offsets[:-1], stream.offsets[1:]
    if start is not None:
        begin = first_rows(stream, code(start))
        stop = user_stop.copy()
        if end is not None:
            last = first_rows(stream, code(end), after=begin)
            stop = np.where(last >= 0, last + 1, -1)
        keep = (begin >= 0) & (stop >= 0)
    elif end is not None:
        last = first_rows(stream, code(end))
        keep = last >= 0
        stop = last + 1
        begin = np.maximum(user_start, stop - depth)
        mat = path_matrix(stream, begin[keep], stop[keep], depth)
        cut = (begin > user_start)[keep]
        return np.concatenate([np.where(cut, -2, -1)[:, None], mat], axis=1)
    else:
        begin, stop, keep = user_start, user_stop, np.ones(stream.n_users, bool)
    return path_matrix(stream, begin[keep], stop[keep], depth)


def top_paths(stream: Stream, *, start: str | None = None, end: str | None = None,
              depth: int = 6, top: int = 20) -> PathsResult:
    """Top paths from `start`, ending at `end`, or between the two."""
    check_paths(depth, top)
    mat = anchored(stream, start, end, depth)
    return count_paths(stream, mat, top, len(mat), {"start": start, "end": end, "depth": depth})


def split_matrices(stream: Stream, entries, k: int, depth: int) -> dict[str, np.ndarray]:
    """From entering stage k (its qualifying event at or after the entry): the path
    matrices of the users who advanced to stage k + 1 and of those who dropped."""
    if not entries.n_users:
        return {name: np.zeros((0, depth), np.int64) for name in ("advanced", "dropped")}
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
        out[name] = path_matrix(stream, begin[sel], stream.offsets[1:][sel], depth)
    return out
