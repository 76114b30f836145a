"""Deterministic *skewed* benchmark data: Zipf users, 300 event names, 5 properties, ties.

    .venv/bin/python benchmarks/data.py --sizes skew-1m,skew-10m     # writes benchmarks/data/skew-*

The uniform data of ``benchmarks/data.py`` (about 10 events per user, 6 names, no ties)
hide what real product data do to a per-user engine: a few customers (bots, API
integrations, big accounts) with a million events, a long tail of one-visit
users, hundreds of event names, property columns, and events logged in the same
second. This module writes the same file layout for such data, under its own names.

What is generated (same seed -> byte-identical content):

- ``skew-events-<size>.parquet``: exactly ``size`` rows, columns
  ``user_id`` (UUID v4 text, 36 chars, random, so heavy users sit anywhere in id order),
  ``event`` (300 names), ``ts`` (timestamp[us, UTC], whole seconds, 30 days from
  2024-03-01, see *Time* below),
  ``event_id`` (int64, unique: the row number), and five properties:
  ``plan`` (free / pro / team: the user's trait, null before the user's first ``signup``),
  ``country`` (50 ISO codes, Zipf popularity, per user; null for 2% of users),
  ``path`` (5,000 URL paths, Zipf popularity; null on server-side events and on 3% of the
  others), ``amount`` (float64; only on purchase / invoice_paid / subscription_renewed /
  refund_issued (negative), null elsewhere), ``device`` (desktop, mobile_web, ios,
  android, tablet: the user's main device on 85% of events; null on server-side events).
  Rows **sorted by (user_id, ts, event, event_id)**, zstd, row groups of 262,144 rows,
  written in chunks of about 1M events (a user is never split; a heavy user is its own
  chunk), so memory stays bounded by one chunk (plus the per-user arrays).
- ``skew-users-<size>.parquet``: ``user_id`` (id order) and the trait ``plan``.
- ``skew-events-<size>.csv`` (sizes up to 10m unless ``--csv``): the same rows in time
  order (ts, user_id, event, event_id), ``ts`` as ISO 8601 ``...Z`` text, empty = null.
- ``skew-events-clustered-<size>/``: journeymap's clustered copy, built once from the
  Parquet by ``journeymap.store.clustered.build_clustered`` (``data.ensure_clustered``).
- ``skew-meta-<size>.json``: counts, the events-per-user distribution (users, max, p50,
  p90, p99, users with >= 1e5 events, ...), the tie share, null shares, the timings and
  the clustered copy's build time and sizes.

Events per user (Zipf by rank): the user of rank r (1 = busiest) gets
``round((N / r) ** 1.05)`` events (at least 1, at most 1.2M), N chosen so the counts sum to
the size (the last few events go to the busiest uncapped user). At 10M: ~509k users, the
busiest ~0.98M events, 8 users >= 100k, median 2, p99 ~126, ~70% of users with 1-3 events.
At 1M: ~64k users, busiest ~110k. (At 100m the cap of 1.2M per user binds: the 30 days have
2.6M seconds, and step events must keep a second of their own.)

Events of a user: funnel attempts as in data.py (visit -> signup -> activate -> invite ->
purchase, continuation 0.55 / 0.65 / 0.55 / 0.60, gaps of mean an hour, a day or 4 days, so
a 14-day window matters; 90% of users make one attempt, 30% another, plus one per 50
events), truncated to the user's count, then background events up to the count: the 295
other names with Zipf popularity (``page_view`` first, ~16%; ``support`` is one of them, so
every stage of benchmarks/journey.yaml has events) and the 5 step names now and then (6% of
background events), in sessions (about 8 events each, ~45 s apart, sessions uniform in the
span).

Time: whole seconds. First every event of a user gets a second of its own (a repeated
second is pushed past its predecessor, like data.py; a push could overrun the 30 days by
seconds, none does at 1m and 10m: ``ts_max`` in the meta). Then about 5% of all events are
made to share the second of the event just before them, only where both are non-step
events: **no step event ever shares its second with another event of its user**, so
ClickHouse's ``windowFunnel`` (which reads seconds) stays comparable with journeymap's
ordered funnel; the ties only matter to transitions, paths and properties, where the order
(ts, event, event_id) decides.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
# importable as the package `benchmarks` when run as a script (like run.py)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from benchmarks import data  # noqa: E402
from benchmarks.data import DATA, SIZES, SPAN, START, STEPS  # noqa: E402

SEED = 20240314
ZIPF_S = 1.05  # events of the user of rank r: (N / r) ** ZIPF_S
MAX_PER_USER = 1_200_000  # binds at 100m only
EVENTS_PER_CHUNK = 1_000_000
ROW_GROUP = 262_144
CONTINUE_P = [0.55, 0.65, 0.55, 0.60]
GAP_MEANS = np.array([3600.0, 86400.0, 4 * 86400.0])
ATTEMPT_EVERY = 50  # one more funnel attempt per this many events of a user (Poisson)
SESSION_EVENTS = 8
SESSION_GAP_S = 45.0
TIE_P = 0.036  # chance a non-step event after a non-step event takes its second (-> ~5%)
BG_STEP_P = [0.04, 0.003, 0.003, 0.008, 0.006]  # background share of each step name
OTHER_ZIPF_S = 1.1
TOP_NAMES = 12  # the first BASE_NAMES keep their order of popularity
PATH_ZIPF_S = 1.0
COUNTRY_ZIPF_S = 1.2
PLANS = ["free", "pro", "team"]
PLAN_P = [0.7, 0.2, 0.1]
DEVICES = ["desktop", "mobile_web", "ios", "android", "tablet"]
DEVICE_P = [0.5, 0.15, 0.15, 0.15, 0.05]
COUNTRIES = ["US", "GB", "DE", "IN", "FR", "CA", "BR", "AU", "NL", "ES", "IT", "JP", "SE", "PL",
             "MX", "CH", "BE", "IE", "DK", "NO", "AT", "FI", "PT", "SG", "IL", "KR", "NZ", "ZA",
             "AR", "CO", "CL", "TR", "CZ", "RO", "HU", "GR", "UA", "PH", "ID", "VN", "TH", "MY",
             "NG", "EG", "KE", "AE", "SA", "PK", "TW", "HK"]
BASE_NAMES = [
    "page_view", "screen_view", "click", "session_start", "scroll", "search", "session_end",
    "search_result_click", "login", "dashboard_view", "notification_received", "api_call",
    "form_start", "form_submit", "report_view", "email_open", "notification_open",
    "file_download", "settings_change", "help_article_view", "video_play", "email_click",
    "file_upload", "add_to_cart", "share", "comment_posted", "export_csv", "logout",
    "webhook_received", "profile_update", "project_created", "error_shown", "video_complete",
    "remove_from_cart", "checkout_start", "onboarding_step_completed", "integration_connected",
    "coupon_applied", "password_reset", "project_deleted", "support",
    "trial_started", "team_member_removed", "invoice_paid", "subscription_renewed",
    "subscription_cancelled", "refund_issued"]
SERVER_SIDE = {"api_call", "webhook_received", "notification_received", "email_open", "email_click",
               "invoice_paid", "subscription_renewed", "subscription_cancelled", "refund_issued",
               "session_end"}
AMOUNT_EVENTS = {"purchase", "invoice_paid", "subscription_renewed", "refund_issued"}


def _vocab() -> tuple[list[str], np.ndarray]:
    """300 names (the 5 steps first) and the background probability of each."""
    made = ([f"click_button_{k:02d}" for k in range(1, 81)]
            + [f"feature_{k:03d}_used" for k in range(1, 121)]
            + [f"view_screen_{k:02d}" for k in range(1, 300 - 5 - len(BASE_NAMES) - 200 + 1)])
    rng = np.random.default_rng([SEED, 1])
    head, tail = BASE_NAMES[:TOP_NAMES], BASE_NAMES[TOP_NAMES:] + made
    # the usual suspects first (page_view, screen_view, click, ...), then a fixed shuffle
    others = head + [tail[i] for i in rng.permutation(len(tail))]
    names = list(STEPS) + others
    assert len(names) == len(set(names)) == 300
    w = 1.0 / np.arange(1, len(others) + 1) ** OTHER_ZIPF_S
    p = np.concatenate([BG_STEP_P, w / w.sum() * (1 - sum(BG_STEP_P))])
    return names, p / p.sum()


NAMES, BG_P = _vocab()
N_STEPS = len(STEPS)
NAME_RANK = np.argsort(np.argsort(np.array(NAMES, dtype=object)))  # order of each name as text
IS_SERVER = np.array([n in SERVER_SIDE for n in NAMES])
HAS_AMOUNT = np.array([n in AMOUNT_EVENTS for n in NAMES])
AMOUNT_SIGN = np.array([-1.0 if n == "refund_issued" else 1.0 for n in NAMES])
SIGNUP = STEPS.index("signup")


def _paths_vocab() -> list[str]:
    """5,000 distinct URL paths, most popular first (landing pages, then app and docs pages)."""
    fixed = ["/", "/pricing", "/signup", "/login", "/app", "/app/dashboard", "/features", "/docs",
             "/blog", "/checkout", "/app/settings", "/app/billing", "/app/team", "/about", "/contact"]
    made = []
    for k in range(1, 1500):
        made.append(f"/app/projects/{k}")
        made.append(f"/docs/{['guides', 'api', 'reference', 'sdk'][k % 4]}/{k:04d}-page")
        made.append(f"/blog/{2019 + k % 6}/{k:04d}-post")
    made += [f"/app/projects/{k}/settings" for k in range(1, 5000)]
    out = fixed + made
    rng = np.random.default_rng([SEED, 2])
    tail = [out[len(fixed) + i] for i in rng.permutation(len(out) - len(fixed))]
    out = (fixed + tail)[:5000]
    assert len(set(out)) == 5000
    return out


PATHS = _paths_vocab()


def _zipf_p(n: int, s: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


PATH_P = _zipf_p(len(PATHS), PATH_ZIPF_S)
COUNTRY_P = _zipf_p(len(COUNTRIES), COUNTRY_ZIPF_S)


def paths(size: str) -> dict[str, Path]:
    """The same keys as data.paths()."""
    return {"events": DATA / f"skew-events-{size}.parquet", "users": DATA / f"skew-users-{size}.parquet",
            "csv": DATA / f"skew-events-{size}.csv", "meta": DATA / f"skew-meta-{size}.json",
            "clustered": DATA / f"skew-events-clustered-{size}"}


def _rank_counts(n_users: int) -> np.ndarray:
    r = np.arange(1, n_users + 1, dtype=np.float64)
    return np.clip(np.rint((n_users / r) ** ZIPF_S), 1, MAX_PER_USER).astype(np.int64)


def rank_counts(n_events: int) -> np.ndarray:
    """Events per user by rank (busiest first), summing to exactly n_events."""
    lo, hi = 1, n_events
    while lo < hi:  # the smallest N whose counts reach n_events (the sum grows with N)
        mid = (lo + hi) // 2
        if _rank_counts(mid).sum() < n_events:
            lo = mid + 1
        else:
            hi = mid
    counts = _rank_counts(lo)
    diff = n_events - int(counts.sum())  # small (<= 0): taken from the busiest uncapped user
    at = int(np.argmax(counts < MAX_PER_USER))
    counts[at] += diff
    assert counts.sum() == n_events and counts.min() >= 1 and counts.max() <= MAX_PER_USER
    return counts


def _uuid_text(raw: np.ndarray) -> pa.Array:
    """(n, 16) uint8 -> UUID text (36 chars each) as one Arrow string array."""
    n = len(raw)
    lut = np.frombuffer(b"0123456789abcdef", np.uint8)
    hexed = np.empty((n, 32), np.uint8)
    hexed[:, 0::2] = lut[raw >> 4]
    hexed[:, 1::2] = lut[raw & 15]
    out = np.full((n, 36), ord("-"), np.uint8)
    for a, b, c in ((0, 8, 0), (9, 13, 8), (14, 18, 12), (19, 23, 16), (24, 36, 20)):
        out[:, a:b] = hexed[:, c:c + b - a]
    offsets = np.arange(0, 36 * (n + 1), 36, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(out.tobytes()))


def users_of(n_events: int) -> dict:
    """Every user in id order: id, events, plan, country (-1 = null), main device."""
    by_rank = rank_counts(n_events)
    n = len(by_rank)
    rng = np.random.default_rng([SEED, n_events])
    raw = np.frombuffer(rng.bytes(16 * n), np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # variant
    hi = raw[:, :8].copy().view(">u8").ravel()
    lo = raw[:, 8:].copy().view(">u8").ravel()
    order = np.lexsort((lo, hi))  # text order = byte order (hex keeps it, dashes are fixed)
    raw = raw[order]
    assert ((np.diff(hi[order]) != 0) | (np.diff(lo[order]) != 0)).all(), "user id collision"
    counts = by_rank[rng.permutation(n)]  # the busiest users land anywhere in id order
    country = rng.choice(len(COUNTRIES), n, p=COUNTRY_P)
    country[rng.random(n) < 0.02] = -1
    return {"ids": _uuid_text(raw), "counts": counts,
            "plan": rng.choice(len(PLANS), n, p=PLAN_P), "country": country,
            "device": rng.choice(len(DEVICES), n, p=DEVICE_P), "by_rank": by_rank}


def _segment_cumsum(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at each segment (segments given by starts/lengths)."""
    cs = np.cumsum(values)
    return cs - np.repeat(cs[starts] - values[starts], lengths)


