"""Deterministic benchmark data: events (and users) at 1M, 10M and 100M events.

    .venv/bin/python benchmarks/data.py --sizes 1m,10m      # writes benchmarks/data/

What is generated (same seed -> byte-identical content):

- ``events-<size>.parquet``: ``user_id`` (text ``u00000123``), ``event`` (6 types),
  ``ts`` (timestamp[us, UTC], whole seconds, a 30-day span starting 2024-03-01),
  ``event_id`` (int64, unique). About 10 events per user (users = events / 10),
  exactly ``size`` rows. **Tie-free per user**: no user has two events at one
  second, so ClickHouse's ``windowFunnel`` levels are comparable with
  journeymap's ordered funnel (``order="ordered"``). Rows are **sorted by
  (user_id, ts)**, written in chunks of 100,000 users (row groups of 262,144
  rows). This file is the "stored form" every engine reads.
- ``users-<size>.parquet``: ``user_id`` and a trait ``plan`` (free / pro / team).
- ``events-<size>.csv`` (sizes up to 10m unless ``--csv``): the same events in
  time order (ts, user_id), ``ts`` as ISO 8601 ``...Z`` text; for the ingest run.
- ``events-clustered-<size>/``: the same events as journeymap's clustered
  (by user and time) stored form (what its fast path reads), written once from
  ``events-<size>.parquet`` by journeymap's own
  ``journeymap.store.clustered.build_clustered``: ``part-0.parquet`` (every column
  sorted by user_id, ts, event, event_id, plus ``_uid`` int32), ``core.arrow``
  (uncompressed Arrow IPC: ``_uid``, ``ts``, ``event`` as dictionary codes),
  ``users.arrow`` (user_id and first row per ``_uid``) and ``clustered.json``.
- ``events-<size>-by-time.parquet``: the same events in time order (ts, user_id),
  as an event log is appended: the ad-hoc funnel's other common file shape.
- ``meta-<size>.json``: counts, the time generation took, and the clustered
  copy's build time and file sizes (``clustered``; a meta written before the
  rename has ``ordered`` instead, and its copy is built again).

Events per user come from funnel attempts (visit -> signup -> activate ->
invite -> purchase with decreasing continuation and gaps of an hour to days,
so a 14-day window matters) plus background events (the six types, uniform in
the span). Memory stays bounded by one chunk: nothing holds all rows at once
(the clustered copy's sort is DuckDB's, capped by journeymap at 2 GB and spilling
beyond it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

DATA = Path(__file__).resolve().parent / "data"
SIZES = {"1m": 1_000_000, "10m": 10_000_000, "100m": 100_000_000,
         # skewed, realistic data (benchmarks/skewed.py): Zipf users, 300 names, properties, ties
         "skew-1m": 1_000_000, "skew-10m": 10_000_000}
SKEW = "skew-"
SEED = 20240301
EVENTS = ["visit", "signup", "activate", "invite", "purchase", "support"]
STEPS = EVENTS[:5]  # the funnel: visit -> signup -> activate -> invite -> purchase
BACKGROUND_P = [0.30, 0.10, 0.10, 0.10, 0.10, 0.30]
CONTINUE_P = [0.55, 0.65, 0.55, 0.60]  # chance an attempt goes on to the next step
GAP_MEANS = np.array([3600.0, 86400.0, 4 * 86400.0])  # seconds; an attempt draws one
START = 1_709_251_200  # 2024-03-01T00:00:00Z
SPAN = 30 * 86400
USERS_PER_CHUNK = 100_000
ROW_GROUP = 262_144
PLANS = np.array(["free", "pro", "team"])
PLAN_P = [0.7, 0.2, 0.1]
EVENT_DICT = pa.array(EVENTS)


def paths(size: str) -> dict[str, Path]:
    if size.startswith(SKEW):
        try:
            from benchmarks import skewed
        except ImportError:  # run as a script: this folder is first on sys.path
            import skewed
        return skewed.paths(size[len(SKEW):])
    return {"events": DATA / f"events-{size}.parquet", "users": DATA / f"users-{size}.parquet",
            "csv": DATA / f"events-{size}.csv", "meta": DATA / f"meta-{size}.json",
            "clustered": DATA / f"events-clustered-{size}",
            "by_time": DATA / f"events-{size}-by-time.parquet"}


def user_counts(n_events: int) -> np.ndarray:
    """Events per user: 1 + Poisson(9), nudged so they sum to exactly n_events."""
    n_users = n_events // 10
    rng = np.random.default_rng([SEED, n_events])
    counts = 1 + rng.poisson(9, n_users)
    diff = n_events - int(counts.sum())
    if diff > 0:
        counts[rng.choice(n_users, diff, replace=False)] += 1
    elif diff < 0:
        eligible = np.flatnonzero(counts >= 2)
        counts[rng.choice(eligible, -diff, replace=False)] -= 1
    assert counts.sum() == n_events and counts.min() >= 1
    return counts


def _user_ids(ids: np.ndarray) -> pa.Array:
    text = pc.utf8_lpad(pa.array(ids, pa.int64()).cast(pa.string()), 8, "0")
    return pc.binary_join_element_wise("u", text, "")


def chunk(n_events: int, k: int, lo: int, counts: np.ndarray, first_row: int) -> pa.Table:
    """Events of users lo .. lo+len(counts)-1, sorted by (user, ts), tie-free."""
    rng = np.random.default_rng([SEED, n_events, k])
    n = len(counts)
    local = np.arange(n)
    # funnel attempts: 90% of users make one, 30% another
    n_att = (rng.random(n) < 0.9).astype(np.int64) + (rng.random(n) < 0.3)
    att_user = np.repeat(local, n_att)
    go_on = rng.random((len(att_user), len(CONTINUE_P))) < np.array(CONTINUE_P)
    length = 1 + np.cumprod(go_on, axis=1).sum(axis=1)
    j_user = np.repeat(att_user, length)
    starts = np.concatenate(([0], np.cumsum(length)[:-1]))
    step = np.arange(len(j_user)) - np.repeat(starts, length)
    mean_gap = np.repeat(rng.choice(GAP_MEANS, len(att_user)), length)
    gap = np.where(step == 0, 0, np.ceil(rng.exponential(1.0, len(j_user)) * mean_gap))
    cs = np.cumsum(gap.astype(np.int64))
    offset = cs - np.repeat(cs[starts], length)
    j_sec = (np.repeat(rng.integers(0, SPAN, len(att_user)), length) + offset) % SPAN
    j_event = step
    # a user keeps at most counts[u] funnel events (in generation order)
    first_of_user = np.searchsorted(j_user, local)
    rank = np.arange(len(j_user)) - first_of_user[j_user]
    keep = rank < counts[j_user]
    j_user, j_sec, j_event = j_user[keep], j_sec[keep], j_event[keep]
    kept = np.bincount(j_user, minlength=n)
    # background events fill each user up to counts[u]
    b_user = np.repeat(local, counts - kept)
    b_sec = rng.integers(0, SPAN, len(b_user))
    b_event = rng.choice(len(EVENTS), len(b_user), p=BACKGROUND_P)
    user, sec, event, key = ordered_untied((j_user, b_user), (j_sec, b_sec), (j_event, b_event))
    r = np.arange(len(user), dtype=np.int64)
    assert len(user) == counts.sum() and (np.diff(key) > 0).all()
    return pa.table({
        "user_id": _user_ids(lo + user),
        "event": EVENT_DICT.take(pa.array(event)),
        "ts": pa.array((START + sec) * 1_000_000, pa.timestamp("us", tz="UTC")),
        "event_id": pa.array(first_row + r, pa.int64()),
    })


def users_chunk(n_events: int, k: int, lo: int, n: int) -> pa.Table:
    rng = np.random.default_rng([SEED, n_events, k, 1])
    plan = PLANS[rng.choice(len(PLANS), n, p=PLAN_P)]
    return pa.table({"user_id": _user_ids(np.arange(lo, lo + n)), "plan": pa.array(plan)})


def generate(size: str, *, csv: bool | None = None, force: bool = False, log=print) -> dict:
    """Write the files of one size (skipped when present unless force); returns the meta."""
    if size.startswith(SKEW):
        try:
            from benchmarks import skewed
        except ImportError:  # run as a script: this folder is first on sys.path
            import skewed
        p = paths(size)
        if not force and p["meta"].exists() and p["events"].exists():
            return ensure_clustered(size, json.loads(p["meta"].read_text()), force=False)
        return skewed.generate(size[len(SKEW):], csv=csv, force=force, log=log)
    n_events = SIZES[size]
    p = paths(size)
    csv = n_events <= 10_000_000 if csv is None else csv
    if not force and p["meta"].exists() and p["events"].exists() and p["users"].exists() \
            and (not csv or p["csv"].exists()):
        ensure_by_time(size, force=False)
        return ensure_clustered(size, json.loads(p["meta"].read_text()), force=False)
    DATA.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    counts = user_counts(n_events)
    n_users = len(counts)
    tmp = {k: v.with_suffix(v.suffix + ".tmp") for k, v in p.items()}
    ev_writer = us_writer = None
    row = 0
    for k, lo in enumerate(range(0, n_users, USERS_PER_CHUNK)):
        c = counts[lo:lo + USERS_PER_CHUNK]
        table = chunk(n_events, k, lo, c, row)
        users = users_chunk(n_events, k, lo, len(c))
        row += table.num_rows
        if ev_writer is None:
            ev_writer = pq.ParquetWriter(tmp["events"], table.schema, compression="zstd")
            us_writer = pq.ParquetWriter(tmp["users"], users.schema, compression="zstd")
        ev_writer.write_table(table, row_group_size=ROW_GROUP)
        us_writer.write_table(users)
        if k % 10 == 9:
            log(f"  {size}: {row:,} / {n_events:,} events ({time.perf_counter() - t0:.0f}s)")
    ev_writer.close()
    us_writer.close()
    tmp["events"].replace(p["events"])
    tmp["users"].replace(p["users"])
    t_parquet = time.perf_counter() - t0
    t_csv = None
    if csv:
        t1 = time.perf_counter()
        import duckdb
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"""COPY (SELECT user_id, event, strftime(ts, '%Y-%m-%dT%H:%M:%SZ') AS ts, event_id
                        FROM read_parquet('{p["events"]}') ORDER BY ts, user_id)
                        TO '{tmp["csv"]}' (FORMAT csv, HEADER true)""")
        con.close()
        tmp["csv"].replace(p["csv"])
        t_csv = time.perf_counter() - t1
    meta = {"size": size, "events": n_events, "users": n_users, "seed": SEED,
            "event_types": EVENTS, "span_days": SPAN // 86400, "start": "2024-03-01T00:00:00Z",
            "sorted_by": ["user_id", "ts"], "row_group_rows": ROW_GROUP,
            "parquet_bytes": p["events"].stat().st_size,
            "csv_bytes": p["csv"].stat().st_size if csv else None,
            "generate_parquet_s": round(t_parquet, 2),
            "generate_csv_s": round(t_csv, 2) if t_csv is not None else None}
    p["meta"].write_text(json.dumps(meta, indent=2) + "\n")
    ensure_by_time(size, force=True)
    return ensure_clustered(size, meta, force=True)


def ensure_by_time(size: str, *, force: bool) -> None:
    """events-<size>-by-time.parquet: the same events in time order (ts, user_id), as an
    event log is appended (row groups and compression as the user-ordered file)."""
    p = paths(size)
    if p["by_time"].exists() and not force:
        return
    import duckdb
    tmp = p["by_time"].with_suffix(".parquet.tmp")
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(f"""COPY (SELECT * FROM read_parquet('{p["events"]}') ORDER BY ts, user_id)
                    TO '{tmp}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP})""")
    con.close()
    tmp.replace(p["by_time"])


