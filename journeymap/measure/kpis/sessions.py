"""Sessions, for help content: bounce rate and pages per session.

Each user's events in the journey's order are split into sessions at every gap
longer than the session gap (30 minutes by default), or, when events carry a
`session_id`, wherever it changes. A **help session** holds at least one
help-content page (the journey's `help` rule). Pages are page views (`$pageview`)
and help pages. Bounce rate = help sessions with a single page ÷ help sessions;
pages per session = mean pages over help sessions. One pass over the events in
user order (the clustered copy needs no sort); on Spark, each batch's tally is
counted in the executors and only the tallies reach the driver.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from journeymap.measure._feed.batches import Batch, flagged_rows, iter_batches
from journeymap.measure._feed.executors import in_executors, map_users
from journeymap.measure.stats import wilson_ci
from journeymap.spec.model import EventRule

PAGE = EventRule(("$pageview",))


def help_sessions(source, help_rule: EventRule, gap_s: float) -> dict:
    """Bounce rate and pages per session of the help sessions (see the module doc)."""
    by_id = "session_id" in source.table.columns
    query = flagged_rows(source, [help_rule, PAGE], keep_all=True, extra=("session_id",) if by_id else ())
    gap = int(gap_s * 1e6)
    if in_executors(query):  # Spark: each batch's tally in the executors, summed here
        got = map_users(query, partial(_tally_row, gap, by_id), TALLY)
        totals = [int(pc.sum(got[c]).as_py() or 0) for c in TALLY.names[:3]]
        totals.append(float(pc.sum(got["pages"]).as_py() or 0.0))
    else:
        totals = [0, 0, 0, 0.0]
        for b in iter_batches(query, task="sessions"):
            totals = [a + x for a, x in zip(totals, _tally(b, gap, by_id))]
    sessions, help_count, bounces, pages_total = totals
    return {"sessions": sessions, "help_sessions": help_count, "bounces": bounces,
            "bounce_rate": bounces / help_count if help_count else None,
            "bounce_rate_ci": wilson_ci(bounces, help_count),
            "pages_per_session": pages_total / help_count if help_count else None,
            "split_by": "session_id" if by_id else f"{gap_s / 60:g} minutes of inactivity"}


#: one batch's tally: sessions, help sessions, bounces, pages in help sessions
TALLY = pa.schema([("sessions", pa.int64()), ("help", pa.int64()), ("bounces", pa.int64()),
                   ("pages", pa.float64())])


def _tally(b: Batch, gap: int, by_id: bool) -> tuple[int, int, int, float]:
    """Sessions, help sessions, bounces and pages in help sessions of one batch of whole
    users (a session never spans two users, so batches add up)."""
    n = len(b.t)
    if not n:
        return 0, 0, 0, 0.0
    start = np.zeros(n, bool)
    start[b.offsets[:-1]] = True  # each user's first row
    if by_id:
        sid = b.columns["session_id"].to_numpy(zero_copy_only=False)
        start[1:] |= sid[1:] != sid[:-1]
    else:
        start[1:] |= np.diff(b.t) > gap
    session = np.cumsum(start) - 1
    mask = b.mask.astype(np.int64)
    helpful = (mask & 1).astype(bool)
    page = helpful | ((mask >> 1) & 1).astype(bool)
    k = int(session[-1]) + 1
    has_help = np.bincount(session, weights=helpful, minlength=k) > 0
    pages = np.bincount(session, weights=page, minlength=k)
    return k, int(has_help.sum()), int(np.sum(has_help & (pages == 1))), float(pages[has_help].sum())


def _tally_row(gap: int, by_id: bool, b: Batch) -> pa.RecordBatch:
    """In an executor: one batch's tally as a row."""
    return pa.RecordBatch.from_arrays([pa.array([v]) for v in _tally(b, gap, by_id)], schema=TALLY)
