"""The public funnel: ordered, strict or unordered steps in a conversion window.

Semantics follow PostHog's: the window runs from the attempt's first step
(inclusive); each person counts once, by their best attempt; exclusions remove
a person whose counted attempt holds the excluded event between two steps.
On tie-free data with distinct step events, `order="ordered"` counts equal
ClickHouse's `windowFunnel` levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from journeymap.errors import QueryError
from journeymap.measure._feed.batches import flagged_rows, iter_batches, users_ahead
from journeymap.measure._feed.gather import Gather
from journeymap.measure._feed.parallel import over_ranges, user_ranges
from journeymap.measure.funnel.steps import as_rule, window_us
from journeymap.measure.kernels import NO_ROW
from journeymap.measure.kernels import funnel as kernels
from journeymap.measure.stats import rate, time_summary, wilson_ci
from journeymap.results import Result
from journeymap.store.sources import as_source

ORDERS = {"ordered": kernels.funnel_ordered, "strict": kernels.funnel_strict,
          "unordered": kernels.funnel_unordered}


@dataclass(frozen=True)
class FunnelResult(Result):
    """Persons reaching each step, who they are, and how long each step took."""

    steps: tuple[str, ...]
    users: pa.Array  # ids of persons who did step 1, sorted
    levels: np.ndarray  # furthest step reached per person (1..n)
    times: np.ndarray  # µs timestamp of each step of the counted attempt, -1 if not reached
    order: str = "ordered"
    window_s: float = 14 * 86400.0
    breakdown: str | None = None
    breakdown_values: np.ndarray | None = field(default=None, repr=False)
    title = "funnel"

    @property
    def counts(self) -> list[int]:
        """Persons reaching at least each step."""
        return [int((self.levels >= k).sum()) for k in range(1, len(self.steps) + 1)]

    def persons(self, k: int) -> list[str]:
        """Ids of persons reaching at least step k (1-based)."""
        self._check_step(k)
        return self.users.filter(pa.array(self.levels >= k)).to_pylist()

    def conversion_time(self, k: int) -> dict:
        """Mean, median, p90 seconds from step k-1 to step k (k >= 2)."""
        self._check_step(k)
        if k < 2:
            raise QueryError("conversion_time needs a step after the first (k >= 2)")
        reached = self.levels >= k
        secs = (self.times[reached, k - 1] - self.times[reached, k - 2]) / 1e6
        return time_summary(secs)

    @property
    def by_breakdown(self) -> dict:
        """One FunnelResult per breakdown value (read on the counted attempt's first step);
        persons without a value are grouped under None."""
        if self.breakdown_values is None:
            return {}
        codes, uniques = pd.factorize(pd.Series(self.breakdown_values, dtype=object))
        groups = [(v, codes == c) for c, v in enumerate(uniques)]
        if (codes < 0).any():
            groups.append((None, codes < 0))
        out = {}
        for value, sel in sorted(groups, key=lambda kv: (kv[0] is None, str(kv[0]))):
            out[value] = FunnelResult(self.steps, self.users.filter(pa.array(sel)),
                                      self.levels[sel], self.times[sel], self.order,
                                      self.window_s)
        return out

    def _check_step(self, k: int) -> None:
        if not 1 <= k <= len(self.steps):
            raise QueryError(f"step {k} is out of range 1..{len(self.steps)}")

    def rows(self) -> list[dict]:
        counts = self.counts
        out = []
        for k, (name, n) in enumerate(zip(self.steps, counts), start=1):
            first = counts[0]
            prev = counts[k - 2] if k > 1 else n
            t = self.conversion_time(k) if k > 1 else {}
            out.append({"step": k, "event": name, "count": n,
                        "conversion": rate(n, first), "conversion_ci": wilson_ci(n, first),
                        "from_previous": rate(n, prev), "dropped": prev - n,
                        "median_time_s": t.get("median_s"), "p90_time_s": t.get("p90_s")})
        return out

    def to_dict(self) -> dict:
        d = {"steps": list(self.steps), "order": self.order, "window_s": self.window_s,
             "counts": self.counts, "rows": self.rows()}
        if self.breakdown is not None:
            d["breakdown"] = self.breakdown
            d["by_breakdown"] = {str(k): v.counts for k, v in self.by_breakdown.items()}
        return d


def _check_args(steps, order, exclusions) -> None:
    if order not in ORDERS:
        raise QueryError(f"unknown order '{order}': use one of {', '.join(ORDERS)}")
    if not steps:
        raise QueryError("a funnel needs at least one step")
    for ex in exclusions:
        if len(ex) != 3 or not 0 <= ex[1] < ex[2] < len(steps):
            raise QueryError(f"exclusion {ex!r} must be (event, from_step, to_step) with "
                             f"0 <= from_step < to_step < {len(steps)}")
    if exclusions and order == "unordered":
        raise QueryError("exclusions need an order between steps: use ordered or strict")


def funnel(events, steps: Sequence, *, window="14d", order: str = "ordered",
           exclusions: Sequence = (), breakdown: str | None = None) -> FunnelResult:
    """Persons reaching each step of a funnel, by their best attempt (see `journeymap.funnel`).
    """
    steps = list(steps)
    exclusions = [tuple(e) for e in exclusions]
    _check_args(steps, order, exclusions)
    rules = [as_rule(s) for s in steps]
    win = window_us(window)
    source = as_source(events)
    extra = [breakdown] if breakdown else []
    if breakdown and breakdown not in source.table.columns:
        from journeymap.measure._feed.predicates import column
        column(source.table, breakdown)
    query = flagged_rows(source,
                         rules + [as_rule(e[0]) for e in exclusions],
                         keep_all=(order == "strict"), extra=extra)
    n = len(rules)
    out = Gather(users_ahead(query), levels=((), np.int64), times=((n,), np.int64))
    values = [_run_batch(b, ORDERS[order], n, win, exclusions, breakdown, out)
              for b in iter_batches(query, task="funnel")]
    users, cols = out.result()
    values = (np.concatenate(values) if values else np.zeros(0, object)) if breakdown else None
    return FunnelResult(tuple(r.describe() for r in rules), users, cols["levels"], cols["times"],
                        order, win / 1e6, breakdown, values)


def _run_batch(batch, kernel, n, win, exclusions, breakdown, out: Gather):
    """The funnel over one batch; its users who reached step 1 go to `out`; returns their
    breakdown values (None without a breakdown)."""
    row_type = np.int32 if len(batch.t) < 2**31 else np.int64  # half the memory to touch
    rows = np.full((batch.n_users, n), NO_ROW, row_type)
    ex_bits = np.arange(n, n + len(exclusions), dtype=np.int64)
    ex_from = np.array([e[1] for e in exclusions], np.int64)
    ex_to = np.array([e[2] for e in exclusions], np.int64)
    o, t, mask = batch.offsets, batch.t, batch.mask

    def run(u0, u1):
        levels = kernel(o[u0:u1 + 1], t, mask, n, win, rows[u0:u1])
        if exclusions:
            levels = kernels.apply_exclusions(o[u0:u1 + 1], t, mask, levels, rows[u0:u1], win,
                                              ex_bits, ex_from, ex_to)
        return levels

    ranges = user_ranges(o)
    levels = np.concatenate(over_ranges(ranges, run))
    keep = levels > 0
    got = out.add(batch.users, keep, levels=levels)
    over_ranges(ranges, lambda u0, u1: kernels.kept_row_times(  # kept users' step times, each
        rows[u0:u1], keep[u0:u1], t, got["times"][np.count_nonzero(keep[:u0]):]))  # range after the last
    if not breakdown:
        return None
    first_rows = pa.array(np.compress(keep, rows[:, 0]))
    return np.array(batch.columns[breakdown].take(first_rows).to_pylist(), object)