def ensure_clustered(size: str, meta: dict, *, force: bool) -> dict:
    """Build events-clustered-<size>/ with journeymap's `build_clustered` once (again when
    missing or forced); its build time and sizes go into the meta."""
    p = paths(size)
    folder = p["clustered"]
    former = DATA / f"events-ordered-{size}"  # the folder's name before the rename
    former.with_suffix(".parquet").unlink(missing_ok=True)  # the former single-file form
    facts = meta.get("clustered") or {}  # a meta from before the rename has "ordered": rebuilt
    if not force and facts.get("rows") == meta["events"] and _is_clustered_copy(folder):
        return meta
    import ibis

    from journeymap.store import clustered
    from journeymap.store.schema import USER_ORDER
    t0 = time.perf_counter()
    con = ibis.duckdb.connect()
    clustered.build_clustered(con, con.read_parquet(str(p["events"])), folder,
                              fingerprint=f"benchmarks {size}")
    con.disconnect()
    build_s = time.perf_counter() - t0
    if former.is_dir():  # written by an older journeymap (ordered.json): superseded
        shutil.rmtree(former)
    files = {f.name: f.stat().st_size for f in sorted(folder.iterdir())}
    stamp = json.loads((folder / clustered.STAMP).read_text())
    meta = {k: v for k, v in meta.items()
            if k not in ("ordered", "clustered") and not k.startswith(("ordered_", "generate_ordered"))}
    meta["clustered"] = {"folder": folder.name, "build": "journeymap.store.clustered.build_clustered",
                         "build_s": round(build_s, 2), "rows": stamp["rows"],
                         "bytes": sum(files.values()), "files": files,
                         "sorted_by": list(USER_ORDER), "row_group_rows": clustered.ROW_GROUP}
    p["meta"].write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _is_clustered_copy(folder: Path) -> bool:
    from journeymap.errors import EngineError
    from journeymap.store.clustered import ClusteredEvents
    try:
        ClusteredEvents.open(folder)
    except EngineError:
        return False
    return True


def ordered_untied(users, secs, events):
    """The concatenated (user, second, event) rows in (user, second, event) order, each
    repeated second of a user pushed one past its predecessor (running max of
    key - rank): no two events of a user share a second. Returns user, sec, event, key."""
    user = np.concatenate(users).astype(np.int64)
    sec = np.concatenate(secs).astype(np.int64)
    event = np.concatenate(events).astype(np.int32)
    order = np.lexsort((event, sec, user))
    user, sec, event = user[order], sec[order], event[order]
    key = user * 10**8 + sec
    r = np.arange(len(key), dtype=np.int64)
    key = np.maximum.accumulate(key - r) + r
    return user, key - user * 10**8, event, key


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1m,10m")
    ap.add_argument("--csv", action="store_true", help="also write the CSV at 100m")
    ap.add_argument("--force", action="store_true", help="regenerate existing files")
    args = ap.parse_args(argv)
    for size in args.sizes.split(","):
        meta = generate(size, csv=True if args.csv else None, force=args.force)
        print(json.dumps(meta))


if __name__ == "__main__":
    main()