def _strings(vocab: list[str], codes: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(vocab, pa.string()).take(pa.array(codes, pa.int32(), mask=null))


def chunk(n_events: int, k: int, u: dict, lo: int, hi: int, first_row: int) -> tuple[pa.Table, dict]:
    """Events of users lo .. hi-1 (id order), sorted by (user, ts, event, event_id)."""
    rng = np.random.default_rng([SEED, n_events, k])
    counts = u["counts"][lo:hi]
    n = len(counts)
    local = np.arange(n)
    # funnel attempts, as data.py, plus one per ATTEMPT_EVERY events
    n_att = (rng.random(n) < 0.9).astype(np.int64) + (rng.random(n) < 0.3) \
        + rng.poisson(counts / ATTEMPT_EVERY)
    att_user = np.repeat(local, n_att)
    go_on = rng.random((len(att_user), len(CONTINUE_P))) < np.array(CONTINUE_P)
    length = 1 + np.cumprod(go_on, axis=1).sum(axis=1)
    j_user = np.repeat(att_user, length)
    starts = np.concatenate(([0], np.cumsum(length)[:-1])).astype(np.int64)
    step = np.arange(len(j_user)) - np.repeat(starts, length)
    mean_gap = np.repeat(rng.choice(GAP_MEANS, len(att_user)), length)
    gap = np.where(step == 0, 0, np.ceil(rng.exponential(1.0, len(j_user)) * mean_gap)).astype(np.int64)
    offset = _segment_cumsum(gap, starts, length)
    j_sec = (np.repeat(rng.integers(0, SPAN, len(att_user)), length) + offset) % SPAN
    first_of_user = np.searchsorted(j_user, local)
    keep = np.arange(len(j_user)) - first_of_user[j_user] < counts[j_user]
    j_user, j_sec, j_event = j_user[keep], j_sec[keep], step[keep]
    kept = np.bincount(j_user, minlength=n)
    # background events in sessions
    nb = counts - kept
    b_user = np.repeat(local, nb)
    b_event = rng.choice(len(NAMES), len(b_user), p=BG_P)
    n_sess = np.maximum(1, -(-nb // SESSION_EVENTS))
    sess0 = np.concatenate(([0], np.cumsum(n_sess)[:-1]))
    sess = sess0[b_user] + (rng.random(len(b_user)) * n_sess[b_user]).astype(np.int64)
    by_sess = np.argsort(sess, kind="stable")
    sess_sorted = sess[by_sess]
    s_first = np.flatnonzero(np.diff(sess_sorted, prepend=-1))
    s_len = np.diff(np.append(s_first, len(sess_sorted)))
    g = np.ceil(rng.exponential(SESSION_GAP_S, len(b_user))).astype(np.int64)
    within = _segment_cumsum(g, s_first, s_len) - np.repeat(g[s_first], s_len)
    sess_start = rng.integers(0, SPAN, int(n_sess.sum()))
    b_sec = np.empty(len(b_user), np.int64)
    b_sec[by_sess] = (sess_start[sess_sorted] + within) % SPAN
    # a second of its own for every event (a repeated second pushed past its predecessor)
    user, sec, event, key = data.ordered_untied((j_user, b_user), (j_sec, b_sec), (j_event, b_event))
    r = np.arange(len(user), dtype=np.int64)
    # ties: a non-step event after a non-step event of the same user takes its second
    step_row = event < N_STEPS
    same_user = np.concatenate(([False], user[1:] == user[:-1]))
    cand = same_user & ~step_row & np.concatenate(([False], ~step_row[:-1]))
    follower = cand & (rng.random(len(user)) < TIE_P)
    leader = np.maximum.accumulate(np.where(follower, 0, r))
    sec = sec[leader]
    order = np.lexsort((NAME_RANK[event], sec, user))  # ties by event name (as text)
    user, sec, event = user[order], sec[order], event[order]
    step_row = event < N_STEPS
    same_prev = np.concatenate(([False], (user[1:] == user[:-1]) & (sec[1:] == sec[:-1])))
    tied = same_prev | np.append(same_prev[1:], False)
    assert not (tied & step_row).any() and len(user) == counts.sum()
    # properties
    u_first = np.flatnonzero(np.diff(user, prepend=-1))
    signup_sec = np.minimum.reduceat(np.where(event == SIGNUP, sec, np.iinfo(np.int64).max), u_first)
    plan_null = sec < signup_sec[user]
    country = u["country"][lo:hi][user]
    server = IS_SERVER[event]
    path_null = server | (rng.random(len(user)) < 0.03)
    path = rng.choice(len(PATHS), len(user), p=PATH_P)
    device = np.where(rng.random(len(user)) < 0.85, u["device"][lo:hi][user],
                      rng.integers(0, len(DEVICES), len(user)))
    has_amount = HAS_AMOUNT[event]
    amount = np.round(np.exp(rng.normal(3.5, 0.9, len(user))), 2) * AMOUNT_SIGN[event]
    table = pa.table({
        "user_id": u["ids"].slice(lo, n).take(pa.array(user)),
        "event": _strings(NAMES, event),
        "ts": pa.array((START + sec) * 1_000_000, pa.timestamp("us", tz="UTC")),
        "event_id": pa.array(first_row + r, pa.int64()),
        "plan": _strings(PLANS, u["plan"][lo:hi][user], plan_null),
        "country": _strings(COUNTRIES, np.maximum(country, 0), country < 0),
        "path": _strings(PATHS, path, path_null),
        "amount": pa.array(amount, pa.float64(), mask=~has_amount),
        "device": _strings(DEVICES, device, server),
    })
    facts = {"tied": int(tied.sum()), "step_events": int(step_row.sum()),
             "sec_max": int(sec.max()), "events_by_name": np.bincount(event, minlength=len(NAMES)),
             "paths_seen": np.bincount(path[~path_null], minlength=len(PATHS)) > 0,
             "nulls": {"plan": int(plan_null.sum()), "country": int((country < 0).sum()),
                       "path": int(path_null.sum()), "amount": int((~has_amount).sum()),
                       "device": int(server.sum())}}
    return table, facts


def _chunks(counts: np.ndarray) -> list[tuple[int, int]]:
    """User ranges of about EVENTS_PER_CHUNK events (a user never split)."""
    cum = np.cumsum(counts)
    out, lo = [], 0
    while lo < len(counts):
        base = cum[lo - 1] if lo else 0
        hi = int(np.searchsorted(cum, base + EVENTS_PER_CHUNK, side="right"))
        hi = max(hi, lo + 1)
        out.append((lo, hi))
        lo = hi
    return out


def distribution(by_rank: np.ndarray) -> dict:
    c = np.sort(by_rank)
    pct = {f"p{q}": round(float(np.percentile(c, q)), 1) for q in (50, 90, 99, 99.9)}
    return {"law": f"events of the user of rank r = round((N / r) ** {ZIPF_S}), 1..{MAX_PER_USER:,}",
            "users": int(len(c)), "max": int(c[-1]), "mean": round(float(c.mean()), 2), **pct,
            "top10": [int(x) for x in c[::-1][:10]],
            "users_ge_1e5": int((c >= 100_000).sum()), "users_ge_1e4": int((c >= 10_000).sum()),
            "users_1_to_3": int((c <= 3).sum()), "share_users_1_to_3": round(float((c <= 3).mean()), 4),
            "users_with_1": int((c == 1).sum()),
            "events_of_top_10_users": int(c[::-1][:10].sum())}


def generate(size: str, *, csv: bool | None = None, force: bool = False, log=print) -> dict:
    """Write the files of one size (skipped when present unless force); returns the meta."""
    n_events = SIZES[size]
    p = paths(size)
    csv = n_events <= 10_000_000 if csv is None else csv
    if not force and p["meta"].exists() and p["events"].exists() and p["users"].exists() \
            and (not csv or p["csv"].exists()):
        return data.ensure_clustered(f"skew-{size}", json.loads(p["meta"].read_text()), force=False)
    DATA.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    u = users_of(n_events)
    n_users = len(u["counts"])
    tmp = {k: v.with_suffix(v.suffix + ".tmp") for k, v in p.items()}
    ev_writer = us_writer = None
    row = tied = steps = 0
    sec_max = 0
    by_name = np.zeros(len(NAMES), np.int64)
    paths_seen = np.zeros(len(PATHS), bool)
    nulls: dict[str, int] = {}
    ranges = _chunks(u["counts"])
    for k, (lo, hi) in enumerate(ranges):
        table, facts = chunk(n_events, k, u, lo, hi, row)
        users = pa.table({"user_id": u["ids"].slice(lo, hi - lo),
                          "plan": _strings(PLANS, u["plan"][lo:hi])})
        row += table.num_rows
        tied += facts["tied"]
        steps += facts["step_events"]
        sec_max = max(sec_max, facts["sec_max"])
        by_name += facts["events_by_name"]
        paths_seen |= facts["paths_seen"]
        for name, v in facts["nulls"].items():
            nulls[name] = nulls.get(name, 0) + v
        if ev_writer is None:
            ev_writer = pq.ParquetWriter(tmp["events"], table.schema, compression="zstd")
            us_writer = pq.ParquetWriter(tmp["users"], users.schema, compression="zstd")
        ev_writer.write_table(table, row_group_size=ROW_GROUP)
        us_writer.write_table(users)
        del table
        if k % 10 == 9:
            log(f"  {size}: {row:,} / {n_events:,} events ({time.perf_counter() - t0:.0f}s)")
    ev_writer.close()
    us_writer.close()
    assert row == n_events
    tmp["events"].replace(p["events"])
    tmp["users"].replace(p["users"])
    t_parquet = time.perf_counter() - t0
    t_csv = None
    if csv:
        t1 = time.perf_counter()
        import duckdb
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET memory_limit = '2GB'")  # the sort spills beyond it
        spill = DATA / f"skew-csv-{size}.spill"
        con.execute(f"SET temp_directory = '{spill.as_posix()}'")
        con.execute(f"""COPY (SELECT user_id, event, strftime(ts, '%Y-%m-%dT%H:%M:%SZ') AS ts, event_id,
                               plan, country, path, amount, device
                        FROM read_parquet('{p["events"]}') ORDER BY ts, user_id, event, event_id)
                        TO '{tmp["csv"]}' (FORMAT csv, HEADER true)""")
        con.close()
        import shutil
        shutil.rmtree(spill, ignore_errors=True)
        tmp["csv"].replace(p["csv"])
        t_csv = time.perf_counter() - t1
    top = np.argsort(-by_name, kind="stable")
    meta = {"size": size, "events": n_events, "users": n_users, "seed": SEED, "kind": "skewed",
            "distribution": distribution(u["by_rank"]),
            "event_names": len(NAMES), "event_names_present": int((by_name > 0).sum()),
            "steps": list(STEPS), "step_events": steps,
            "top_events": {NAMES[i]: int(by_name[i]) for i in top[:10]},
            "step_event_counts": {s: int(by_name[i]) for i, s in enumerate(STEPS)},
            "tied_events": tied, "tied_share": round(tied / n_events, 4),
            "ties": "non-step events only; no step event shares its second with another event of its user",
            "span_days": SPAN // 86400, "start": "2024-03-01T00:00:00Z",
            "ts_max": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(START + sec_max)),
            "properties": ["plan", "country", "path", "amount", "device"],
            "null_share": {k: round(v / n_events, 4) for k, v in nulls.items()},
            "paths_present": int(paths_seen.sum()),
            "sorted_by": ["user_id", "ts", "event", "event_id"], "row_group_rows": ROW_GROUP,
            "chunks": len(ranges),
            "parquet_bytes": p["events"].stat().st_size,
            "users_parquet_bytes": p["users"].stat().st_size,
            "csv_bytes": p["csv"].stat().st_size if csv else None,
            "generate_parquet_s": round(t_parquet, 2),
            "generate_csv_s": round(t_csv, 2) if t_csv is not None else None}
    p["meta"].write_text(json.dumps(meta, indent=2) + "\n")
    return data.ensure_clustered(f"skew-{size}", meta, force=True)


if __name__ == "__main__":  # the sizes are data.py's: `python benchmarks/data.py --sizes skew-10m`
    data.main()
