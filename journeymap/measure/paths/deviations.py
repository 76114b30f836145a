"""Where customers leave the designed path: loops, backtracks, skips, exits, conformance.

On the stage trace (each stage-qualifying event as its stage, in order; a
bad-outcome stage such as churn may be reached from anywhere, and leaving it
for an earlier stage is a *win-back*, not a deviation):
a *loop* is the same stage twice in a row; a *backtrack* a move to an earlier
stage; a *skip* a forward jump over a (non-optional) stage the user never
reaches; *out of order* a forward jump over a stage the user does later. A
user *conforms* when their trace has none of these. An *exit* is the last
event before a silence longer than the journey's inactivity threshold (or
before the end of the data, when that is longer ago than the threshold).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from journeymap.measure._feed.traces import Stream
from journeymap.measure._feed.users import positions
from journeymap.measure.map.entries import stage_at
from journeymap.measure.paths.top_paths import count_paths, path_matrix
from journeymap.results import Result
from journeymap.spec.model import Journey

KINDS = ("loop", "backtrack", "skip", "out_of_order")
TRACE_DEPTH = 10
TRACE_TOP = 10  # deviating traces shown


def times_per_user(stream: Stream) -> np.ndarray:
    """How many times each user did each event (users by vocab)."""
    v = len(stream.vocab)
    return np.bincount(stream.user_of_row().astype(np.int64) * v + stream.codes,
                       minlength=stream.n_users * v).reshape(stream.n_users, v)


def repeats(stream: Stream) -> list[dict]:
    """Per event (or stage): users doing it, users repeating it, and how often."""
    per = times_per_user(stream)
    out = []
    for c, name in enumerate(stream.vocab):
        col = per[:, c]
        rep = col[col >= 2]
        out.append({"name": name, "users": int((col > 0).sum()), "repeat_users": int(rep.size),
                    "repeat_share": float(rep.size / max(1, (col > 0).sum())),
                    "mean_times_when_repeated": float(rep.mean()) if rep.size else None,
                    "max_times": int(col.max()) if col.size else 0,
                    "times": {str(k) if k < 10 else "10+": int(n) for k, n in
                              zip(*np.unique(np.minimum(col[col > 0], 10), return_counts=True))}})
    return sorted(out, key=lambda r: (-r["repeat_users"], r["name"]))


def _previous(stages: Stream) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes, previous stage of the same user or -1, first-row flags)."""
    codes = stages.codes.astype(np.int64)
    first = np.zeros(len(codes), bool)
    first[stages.offsets[:-1][np.diff(stages.offsets) > 0]] = True
    prev = np.empty_like(codes)
    prev[1:] = codes[:-1]
    prev[first] = -1
    return codes, prev, first


def _last_seen(stages: Stream, n_stages: int) -> np.ndarray:
    """Per user and stage: the last row holding that stage (-1: never)."""
    seen = np.full((stages.n_users, n_stages), -1, np.int64)
    np.maximum.at(seen, (stages.user_of_row(), stages.codes.astype(np.int64)),
                  np.arange(len(stages.codes)))
    return seen


def _bad(journey: Journey) -> np.ndarray:
    """Per stage code (and -1 last, for 'no previous stage'): is it a bad outcome?"""
    return np.array([st.is_bad_outcome for st in journey.stages] + [False], bool)


def _moves(stages: Stream, journey: Journey) -> dict[str, np.ndarray]:
    """Per row: flags of each deviation kind, from the previous stage of the same user.
    A bad-outcome stage (churn) may be reached from anywhere and need not be reached:
    a move into it is no skip, a jump over it no skip, and a move out of it back to an
    earlier stage is a win-back, not a backtrack."""
    codes, prev, first = _previous(stages)
    seen = _last_seen(stages, len(journey.stages))
    bad = _bad(journey)
    user, rows = stages.user_of_row(), np.arange(len(codes))
    skip = np.zeros(len(codes), bool)
    late = np.zeros(len(codes), bool)
    into_bad = bad[codes]
    for s, st in enumerate(journey.stages):
        if st.is_bad_outcome:
            continue
        over = (prev < s) & (s < codes) & ~into_bad
        late |= over & (seen[user, s] > rows)
        skip |= over & (seen[user, s] < 0) & (not st.optional)
    back = (codes < prev) & ~first
    return {"loop": (codes == prev) & ~first, "backtrack": back & ~bad[prev],
            "skip": skip, "out_of_order": late, "win_back": back & bad[prev]}


def _per_user(flags: np.ndarray, stages: Stream) -> np.ndarray:
    if not len(flags):
        return np.zeros(stages.n_users, bool)
    counts = np.add.reduceat(flags.astype(np.int64), stages.offsets[:-1]) if stages.n_users else \
        np.zeros(0, np.int64)
    return counts > 0


