"""The actual journey counted inside the engine's executors (Spark).

Each executor builds its users' streams as the driver path does (`actual_journey`:
every event coded, same-instant rows in stage order, the stage entries from the
stage kernel, the events kept, the stage trace) and returns tallies only, summed in
the engine: per distinct path its users (top paths, the paths of those who advanced
and dropped at a stage, the deviating stage traces), per event and number of times
the users who did it that often (repeats), per stage and kind of move its users,
per exit event and stage its users, per combination of deviation kinds and personas
its users (conformance). A customer's rows all sit in one batch, so every count of
customers adds up exactly. The same pass tallies both transition tables (see
`paths.executors`), whose durations need one more. Of the paths and traces, the engine keeps only the top of
each list (most users, ties by path text: the keys are encoded so that the engine's
order of them is the order of the paths), so what reaches the driver grows with the
names and the top asked for, not with the events or the distinct paths.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import partial

import numpy as np
import pyarrow as pa

from journeymap.measure._feed.batches import Batch, FlagQuery
from journeymap.measure._feed.executors import map_users
from journeymap.measure._feed.traces import Stream, coded_stream, only_events, stage_stream
from journeymap.measure._feed.users import values_for
from journeymap.measure.map.entries import entries_of
from journeymap.measure.paths.deviations import (
    KINDS,
    TRACE_DEPTH,
    TRACE_TOP,
    ConformanceResult,
    deviations,
    exits,
    stage_at_rows,
    stage_moves,
    times_per_user,
)
from journeymap.measure.paths.executors import paired, tally_rows, tally_table
from journeymap.measure.paths.top_paths import anchored, best_paths, every_path, path_matrix, split_matrices
from journeymap.spec.model import Journey

TALLY = pa.schema([("part", pa.string()), ("key", pa.string()), ("n", pa.int64())])


@dataclass(frozen=True)
class Plan:
    """What each executor counts (picklable: it travels with the function)."""

    journey: Journey
    include: tuple[str, ...] | None
    exclude: tuple[str, ...] | None
    start: str | None
    end: str | None
    depth: int
    stage: int | None  # the paths of those who advanced / dropped from this stage
    data_end: int
    flags: pa.Table | None  # user_id and a column per persona (conformance per persona)


END, ESCAPE = "\x00\x01", "\x00\x02"


def encode(items: list[str]) -> str:
    """A list of strings as one string, in the same order as the lists compare (each
    item ended by END, its NULs escaped), so the engine's binary order of these strings
    is Python's order of the lists."""
    return "".join(item.replace("\x00", ESCAPE) + END for item in items)


def decode(key: str) -> list[str]:
    return [item.replace(ESCAPE, "\x00") for item in key.split(END)[:-1]]


def tally(plan: Plan, batch: Batch) -> pa.RecordBatch:
    """In an executor: the actual journey's counts over one batch of whole users."""
    journey = plan.journey
    every = coded_stream([batch], True)
    entries = entries_of(journey, [every.as_batch()], every.n_users, plan.data_end)
    stream = only_events(every, plan.include, plan.exclude)
    stages = stage_stream(stream, journey, entries)
    rows: list[tuple[str, list, int]] = [("users", [], stream.n_users)]
    mat = anchored(stream, plan.start, plan.end, plan.depth, absent_ok=True)
    rows += [("path", names, n) for names, n in every_path(stream, mat)]
    rows.append(("path_users", [], len(mat)))
    if plan.stage is not None:
        rows += _split(stream, entries, plan.stage, plan.depth)
    rows += _repeats(stream)
    for move in stage_moves(stages, journey):
        rows += [("move", [move["stage"], kind], move[kind]) for kind in move if kind != "stage"]
    rows += _exits(stream, journey, plan.data_end, stage_at_rows(stream, entries))
    rows += _conformance(stages, journey, plan.flags)
    for level, s in (("event", stream), ("stage", stages)):  # the transitions' tallies
        rows += [(f"{level}:{part}", key, n)
                 for part, key, n in tally_rows(paired(s.vocab, s.offsets, s.codes, s.t))]
    return pa.RecordBatch.from_arrays([pa.array([r[0] for r in rows], pa.string()),
                                       pa.array([encode([str(x) for x in r[1]]) for r in rows], pa.string()),
                                       pa.array([int(r[2]) for r in rows], pa.int64())], schema=TALLY)


def _split(stream: Stream, entries, k: int, depth: int) -> list[tuple]:
    rows = []
    for name, mat in split_matrices(stream, entries, k, depth).items():
        rows += [(name, names, n) for names, n in every_path(stream, mat)]
        rows.append((f"{name}_users", [], len(mat)))
    return rows


def _repeats(stream: Stream) -> list[tuple]:
    """Per event and number of times: the users who did it that often."""
    per = times_per_user(stream)
    rows = []
    for c, name in enumerate(stream.vocab):
        times, users = np.unique(per[:, c][per[:, c] > 0], return_counts=True)
        rows += [("times", [name, int(t)], n) for t, n in zip(times, users)]
    return rows


def _exits(stream: Stream, journey: Journey, data_end: int, stage_of_row) -> list[tuple]:
    return [("exit", [e["event"], e["stage"] or ""], e["users"])  # no stage: "" (ids are never empty)
            for e in exits(stream, journey.inactivity, data_end, stage_of_row, tuple(journey.stage_ids))]


