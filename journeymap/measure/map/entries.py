"""When each user entered each stage of the journey: one pass over their events.

Stage semantics (also in the README): a user enters stage 1 at their first
qualifying event; stage k at their first qualifying event (a distinct row) at
or after their entry into stage k-1, and no later than `within` after it when
set. An optional stage may be skipped: a user who enters the stage after it
without it still counts there, flagged as having skipped it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from journeymap.measure._feed.batches import flagged_rows, iter_batches, users_ahead
from journeymap.measure._feed.gather import Gather
from journeymap.measure._feed.parallel import over_users
from journeymap.measure.kernels import NO_ROW
from journeymap.measure.kernels import stages as kernels
from journeymap.spec.model import ActivityRule, Journey


@dataclass(frozen=True)
class StageEntries:
    """Per user (sorted by id): entry time of each stage in µs (-1: never), skips."""

    users: pa.Array
    entry_t: np.ndarray  # shape (n_users, n_stages)
    skipped: np.ndarray  # bool, same shape
    entry_props: dict[str, np.ndarray]  # property values on the stage-1 entry event
    data_end: int  # µs timestamp of the last event in the data

    def subset(self, keep: np.ndarray) -> StageEntries:
        return StageEntries(self.users.filter(pa.array(keep)), self.entry_t[keep],
                            self.skipped[keep], {k: v[keep] for k, v in self.entry_props.items()},
                            self.data_end)

    @property
    def n_users(self) -> int:
        return len(self.users)


def within_us(journey: Journey) -> np.ndarray:
    """Per stage time limit from the previous stage in µs, -1 where there is none."""
    return np.array([-1 if s.within is None else int(round(s.within * 1e6)) for s in journey.stages],
                    np.int64)


def stage_entries(journey: Journey, events, *, entry_props: tuple[str, ...] = ()
                  ) -> StageEntries:
    """Run the stage kernel over every user who entered stage 1; `entry_props`: event
    properties to read on each user's stage-1 entry event."""
    query = flagged_rows(events, [s.enter for s in journey.stages], extra=entry_props)
    return entries_of(journey, iter_batches(query, task="stage entries"), users_ahead(query),
                      query.source.data_end_us(), entry_props)


def entries_of(journey: Journey, batches, capacity: int, data_end: int,
               entry_props: tuple[str, ...] = ()) -> StageEntries:
    """The stage kernel over batches of whole users whose `mask` holds the stage bits
    (bit k: the row qualifies for stage k), e.g. one batch of a trace's rows."""
    rules = _StageRules.of(journey)
    n = len(journey.stages)
    out = Gather(capacity, entry_t=((n,), np.int64), skipped=((n,), np.bool_))
    read = [_run(b, rules, entry_props, out) for b in batches]
    users, cols = out.result()
    props = {c: np.concatenate([r[c] for r in read]) if read else np.zeros(0, object)
             for c in entry_props}
    return StageEntries(users, cols["entry_t"], cols["skipped"], props, data_end)


@dataclass(frozen=True)
class _StageRules:
    """The journey's stage rules as the kernel reads them (arrays per stage)."""

    within: np.ndarray  # µs from the previous stage, -1: no limit
    optional: np.ndarray  # bool
    act_days: np.ndarray  # distinct active days an activity stage needs, 0: an event rule
    act_window: np.ndarray  # µs within which those days must fall

    @classmethod
    def of(cls, journey: Journey) -> _StageRules:
        rules = [s.enter for s in journey.stages]
        return cls(within_us(journey), np.array([s.optional for s in journey.stages], np.bool_),
                   np.array([r.days if isinstance(r, ActivityRule) else 0 for r in rules], np.int64),
                   np.array([int(round(r.window * 1e6)) if isinstance(r, ActivityRule) else 0
                             for r in rules], np.int64))


def _run(batch, rules: _StageRules, entry_props, out: Gather) -> dict[str, np.ndarray]:
    """The stage kernel over one batch; its users who entered stage 1 go to `out`;
    returns their values of `entry_props` on the stage-1 entry event."""
    n = rules.within.shape[0]
    entry_t = np.full((batch.n_users, n), -1, np.int64)
    skipped = np.zeros((batch.n_users, n), np.bool_)
    first = np.full(batch.n_users, NO_ROW, np.int64)
    o = batch.offsets
    over_users(o, lambda u0, u1: kernels.stage_entries(
        o[u0:u1 + 1], batch.t, batch.mask, rules.within, rules.optional, rules.act_days,
        rules.act_window, entry_t[u0:u1], skipped[u0:u1], first[u0:u1]))
    keep = first >= 0
    out.add(batch.users, keep, entry_t=entry_t, skipped=skipped)
    if not entry_props:
        return {}
    rows = pa.array(np.compress(keep, first))
    return {c: batch.columns[c].take(rows).to_numpy(zero_copy_only=False) for c in entry_props}
