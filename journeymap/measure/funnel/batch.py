"""The funnel over one batch of whole users: the kernels, exclusions, optional steps,
and the step times of the users kept (the same code on the driver and in Spark's
executors)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from journeymap.measure._feed.gather import Gather
from journeymap.measure._feed.parallel import over_ranges, user_ranges
from journeymap.measure.kernels import NO_ROW
from journeymap.measure.kernels import funnel as kernels

ORDERS = {"ordered": kernels.funnel_ordered, "strict": kernels.funnel_strict,
          "unordered": kernels.funnel_unordered}


@dataclass(frozen=True)
class Plan:
    """What one funnel asks of every batch (picklable: it travels to Spark's executors)."""

    order: str
    optional: tuple[bool, ...]  # per step
    window_us: int
    exclusions: tuple[tuple, ...] = ()
    breakdown: str | None = None

    @property
    def n(self) -> int:
        return len(self.optional)

    @property
    def marked(self) -> bool:
        """Whether some step is optional."""
        return any(self.optional)


def gather(plan: Plan, capacity: int) -> Gather:
    """Empty per-user columns for the funnel's kept users: levels, step times (and with
    optional steps, whether the counted attempt did each step)."""
    n = plan.n
    done = {"done": ((n,), np.bool_)} if plan.marked else {}
    return Gather(capacity, levels=((), np.int64), times=((n,), np.int64), **done)


def objects(values: list[pa.Array]) -> np.ndarray:
    """Breakdown values of the batches, one after another, as Python objects."""
    parts = [np.array(v.to_pylist(), object) for v in values]
    return np.concatenate(parts) if parts else np.zeros(0, object)


def run(plan: Plan, batch, out: Gather) -> pa.Array | None:
    """The funnel over one batch; its users who reached step 1 go to `out`; returns their
    breakdown values (None without a breakdown)."""
    if plan.marked:
        return run_optional_batch(batch, plan.order, plan.optional, plan.window_us,
                                  plan.exclusions, plan.breakdown, out)
    return run_batch(batch, ORDERS[plan.order], plan.n, plan.window_us, plan.exclusions,
                     plan.breakdown, out)


def run_batch(batch, kernel, n, win, exclusions, breakdown, out: Gather):
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
    return batch.columns[breakdown].take(pa.array(np.compress(keep, rows[:, 0])))


def run_optional_batch(batch, order, optional, win, exclusions, breakdown, out: Gather):
    """run_batch for a funnel with optional steps: the attempt over the required steps
    (strict: with the optional ones in the run), exclusions between required steps,
    then the optional steps the attempt did."""
    n = len(optional)
    req = np.array([k for k in range(n) if not optional[k]], np.int64)
    opt = np.array([k for k in range(n) if optional[k]], np.int64)
    gap = np.searchsorted(req, opt).astype(np.int64)  # required steps before each optional one
    index = {int(k): i for i, k in enumerate(req)}  # step -> its rank among the required
    row_type = np.int32 if len(batch.t) < 2**31 else np.int64
    rows = np.full((batch.n_users, n), NO_ROW, row_type)  # every step, as the result reads them
    ex_bits = np.arange(n, n + len(exclusions), dtype=np.int64)
    ex_from = np.array([index[e[1]] for e in exclusions], np.int64)
    ex_to = np.array([index[e[2]] for e in exclusions], np.int64)
    o, t, mask = batch.offsets, batch.t, batch.mask
    if order != "strict":
        packed = np.empty_like(mask)
        req_rows = np.full((batch.n_users, len(req)), NO_ROW, row_type)
    required = np.array([not x for x in optional], np.int64)

    def run(u0, u1):
        offs = o[u0:u1 + 1]
        if order == "strict":
            levels = kernels.funnel_strict_optional(offs, t, mask, required, win, rows[u0:u1])
            mine = np.ascontiguousarray(rows[u0:u1][:, req])
        else:
            kernels.pack_bits(mask[o[u0]:o[u1]], req, packed[o[u0]:o[u1]])
            mine = req_rows[u0:u1]
            levels = ORDERS[order](offs, t, packed, len(req), win, mine)
        if exclusions:
            levels = kernels.apply_exclusions(offs, t, mask, levels, mine, win,
                                              ex_bits, ex_from, ex_to)
        if order == "ordered":
            kernels.optional_ordered(offs, t, mask, levels, mine, req, opt, gap, win, rows[u0:u1])
        elif order == "unordered":
            kernels.optional_unordered(offs, t, mask, levels, mine, req, opt, gap, win,
                                        rows[u0:u1])
        return levels

    ranges = user_ranges(o)
    reached = np.concatenate(over_ranges(ranges, run))  # required steps reached
    keep = reached > 0
    levels = np.where(keep, req[np.maximum(reached, 1) - 1] + 1, 0)  # the furthest, 1-based
    got = out.add(batch.users, keep, levels=levels, done=rows != NO_ROW)
    over_ranges(ranges, lambda u0, u1: kernels.kept_row_times(
        rows[u0:u1], keep[u0:u1], t, got["times"][np.count_nonzero(keep[:u0]):]))
    if not breakdown:
        return None
    return batch.columns[breakdown].take(pa.array(np.compress(keep, rows[:, 0])))