def _conformance(stages: Stream, journey: Journey, flags: pa.Table | None) -> list[tuple]:
    """Users per combination of deviation kinds (bit per kind) and personas (bit per
    persona), the users who won back, and the deviating users' stage traces."""
    per_kind, win_back = deviations(stages, journey)
    kinds = np.zeros(stages.n_users, np.int64)
    for bit, k in enumerate(KINDS):
        kinds |= per_kind[k].astype(np.int64) << bit
    persona = np.zeros(stages.n_users, np.int64)
    if flags is not None:
        for bit, p in enumerate(c for c in flags.column_names if c != "user_id"):
            persona |= values_for(flags, stages.users, p).astype(np.int64) << bit
    combo, users = np.unique(np.stack([kinds, persona]), axis=1, return_counts=True) \
        if stages.n_users else (np.zeros((2, 0), np.int64), [])
    rows = [("conformance", [int(a), int(b)], n) for (a, b), n in zip(combo.T, users)]
    rows.append(("win_backs", [], int(win_back.sum())))
    deviates = kinds > 0
    mat = path_matrix(stages, stages.offsets[:-1][deviates], stages.offsets[1:][deviates], TRACE_DEPTH)
    return rows + [("trace", names, n) for names, n in every_path(stages, mat)]


class Tallies:
    """The summed tallies, read back by part."""

    def __init__(self, table: pa.Table):
        self.parts: dict[str, list[tuple[list, int]]] = defaultdict(list)
        for part, key, n in zip(table["part"].to_pylist(), table["key"].to_pylist(),
                                table["n"].to_pylist()):
            items = decode(key)
            if part in ("times", "conformance"):
                items = [items[0] if part == "times" else int(items[0]), int(items[1])]
            elif part == "exit":
                items = [items[0], items[1] or None]
            self.parts[part].append((items, n))

    def transitions(self, level: str) -> pa.Table:
        """The summed transition tallies of a level (`paths.executors.TALLY`)."""
        return tally_table({part: self.parts.get(f"{level}:{part}", []) for part in ("n", "users")})

    def total(self, part: str) -> int:
        return sum(n for _, n in self.parts.get(part, ()))

    def paths(self, part: str, top: int, anchor: dict):
        return best_paths(self.parts.get(part, []), top, self.total(f"{part}_users"), anchor)

    def names(self) -> set[str]:
        """Every event name of the kept events."""
        return {name for (name, _), _ in self.parts.get("times", ())}

    def repeats(self) -> list[dict]:
        """As `deviations.repeats` gives them."""
        per: dict[str, dict[int, int]] = defaultdict(dict)
        for (name, times), n in self.parts.get("times", ()):
            per[name][times] = n
        out = []
        for name, counts in per.items():
            users = sum(counts.values())
            repeated = {t: n for t, n in counts.items() if t >= 2}
            rep = sum(repeated.values())
            buckets: dict[str, int] = {}
            for t in sorted(counts):
                label = str(t) if t < 10 else "10+"
                buckets[label] = buckets.get(label, 0) + counts[t]
            out.append({"name": name, "users": users, "repeat_users": rep,
                        "repeat_share": float(rep / max(1, users)),
                        "mean_times_when_repeated": sum(t * n for t, n in repeated.items()) / rep
                        if rep else None,
                        "max_times": max(counts), "times": buckets})
        return sorted(out, key=lambda r: (-r["repeat_users"], r["name"]))

    def stage_moves(self, journey: Journey) -> list[dict]:
        got = {(stage, kind): n for (stage, kind), n in self.parts.get("move", ())}
        return [{"stage": s.id, **{kind: got.get((s.id, kind), 0) for kind in
                                   ("loop_users", "backtrack_users", "skip_users", "win_back_users")}}
                for s in journey.stages]

    def exits(self) -> list[dict]:
        out = [{"event": event, "stage": stage, "users": n} for (event, stage), n in self.parts.get("exit", ())]
        return sorted(out, key=lambda r: (-r["users"], r["event"], r["stage"] or ""))

    def conformance(self, personas: list[str]) -> ConformanceResult:
        combos = [(kinds, persona, n) for (kinds, persona), n in self.parts.get("conformance", ())]

        def summary(bit: int | None) -> dict:
            mine = [(kinds, n) for kinds, persona, n in combos if bit is None or persona >> bit & 1]
            n = sum(c for _, c in mine)
            conforming = sum(c for kinds, c in mine if not kinds)
            return {"users": n, "conforming": conforming,
                    "conforming_share": float(conforming / n) if n else None,
                    "kinds": {k: sum(c for kinds, c in mine if kinds >> i & 1) for i, k in enumerate(KINDS)}}

        everyone = summary(None)
        deviating = sum(n for kinds, _, n in combos if kinds)
        traces = best_paths(self.parts.get("trace", []), TRACE_TOP, max(1, deviating),
                            {"depth": TRACE_DEPTH}).paths
        return ConformanceResult(everyone["users"], everyone["conforming"], everyone["kinds"], traces,
                                 {p: summary(bit) for bit, p in enumerate(personas)},
                                 self.total("win_backs"))


def on_executors(query: FlagQuery, plan: Plan, top: int) -> Tallies:
    """The actual journey's tallies of `query`'s rows (every row, its stage bits as
    `_mask`, with `event`), counted in the executors. Of the paths and traces, only
    those that can make the top come back (the engine ranks them)."""
    k = {"path": top, "advanced": top, "dropped": top, "trace": TRACE_TOP}
    return Tallies(map_users(query, partial(tally, plan), TALLY, sum_by=("part", "key"),
                             top=("part", "n", k)))
