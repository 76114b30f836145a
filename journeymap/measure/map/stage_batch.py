"""The stage kernel over one batch of whole users: the journey's rules as the kernel reads
them, entry times and skips of the users who entered stage 1 (the same code on the
driver and in Spark's executors)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from journeymap.measure._feed.gather import Gather
from journeymap.measure._feed.parallel import over_users
from journeymap.measure.kernels import NO_ROW
from journeymap.measure.kernels import stages as kernels
from journeymap.spec.model import ActivityRule, Journey


def within_us(journey: Journey) -> np.ndarray:
    """Per stage time limit from the previous stage in µs, -1 where there is none."""
    return np.array([-1 if s.within is None else int(round(s.within * 1e6)) for s in journey.stages],
                    np.int64)


@dataclass(frozen=True)
class StageRules:
    """The journey's stage rules as the kernel reads them (arrays per stage)."""

    within: np.ndarray  # µs from the previous stage, -1: no limit
    optional: np.ndarray  # bool
    act_days: np.ndarray  # distinct active days an activity stage needs, 0: an event rule
    act_window: np.ndarray  # µs within which those days must fall

    @classmethod
    def of(cls, journey: Journey) -> StageRules:
        rules = [s.enter for s in journey.stages]
        return cls(within_us(journey), np.array([s.optional for s in journey.stages], np.bool_),
                   np.array([r.days if isinstance(r, ActivityRule) else 0 for r in rules], np.int64),
                   np.array([int(round(r.window * 1e6)) if isinstance(r, ActivityRule) else 0
                             for r in rules], np.int64))


def gather(rules: StageRules, capacity: int) -> Gather:
    """Empty per-user columns for the users who entered stage 1: entry times, skips."""
    n = rules.within.shape[0]
    return Gather(capacity, entry_t=((n,), np.int64), skipped=((n,), np.bool_))


def entry_times(batch, rules: StageRules) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stage kernel over one batch: per user of the batch, each stage's entry time
    (µs, -1: never) and skip, and the row of the stage-1 entry (NO_ROW: never entered)."""
    n = rules.within.shape[0]
    entry_t = np.full((batch.n_users, n), -1, np.int64)
    skipped = np.zeros((batch.n_users, n), np.bool_)
    first = np.full(batch.n_users, NO_ROW, np.int64)
    o = batch.offsets
    over_users(o, lambda u0, u1: kernels.stage_entries(
        o[u0:u1 + 1], batch.t, batch.mask, rules.within, rules.optional, rules.act_days,
        rules.act_window, entry_t[u0:u1], skipped[u0:u1], first[u0:u1]))
    return entry_t, skipped, first


def run(batch, rules: StageRules, entry_props, out: Gather) -> dict[str, pa.Array]:
    """The stage kernel over one batch; its users who entered stage 1 go to `out`;
    returns their values of `entry_props` on the stage-1 entry event."""
    entry_t, skipped, first = entry_times(batch, rules)
    keep = first >= 0
    out.add(batch.users, keep, entry_t=entry_t, skipped=skipped)
    if not entry_props:
        return {}
    rows = pa.array(np.compress(keep, first))
    return {c: batch.columns[c].take(rows) for c in entry_props}
