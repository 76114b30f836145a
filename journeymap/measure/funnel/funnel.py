"""The public funnel: ordered, strict or unordered steps in a conversion window.

Semantics follow PostHog's: the window runs from the attempt's first step
(inclusive); each person counts once, by their best attempt; exclusions remove
a person whose counted attempt holds the excluded event between two steps.
On tie-free data with distinct step events, `order="ordered"` counts equal
ClickHouse's `windowFunnel` levels.

A step may be optional (`{"event": name, "optional": True}`): the level and the
counted attempt come from the required steps, and an optional step counts the
persons whose counted attempt did it (see `funnel`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa

from journeymap._deferred import pd
from journeymap.errors import QueryError
from journeymap.measure._feed.batches import flagged_rows, iter_batches, users_ahead
from journeymap.measure._feed.executors import in_executors
from journeymap.measure.funnel.batch import ORDERS, Plan, gather, objects, run
from journeymap.measure.funnel.executors import on_executors
from journeymap.measure.funnel.steps import as_rule, as_step, covers, window_us
from journeymap.measure.kernels.funnel import step_seconds
from journeymap.measure.stats import rate, time_summaries, time_summary, wilson_ci
from journeymap.results import Result, flat
from journeymap.store.sources import as_source


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
    #: per step, whether it is optional; () when none is
    optional: tuple[bool, ...] = ()
    #: with optional steps: whether the counted attempt did each step (levels hold the
    #: furthest required step then)
    done: np.ndarray | None = field(default=None, repr=False)
    title = "funnel"

    def _reached(self, k: int) -> np.ndarray:
        """Per person: counted at step k (1-based)."""
        return self.levels >= k if self.done is None else self.done[:, k - 1]

    @cached_property
    def counts(self) -> list[int]:
        """Persons reaching at least each step (an optional step: persons whose counted
        attempt did it)."""
        n = len(self.steps)
        if self.done is not None:
            return [int(c) for c in self.done.sum(axis=0)]
        at = np.bincount(np.clip(self.levels, 0, n), minlength=n + 1)  # persons per level, one pass
        return [int(c) for c in at[::-1].cumsum()[::-1][1:]]

    def persons(self, k: int) -> list[str]:
        """Ids of persons reaching at least step k (1-based; an optional step: who did it)."""
        self._check_step(k)
        return self.users.filter(pa.array(self._reached(k))).to_pylist()

    def conversion_time(self, k: int) -> dict:
        """Mean, median, p90 seconds from step k-1 to step k (k >= 2); with optional
        steps, from the step the person did last before it (unordered: a required step
        from the required step before it, an optional step from the first step)."""
        self._check_step(k)
        if k < 2:
            raise QueryError("conversion_time needs a step after the first (k >= 2)")
        if self.done is None:
            return self._step_times[k - 2]
        reached = self._reached(k)
        if self.order == "unordered":
            before = [0] if self.optional[k - 1] else \
                [j for j in range(k - 1) if not self.optional[j]][-1:]
        else:
            before = range(k - 1)
        start = self.times[reached, 0]
        for j in before:  # the last of them the person did
            start = np.where(self.done[reached, j], self.times[reached, j], start)
        return time_summary((self.times[reached, k - 1] - start) / 1e6)

    @cached_property
    def _step_times(self) -> list[dict]:
        """conversion_time of steps 2..n without optional steps, in one compiled pass."""
        counts = np.array(self.counts[1:], np.int64)
        seconds = np.empty(int(counts.sum()))
        step_seconds(self.times, self.levels, np.concatenate(([0], np.cumsum(counts)[:-1])), seconds)
        return time_summaries(seconds, counts)

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
                                      self.window_s, optional=self.optional,
                                      done=None if self.done is None else self.done[sel])
        return out

    def _check_step(self, k: int) -> None:
        if not 1 <= k <= len(self.steps):
            raise QueryError(f"step {k} is out of range 1..{len(self.steps)}")

    def rows(self) -> list[dict]:
        """One row per step; with optional steps, "from_previous" and "dropped" are
        against the required step before it (as PostHog shows them)."""
        counts = self.counts
        marked = any(self.optional)
        out = []
        prev_required = 0
        for k, (name, n) in enumerate(zip(self.steps, counts), start=1):
            first = counts[0]
            prev = (counts[prev_required] if marked else counts[k - 2]) if k > 1 else n
            t = self.conversion_time(k) if k > 1 else {}
            row = {"step": k, "event": name, "count": n,
                   "conversion": rate(n, first), "conversion_ci": wilson_ci(n, first),
                   "from_previous": rate(n, prev), "dropped": prev - n,
                   "median_time_s": t.get("median_s"), "p90_time_s": t.get("p90_s")}
            if marked:
                row["optional"] = self.optional[k - 1]
                if not self.optional[k - 1]:
                    prev_required = k - 1
            out.append(row)
        return out

    def sections(self) -> dict[str, list[dict]]:
        """steps (one row per step); with a breakdown, also breakdown (a row per value
        and step, the value first)."""
        out = {"steps": [flat(r) for r in self.rows()]}
        if self.breakdown is not None:
            out["breakdown"] = [flat({self.breakdown: value, **row})
                                for value, sub in self.by_breakdown.items() for row in sub.rows()]
        return out

    def to_dict(self) -> dict:
        d = {"steps": list(self.steps), "order": self.order, "window_s": self.window_s,
             "counts": self.counts, "rows": self.rows()}
        if any(self.optional):
            d["optional"] = list(self.optional)
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


def _check_optional(rules, optional, order, exclusions) -> None:
    """Refuse optional steps that make no sense."""
    if not any(optional):
        return
    if all(optional):
        raise QueryError("every funnel step is optional: a funnel needs required steps, "
                         "the first of them first")
    if optional[0]:
        raise QueryError("the first funnel step cannot be optional: every attempt starts "
                         "with it, and the window runs from it")
    for ex in exclusions:
        for k in ex[1:]:
            if optional[k]:
                raise QueryError(
                    f"exclusion of {as_rule(ex[0]).describe()} starts or ends at step {k + 1} "
                    f"({rules[k].describe()}), which is optional: a person who skipped it has "
                    "no time there, so the range would be ambiguous; give the required steps "
                    "around it")
    if order != "ordered":
        return
    # Ordered attempts take the first event of a step after the step before it, and
    # start at the last first-step event before their second step: an optional step
    # that only such events qualify for could count at a tie, never otherwise.
    for j, rule in enumerate(rules):
        if not optional[j]:
            continue
        nxt = next((q for q in range(j + 1, len(rules)) if not optional[q]), None)
        if nxt is None:
            continue
        checks = [(nxt, f"the required step {nxt} after it",
                   "gives that step the first such event after the step before it")]
        if all(optional[p] for p in range(1, j)):  # between the first two required steps
            checks.append((0, "the first step",
                           "starts at the last such event before its next required step"))
        for other, which, why in checks:
            if covers(rules[other], rule):
                raise QueryError(
                    f"optional step {j} ({rule.describe()}) takes only events that {which} "
                    f"({rules[other].describe()}) also takes: an ordered attempt {why}, so "
                    "the optional step could never count (but at a tie); narrow it, or use "
                    "order='strict' or 'unordered'")


def funnel(events, steps: Sequence, *, window="14d", order: str = "ordered",
           exclusions: Sequence = (), breakdown: str | None = None) -> FunnelResult:
    """Persons reaching each step of a funnel, by their best attempt (see `journeymap.funnel`).

    Optional steps (`{"event": name, "optional": True}`, not the first): the level
    and the counted attempt come from the required steps (ordered and unordered:
    exactly those of the funnel without the optional steps; strict: the run of
    consecutive events may also hold the optional steps). An optional step counts
    the persons whose counted attempt did it: ordered, in step order between the
    required steps around it (at the first instant at or after the step done before
    it, no later than the next required step, or the end of the window when the
    attempt stopped before it); strict, as a row of the run; unordered, anywhere in
    the attempt's window, by persons who reached the required step before it. Steps at one instant sit on distinct events.

    >>> import pandas as pd
    >>> ev = pd.DataFrame({"user_id": ["a", "a", "a", "b", "b"],
    ...                    "event": ["signup", "tour", "pay", "signup", "pay"],
    ...                    "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03",
    ...                                          "2024-01-01", "2024-01-02"])})
    >>> funnel(ev, ["signup", {"event": "tour", "optional": True}, "pay"], window="7d").counts
    [2, 1, 2]
    """
    steps = list(steps)
    exclusions = [tuple(e) for e in exclusions]
    _check_args(steps, order, exclusions)
    parsed = [as_step(s) for s in steps]
    rules = [r for r, _ in parsed]
    optional = tuple(o for _, o in parsed)
    _check_optional(rules, optional, order, exclusions)
    win = window_us(window)
    source = as_source(events)
    extra = [breakdown] if breakdown else []
    if breakdown and breakdown not in source.table.columns:
        from journeymap.measure._feed.predicates import column
        column(source.table, breakdown)
    query = flagged_rows(source,
                         rules + [as_rule(e[0]) for e in exclusions],
                         keep_all=(order == "strict"), extra=extra)
    names = tuple(r.describe() for r in rules)
    plan = Plan(order, optional, win, tuple(exclusions), breakdown)
    users, cols, values = (on_executors if in_executors(query) else _on_driver)(plan, query)
    return FunnelResult(names, users, cols["levels"], cols["times"], order, win / 1e6,
                        breakdown, values, optional=optional if plan.marked else (),
                        done=cols.get("done"))


def _on_driver(plan: Plan, query) -> tuple[pa.Array, dict[str, np.ndarray], np.ndarray | None]:
    """The flagged rows streamed here in batches of whole users, the kernels run here:
    the kept users, their columns (see `batch.gather`) and breakdown values."""
    out = gather(plan, users_ahead(query))
    values = [run(plan, b, out) for b in iter_batches(query, task="funnel")]
    users, cols = out.result()
    return users, cols, objects(values) if plan.breakdown else None
