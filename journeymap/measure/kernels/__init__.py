"""Compiled per-user passes over events sorted by (user, ts, event, event_id).

Every kernel takes `offsets` (row where each user starts, plus the end), `t`
(int64 microseconds) and `mask` (int64 bit k set = the row matches step or
stage k) and walks each user's rows once; rows with mask 0 are passed over.
Rows that share a timestamp are treated as simultaneous: a user may pass
several steps in one instant, each with a distinct row, whatever order the
tie-breaker put those rows in.

One module per measure (`funnel`, `stages`, `transitions`), the matching they
share (`matching`), and the helpers of alignment and summaries (`strings`,
`buckets`).
"""

NO_ROW = -1  # no row: a step or stage not reached
