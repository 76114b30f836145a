"""Transitions (of events, or of stages) run inside the engine's executors (Spark), with
exact medians.

Each executor pairs its users' events as the driver path does (`transitions`), and
only tallies travel: per pair its occurrences and distinct users, and how many of
its durations fall in each of 16 buckets per doubling of the seconds (the buckets
follow the float's bits, so they are in the order of the values). Summed in the
engine, they tell which few buckets hold the ranks the median and the p90 need; a
second pass returns the durations in those buckets alone, and the order statistics
are read off them exactly: the same numbers as the driver path, bit for bit. What
reaches the driver grows with the pairs, plus the durations of about four buckets
per pair, not with the events.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from journeymap.measure._feed.batches import Batch, FlagQuery
from journeymap.measure._feed.executors import map_users
from journeymap.measure._feed.traces import OTHER, event_names, lowest_bit, users_with_rows
from journeymap.measure.kernels import transitions as kernels
from journeymap.measure.kernels.buckets import from_order_stats, order_ranks
from journeymap.measure.kernels.order import stage_order_at_ties
from journeymap.measure.map.stage_batch import StageRules, entry_times
from journeymap.measure.paths.edges import END, START, check_width

BUCKET_SHIFT = np.uint64(48)  # sign, 11 exponent bits and 4 of the fraction: 16 buckets an octave
TOTAL = -1  # the bucket of a pair's totals row

TALLY = pa.schema([("from", pa.string()), ("to", pa.string()), ("bucket", pa.int64()),
                   ("n", pa.int64()), ("users", pa.int64())])
DURATIONS = pa.schema([("level", pa.string()), ("from", pa.string()), ("to", pa.string()),
                       ("secs", pa.float64())])


@dataclass(frozen=True)
class Names:
    """Which event names are paired, and as what (picklable: it travels to the executors)."""

    include: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()
    rare: frozenset[str] = frozenset()  # folded into OTHER
    stages: tuple[str, ...] = ()  # stage level: a row is the earliest stage its bits name
    rules: StageRules | None = None  # with activity stages: the stage rules, to find entries
    activity: tuple[int, ...] = ()  # the activity stages, each kept at the row that entered it
    ties_by_stage: bool = False  # event level: same-instant rows in stage order (`_mask`)

    def of(self, name: str) -> str | None:
        if (self.include is not None and name not in self.include) or name in self.exclude:
            return None
        return OTHER if name in self.rare else name


def _pairs(names: Names, batch: Batch):
    """One batch's directly-follows pairs: (names, width, counts, users, starts, secs) as
    `pair_pass` gives them over the batch's own codes ($start = width - 2, $end = width - 1)."""
    enc = event_names(batch)
    vocab: dict[str, int] = {}
    local = np.array([-1 if (m := names.of(v)) is None else vocab.setdefault(m, len(vocab))
                      for v in enc.dictionary.to_pylist()], np.int64)
    codes = local[enc.indices.to_numpy(zero_copy_only=False)] if len(local) else np.zeros(0, np.int64)
    keep = codes >= 0
    if names.stages:  # the rows of a stage (as `stage_stream` keeps them), ties in stage order
        offsets, codes, t = _stage_rows(names, batch, keep & (batch.mask != 0))
        vocab = {stage: k for k, stage in enumerate(names.stages)}
    else:
        offsets, _ = users_with_rows(batch.offsets, keep)
        codes, t = codes[keep].astype(np.int32), batch.t[keep]
        if names.ties_by_stage:  # as `event_stream` orders a journey's rows
            stage_order_at_ties(offsets, t, batch.mask[keep].astype(np.int64), codes)
    return paired(sorted(vocab, key=vocab.get), offsets, codes, t)


