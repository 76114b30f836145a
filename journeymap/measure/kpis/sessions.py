"""Sessions, for help content: bounce rate and pages per session.

Each user's events in the journey's order are split into sessions at every gap
longer than the session gap (30 minutes by default), or, when events carry a
`session_id`, wherever it changes. A **help session** holds at least one
help-content page (the journey's `help` rule). Pages are page views (`$pageview`)
and help pages. Bounce rate = help sessions with a single page ÷ help sessions;
pages per session = mean pages over help sessions. One pass over the events in
user order (the clustered copy needs no sort).
"""

from __future__ import annotations

import numpy as np

from journeymap.measure._feed.batches import flagged_rows, iter_batches
from journeymap.measure.stats import wilson_ci
from journeymap.spec.model import EventRule

PAGE = EventRule(("$pageview",))


def help_sessions(source, help_rule: EventRule, gap_s: float) -> dict:
    """Bounce rate and pages per session of the help sessions (see the module doc)."""
    by_id = "session_id" in source.table.columns
    query = flagged_rows(source, [help_rule, PAGE], keep_all=True, extra=("session_id",) if by_id else ())
    gap = int(gap_s * 1e6)
    sessions = help_count = bounces = pages_total = 0
    for b in iter_batches(query, task="sessions"):
        n = len(b.t)
        if not n:
            continue
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
        sessions += k
        help_count += int(has_help.sum())
        bounces += int(np.sum(has_help & (pages == 1)))
        pages_total += float(pages[has_help].sum())
    return {"sessions": sessions, "help_sessions": help_count, "bounces": bounces,
            "bounce_rate": bounces / help_count if help_count else None,
            "bounce_rate_ci": wilson_ci(bounces, help_count),
            "pages_per_session": pages_total / help_count if help_count else None,
            "split_by": "session_id" if by_id else f"{gap_s / 60:g} minutes of inactivity"}