def stage_moves(stages: Stream, journey: Journey) -> list[dict]:
    """Per stage: users looping on it, moving back to it, and skipping it."""
    codes, prev, first = _previous(stages)
    seen = _last_seen(stages, len(journey.stages))
    bad = _bad(journey)
    user = stages.user_of_row()
    out = []
    for k, st in enumerate(journey.stages):
        at = codes == k
        skipped = (prev < k) & (k < codes) & (seen[user, k] < 0) & ~bad[codes] & (not st.is_bad_outcome)
        back = at & (prev > k)
        out.append({"stage": st.id,
                    "loop_users": int(np.unique(user[at & (prev == k)]).size),
                    "backtrack_users": int(np.unique(user[back & ~bad[prev]]).size),
                    "skip_users": int(np.unique(user[skipped]).size),
                    "win_back_users": int(np.unique(user[back & bad[prev]]).size)})
    return out


@dataclass(frozen=True)
class ConformanceResult(Result):
    """How many users follow the designed stage order, and how the others deviate."""

    users: int
    conforming: int
    kinds: dict[str, int]
    deviating_traces: list[dict]
    personas: dict[str, dict]
    win_backs: int = 0  # users who moved from a bad outcome back to an earlier stage
    title = "conformance to the designed journey"

    def rows(self) -> list[dict]:
        rows = [{"kind": "conforms", "users": self.conforming,
                 "share": self.conforming / self.users if self.users else None}]
        rows += [{"kind": k, "users": n, "share": n / self.users if self.users else None}
                 for k, n in self.kinds.items()]
        return rows

    def to_dict(self) -> dict:
        return {"users": self.users, "conforming": self.conforming,
                "conforming_share": self.conforming / self.users if self.users else None,
                "kinds": self.kinds, "win_backs": self.win_backs,
                "deviating_traces": self.deviating_traces, "personas": self.personas}


def deviations(stages: Stream, journey: Journey) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per user of `stages`: whether they made each kind of deviation (by KINDS), and
    whether they won back (moved from a bad outcome to an earlier stage)."""
    moves = _moves(stages, journey)
    return {k: _per_user(moves[k], stages) for k in KINDS}, _per_user(moves["win_back"], stages)


def conformance(stages: Stream, journey: Journey, persona_masks: dict[str, np.ndarray] | None = None,
                top: int = TRACE_TOP) -> ConformanceResult:
    """Share of users following the design exactly, each kind of deviation, top deviating traces.

    `persona_masks` maps persona id to a boolean per user of `stages`.
    """
    per_kind, win_back = deviations(stages, journey)
    win_backs = int(win_back.sum())
    deviates = np.zeros(stages.n_users, bool)
    for flags in per_kind.values():
        deviates |= flags

    def summary(sel: np.ndarray) -> dict:
        n = int(sel.sum())
        return {"users": n, "conforming": int((sel & ~deviates).sum()),
                "conforming_share": float((sel & ~deviates).sum() / n) if n else None,
                "kinds": {k: int((sel & f).sum()) for k, f in per_kind.items()}}

    everyone = summary(np.ones(stages.n_users, bool))
    begin, stop = stages.offsets[:-1][deviates], stages.offsets[1:][deviates]
    traces = count_paths(stages, path_matrix(stages, begin, stop, TRACE_DEPTH), top,
                         max(1, int(deviates.sum())), {"depth": TRACE_DEPTH}).paths
    personas = {p: summary(m) for p, m in (persona_masks or {}).items()}
    return ConformanceResult(everyone["users"], everyone["conforming"], everyone["kinds"],
                             traces, personas, win_backs)


def stage_at_rows(stream: Stream, entries) -> np.ndarray:
    """For every row of the stream: the last stage its user had entered by then (-1)."""
    pos = positions(entries.users, stream.users) if entries.n_users else \
        np.full(stream.n_users, -1, np.int64)
    return stage_at(entries, pos[stream.user_of_row()], stream.t)


def exits(stream: Stream, inactivity_s: float, data_end_us: int,
          stage_of_row: np.ndarray | None = None, stage_ids: tuple[str, ...] = ()) -> list[dict]:
    """Last events before silence, ranked by users lost, with the stage users were in."""
    gap_us = int(inactivity_s * 1e6)
    n = len(stream.codes)
    nxt_gap = np.empty(n, np.int64)
    nxt_gap[:-1] = stream.t[1:] - stream.t[:-1]
    last = stream.offsets[1:][np.diff(stream.offsets) > 0] - 1
    nxt_gap[last] = data_end_us - stream.t[last]
    silent = np.flatnonzero(nxt_gap > gap_us)
    user = stream.user_of_row()[silent]
    stage = stage_of_row[silent] if stage_of_row is not None else np.full(len(silent), -1)
    key = stream.codes[silent].astype(np.int64) * (len(stage_ids) + 1) + (stage + 1)
    pairs = np.unique(np.stack([key, user]), axis=1)
    keys, counts = np.unique(pairs[0], return_counts=True)
    out = [{"event": stream.vocab[k // (len(stage_ids) + 1)],
            "stage": stage_ids[k % (len(stage_ids) + 1) - 1] if k % (len(stage_ids) + 1) else None,
            "users": int(c)} for k, c in zip(keys, counts)]
    return sorted(out, key=lambda r: (-r["users"], r["event"], r["stage"] or ""))