def paired(vocab, offsets: np.ndarray, codes: np.ndarray, t: np.ndarray):
    """Directly-follows pairs of rows coded against `vocab` (a stream's, or one batch's):
    (names, width, counts, users, starts, secs) as `pair_pass` gives them ($start =
    width - 2, $end = width - 1)."""
    n = len(vocab)
    counts, users = kernels.transition_counts(offsets, codes, n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    secs = np.empty(int(counts.sum()), np.float64)
    kernels.transition_secs(offsets, codes, t, n, starts.copy(), secs)
    return [*vocab, START, END], n + 2, counts, users, starts, secs


def _stage_rows(names: Names, batch: Batch, keep: np.ndarray):
    """The kept rows at stage level, as `stage_stream` has them: (offsets, stage codes,
    times), same-instant rows in stage order, an activity stage only on the user's first
    row at the instant they entered it (not skipped; the entries found over every row
    of the batch in that order, as `event_stream` hands them to the stage kernel), rows
    left with no stage dropped."""
    every = np.arange(len(batch.t))
    all_bits = batch.mask.astype(np.int64)  # a copy, put in stage order at ties with `every`
    stage_order_at_ties(batch.offsets, batch.t, all_bits, every)
    rows = every[keep[every]]  # the kept rows, in that order
    offsets, _ = users_with_rows(batch.offsets, keep)
    t, bits = batch.t[rows], batch.mask[rows].astype(np.int64)
    if names.activity:
        entry_t, skipped, first = entry_times(Batch(batch.users, batch.offsets, batch.t, all_bits),
                                              names.rules)
        user = np.searchsorted(batch.offsets, rows, side="right") - 1
        known = first[user] >= 0
        for k in names.activity:
            flag = np.int64(1) << k
            entered = known & (entry_t[user, k] == t) & ~skipped[user, k]
            at = np.flatnonzero(((bits & flag) != 0) & entered)
            bits &= ~flag
            bits[at[np.unique(user[at], return_index=True)[1]]] |= flag
    codes = lowest_bit(bits)
    staged = codes >= 0
    offsets, _ = users_with_rows(offsets, staged)
    return offsets, codes[staged].astype(np.int32), t[staged]


def _timed(width: int, pairs: np.ndarray) -> np.ndarray:
    """Which pairs have durations: neither from $start nor to $end."""
    return (pairs // width < width - 2) & (pairs % width < width - 2)


def _values_by_pair(width: int, counts, secs):
    """(pair id, seconds, bucket) of every duration of a timed pair (`secs` holds every
    pair's values, pair after pair)."""
    pair = np.repeat(np.arange(len(counts)), counts)
    timed = _timed(width, pair)
    pair, values = pair[timed], secs[timed]
    return pair, values, (values.view(np.uint64) >> BUCKET_SHIFT).astype(np.int64)


def tally(names: Names, batch: Batch) -> pa.RecordBatch:
    """In an executor: per pair its occurrences and users (bucket TOTAL), and per bucket
    of its durations how many fall there."""
    return tally_of(_pairs(names, batch))


def tally_of(pairs) -> pa.RecordBatch:
    """`tally` of pairs as `paired` gives them."""
    vocab, width, counts, users, _, secs = pairs
    pairs = np.flatnonzero(counts)
    pair, _, bucket = _values_by_pair(width, counts, secs)
    key, n = np.unique(pair * (1 << 16) + bucket, return_counts=True)
    ids = np.concatenate([pairs, key >> 16])
    labels = np.array(vocab, object)
    return pa.RecordBatch.from_arrays([
        pa.array(labels[ids // width], pa.string()), pa.array(labels[ids % width], pa.string()),
        pa.array(np.concatenate([np.full(len(pairs), TOTAL), key & 0xFFFF])),
        pa.array(np.concatenate([counts[pairs], n]).astype(np.int64)),
        pa.array(np.concatenate([users[pairs], np.zeros(len(key), np.int64)]))], schema=TALLY)


def durations(levels: dict[str, Names], wanted: dict[str, dict[tuple[str, str], tuple[int, ...]]],
              batch: Batch) -> pa.RecordBatch:
    """In an executor: per level, the durations of each pair that fall in its wanted
    buckets."""
    parts = []
    for level, names in levels.items():
        vocab, width, counts, _, _, secs = _pairs(names, batch)
        pair, values, bucket = _values_by_pair(width, counts, secs)
        labels = np.array(vocab, object)
        want = [p * (1 << 16) + b for p in np.unique(pair)
                for b in wanted[level].get((labels[p // width], labels[p % width]), ())]
        take = np.isin(pair * (1 << 16) + bucket, np.array(want, np.int64))
        pair = pair[take]
        parts.append(pa.RecordBatch.from_arrays(
            [pa.array([level] * len(pair), pa.string()), pa.array(labels[pair // width], pa.string()),
             pa.array(labels[pair % width], pa.string()), pa.array(values[take])], schema=DURATIONS))
    return pa.RecordBatch.from_arrays(
        [pa.concat_arrays([p.column(k) for p in parts]) for k in range(len(DURATIONS))],
        schema=DURATIONS)


@dataclass(frozen=True)
class _Plan:
    """What the summed tallies of one level say: the names, each pair's counts and users,
    and per timed pair which buckets hold its ranks (and how many values lie below)."""

    vocab: list[str]
    counts: np.ndarray
    users: np.ndarray
    wanted: dict[tuple[str, str], tuple[int, ...]]
    ranks: dict[int, tuple[list[int], list[int]]]

    @property
    def width(self) -> int:
        return len(self.vocab)

    @classmethod
    def of(cls, got: pa.Table) -> _Plan:
        """From the summed tallies (TALLY rows) of one level."""
        events = sorted({*got["from"].to_pylist(), *got["to"].to_pylist()} - {START, END})
        vocab = [*events, START, END]
        width = check_width(len(events))
        code = {name: k for k, name in enumerate(vocab)}
        pair = np.array([code[a] * width + code[b]
                         for a, b in zip(got["from"].to_pylist(), got["to"].to_pylist())], np.int64)
        bucket, n = got["bucket"].to_numpy(), got["n"].to_numpy()
        total = bucket == TOTAL
        counts = np.zeros(width * width, np.int64)
        users = np.zeros(width * width, np.int64)
        counts[pair[total]] = n[total]
        users[pair[total]] = got["users"].to_numpy()[total]
        # per timed pair: its buckets in order, the ranks' buckets and the values below them
        order = np.lexsort((bucket, pair))
        order = order[~total[order]]
        p_sorted, b_sorted, n_sorted = pair[order], bucket[order], n[order]
        first = np.flatnonzero(np.r_[True, p_sorted[1:] != p_sorted[:-1]]) if len(order) else \
            np.zeros(0, np.int64)
        wanted, ranks = {}, {}
        for a, b in zip(first, [*first[1:], len(order)]):
            p = int(p_sorted[a])
            below = np.concatenate(([0], np.cumsum(n_sorted[a:b])))
            at = [int(np.searchsorted(below, r, side="right")) - 1 for r in order_ranks(int(counts[p]))]
            buckets = [int(b_sorted[a + i]) for i in at]
            wanted[(vocab[p // width], vocab[p % width])] = tuple(sorted(set(buckets)))
            ranks[p] = (buckets, [int(below[i]) for i in at])
        return cls(vocab, counts, users, wanted, ranks)

    def result(self, rows: pa.Table):
        """(names, counts, users, medians, p90s) from the wanted buckets' durations."""
        width = self.width
        code = {name: k for k, name in enumerate(self.vocab)}
        medians = np.full(width * width, np.nan)
        p90s = np.full(width * width, np.nan)
        dp = np.array([code[a] * width + code[b] for a, b in zip(rows["from"].to_pylist(),
                                                                  rows["to"].to_pylist())], np.int64)
        secs = rows["secs"].to_numpy()
        order = np.lexsort((secs, dp))
        dp, secs = dp[order], secs[order]
        for p, (buckets, below) in self.ranks.items():
            mine = secs[np.searchsorted(dp, p):np.searchsorted(dp, p, side="right")]
            mine_buckets = (mine.view(np.uint64) >> BUCKET_SHIFT).astype(np.int64)
            picked = []
            for r, b, under in zip(order_ranks(int(self.counts[p])), buckets, below):
                before = int(np.count_nonzero(mine_buckets < b))  # the wanted values of lower buckets
                picked.append(mine[before + r - under])
            medians[p], p90s[p] = from_order_stats(int(self.counts[p]), *picked)
        return self.vocab, self.counts, self.users, medians, p90s


def on_executors(query: FlagQuery, names: Names):
    """The transitions of `query`'s rows (every row, with `event`; at stage level its
    stage bits as `_mask`), computed in the executors: (names, counts, users, medians,
    p90s) per pair id (from * width + to) over `names` (the events or stages in text
    order, then $start and $end), NaN where a pair has no duration."""
    got = map_users(query, partial(tally, names), TALLY, sum_by=("from", "to", "bucket"))
    return finished(query, {"": (names, got)})[""]


def finished(query: FlagQuery, tallies: dict[str, tuple[Names, pa.Table]]) -> dict[str, tuple]:
    """Per level, its transitions (as `on_executors` gives them) from its summed tallies:
    one more pass, for the durations of every level's wanted buckets."""
    plans = {level: _Plan.of(got) for level, (_, got) in tallies.items()}
    wanted = {level: plan.wanted for level, plan in plans.items() if plan.wanted}
    rows = map_users(query, partial(durations, {level: tallies[level][0] for level in wanted}, wanted),
                     DURATIONS) if wanted else DURATIONS.empty_table()
    level = rows["level"]
    return {name: plan.result(rows.filter(pc.equal(level, name))) for name, plan in plans.items()}


def tally_rows(pairs) -> list[tuple[str, list[str], int]]:
    """`tally_of(pairs)` as (part, key, n) rows: part "n" (occurrences per pair and
    bucket, TOTAL for the pair's own) or "users" (per pair), key [from, to, bucket]."""
    got = tally_of(pairs)
    rows = []
    for a, b, bucket, n, users in zip(*(got.column(k).to_pylist() for k in range(5))):
        rows.append(("n", [a, b, str(bucket)], n))
        if bucket == TOTAL:
            rows.append(("users", [a, b, str(bucket)], users))
    return rows


def tally_table(parts: dict[str, list[tuple[list, int]]]) -> pa.Table:
    """The TALLY table of summed `tally_rows` (parts "n" and "users", keys decoded)."""
    users = {tuple(key): n for key, n in parts.get("users", ())}
    rows = [(a, b, int(bucket), n, users.get((a, b, bucket), 0)) for (a, b, bucket), n in parts.get("n", ())]
    return pa.Table.from_arrays([pa.array([r[k] for r in rows], f.type) for k, f in enumerate(TALLY)],
                                schema=TALLY)
