"""What is measured: one function per contender, each run alone in a fresh process.

Each contender has `setup()` (imports; timed apart as `import_s`) and
`run(size)` -> result dict (timed as the run's wall time). Every run starts from
the stored form on disk (benchmarks/data/events-<size>.parquet, or the CSV for
ingest) and ends with plain Python numbers, so nothing is pre-loaded or cached
across contenders.

The funnel: 5 ordered steps visit -> signup -> activate -> invite -> purchase,
14-day window from the first step (inclusive), each person counted once by
their furthest level: ClickHouse `windowFunnel` semantics, which journeymap's
`order="ordered"` promises to equal on tie-free data (the generated data are
tie-free). `counts[k-1]` = persons reaching at least step k.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from benchmarks.data import DATA, STEPS, paths

HERE = Path(__file__).resolve().parent
JOURNEY = HERE / "journey.yaml"
WINDOW_S = 14 * 86400
OPEN_WINDOW_S = 40 * 86400  # longer than the 30-day span: a funnel with no window


def _levels_to_counts(level_counts: dict[int, int], n: int = len(STEPS)) -> list[int]:
    return [sum(c for lvl, c in level_counts.items() if lvl >= k) for k in range(1, n + 1)]


def ws_dir(size: str) -> Path:
    return DATA / f"ws-{size}"


# ---- journeymap -------------------------------------------------------------------
def jm_setup():
    import ibis  # noqa: F401
    import journeymap  # noqa: F401
    import journeymap.measure.kernels  # noqa: F401


def jm_funnel(size: str) -> dict:
    import ibis
    import journeymap
    con = ibis.duckdb.connect()
    events = con.read_parquet(str(paths(size)["events"]))
    res = journeymap.funnel(events, STEPS, window="14d")
    return {"counts": res.counts}


def jm_measure(size: str) -> dict:
    import ibis
    import journeymap
    con = ibis.duckdb.connect()
    p = paths(size)
    events = con.read_parquet(str(p["events"]))
    users = con.read_parquet(str(p["users"]))
    res = journeymap.measure(JOURNEY.read_text(), events, users=users)
    return _map_summary(res)


def _map_summary(res) -> dict:
    return {"entered": [s.entered for s in res.stages],
            "personas": {p: [s.entered for s in rows] for p, rows in res.personas.items()},
            "leaks": len(res.leaks), "findings": len(res.findings)}


def jm_ingest(size: str) -> dict:
    from journeymap.store.eventstore import EventStore
    from journeymap.store.readers import load_events
    ws = ws_dir(size)
    if ws.exists():
        shutil.rmtree(ws)
    root = ws / "store"
    t0 = time.perf_counter()
    read = load_events(paths(size)["csv"])
    t1 = time.perf_counter()
    stats = EventStore(root).append(read.events)
    t2 = time.perf_counter()
    n = read.events.num_rows
    return {"rows": n, "added": stats.added, "duplicates": stats.duplicates,
            "load_events_s": round(t1 - t0, 3), "append_s": round(t2 - t1, 3),
            "events_per_s": round(n / (t2 - t0)), "timed_s": t2 - t0}


def prepare_workspace(size: str) -> None:
    """After the (timed) ingest: users into the store and the workspace files. Not timed."""
    import pyarrow.parquet as pq
    from journeymap.store.eventstore import EventStore
    from journeymap.store.workspace import JOURNEY as JOURNEY_FILE
    from journeymap.store.workspace import SETTINGS as SETTINGS_FILE
    ws = ws_dir(size)
    store = EventStore(ws / "store")
    users = pq.read_table(paths(size)["users"])
    events = pq.read_schema(paths(size)["events"]).empty_table()
    store.append(events, users=users)
    # Workspace.init refuses a non-empty folder: write its two files directly
    (ws / JOURNEY_FILE).write_text(JOURNEY.read_text())
    (ws / SETTINGS_FILE).write_text(json.dumps({"engine": "duckdb"}) + "\n")


def jm_ws_measure(size: str) -> dict:
    """journeymap.open(ws).measure() twice: cold, then (if the workspace caches) from cache."""
    import inspect
    import journeymap
    ws = ws_dir(size)
    if not (ws / "store" / "manifest.json").exists():
        raise RuntimeError(f"no ingested store at {ws}: run jm_ingest first")
    if not (ws / "journey.yml").exists():
        prepare_workspace(size)
    shutil.rmtree(ws / ".cache", ignore_errors=True)
    project = journeymap.open(ws)
    has_cache = "cache" in inspect.signature(project.measure).parameters
    t0 = time.perf_counter()
    first = project.measure()
    t1 = time.perf_counter()
    second = journeymap.open(ws).measure()
    t2 = time.perf_counter()
    out = _map_summary(first)
    out.update({"has_cache": has_cache, "cold_s": round(t1 - t0, 3), "second_s": round(t2 - t1, 4),
                "second_equal": _map_summary(second) == _map_summary(first),
                "cache_files": len(list((ws / ".cache").glob("*.pickle"))),
                "timed_s": t1 - t0})
    return out


def _instrumented_funnel(size: str) -> dict:
    """journeymap.funnel's own steps (funnel -> flagged_rows -> iter_batches -> kernel),
    each phase timed; the loop of `iter_batches` is repeated here with timers."""
    import ibis
    import pyarrow as pa
    import pyarrow.compute as pc
    from journeymap.measure import funnel as fm
    from journeymap.measure import sequences as sq
    from journeymap.measure.predicates import rule
    from journeymap.measure.steps import as_rule, window_us
    from journeymap.store.frames import as_events

    times: dict[str, float] = {}

    def lap(name, t):
        times[name] = times.get(name, 0.0) + time.perf_counter() - t

    t_all = time.perf_counter()
    t = time.perf_counter()
    con = ibis.duckdb.connect()
    events = con.read_parquet(str(paths(size)["events"]))
    lap("connect + read_parquet (Ibis)", t)
    t = time.perf_counter()
    table = as_events(events)
    rules = [as_rule(s) for s in STEPS]
    flags = [rule(table, r) for r in rules]
    query = sq.flagged_rows(table, flags)
    lap("Ibis expression build", t)
    t = time.perf_counter()
    sql = ibis.to_sql(query, dialect="duckdb")
    lap("Ibis compile to SQL", t)
    n, win = len(rules), window_us("14d")
    parts = []
    pending, pending_rows, rows_streamed, n_batches = [], 0, 0, 0
    batch_rows = sq.BATCH_ROWS

    def consume(tb):
        nonlocal n_batches
        t = time.perf_counter()
        b = sq._to_batch(tb, [])
        lap("Arrow -> numpy batch (_to_batch)", t)
        t = time.perf_counter()
        parts.append(fm._run_batch(b, fm.ORDERS["ordered"], n, win, [], None))
        lap("numba kernel + per-batch results (_run_batch)", t)
        n_batches += 1

    t = time.perf_counter()
    it = iter(query.to_pyarrow_batches(chunk_size=batch_rows))
    while True:
        rb = next(it, None)
        lap("DuckDB execute: scan + filter + sort + Arrow export (waiting for batches)", t)
        if rb is None:
            break
        rows_streamed += rb.num_rows
        if rb.num_rows:
            pending.append(rb)
            pending_rows += rb.num_rows
        if pending_rows >= batch_rows:
            t = time.perf_counter()
            tb = pa.Table.from_batches(pending)
            keep = pc.equal(tb["user_id"], tb["user_id"][-1])
            head, tail = tb.filter(pc.invert(keep)), tb.filter(keep)
            pending, pending_rows = tail.to_batches(), tail.num_rows
            lap("user-aligned split", t)
            if head.num_rows:
                consume(head)
        t = time.perf_counter()
    if pending_rows:
        consume(pa.Table.from_batches(pending))
    t = time.perf_counter()
    users, levels, _, _ = fm._concat(parts, n, None)
    counts = [int((levels >= k).sum()) for k in range(1, n + 1)]
    lap("concat + counts", t)
    total = time.perf_counter() - t_all
    return {"counts": counts, "phases_s": {k: round(v, 3) for k, v in times.items()},
            "total_s": round(total, 3), "rows_streamed": rows_streamed, "batches": n_batches,
            "users": len(users), "sql": sql, "con": con}


def jm_funnel_profile(size: str) -> dict:
    """journeymap.funnel taken apart, twice in one process (cold, then warm).

    Phases: Ibis connect/read; expression build; SQL compile; DuckDB execution
    (scan + filter + sort + Arrow export, i.e. time spent waiting for the next
    record batch); user-aligned batching; Arrow->numpy (`_to_batch`); the
    numba kernel and result assembly. Then DuckDB's own operator profile of
    the same SQL (one more execution) and the same query without ORDER BY, to
    size the sort.
    """
    cold = _instrumented_funnel(size)
    cold.pop("con")
    warm = _instrumented_funnel(size)
    con, sql = warm.pop("con"), warm["sql"]
    import duckdb
    db = con.con if hasattr(con, "con") else duckdb.connect()
    prof_path = DATA / f"duckdb-profile-{size}.json"
    db.execute("PRAGMA enable_profiling='json'")
    db.execute(f"PRAGMA profiling_output='{prof_path}'")
    t = time.perf_counter()
    db.execute(sql).fetch_arrow_table()
    sql_full_s = time.perf_counter() - t
    db.execute("PRAGMA disable_profiling")
    operators = _duckdb_operators(prof_path)
    unsorted = sql.rsplit("ORDER BY", 1)[0] if "ORDER BY" in sql else sql
    t = time.perf_counter()
    db.execute(unsorted).fetch_arrow_table()
    sql_unsorted_s = time.perf_counter() - t
    return {"counts": warm["counts"], "cold": cold, "warm": warm, "sql": sql,
            "duckdb_sql_to_arrow_s": round(sql_full_s, 3),
            "duckdb_sql_unsorted_to_arrow_s": round(sql_unsorted_s, 3),
            "duckdb_operators_s": operators, "timed_s": cold["total_s"]}


def _duckdb_operators(path: Path) -> dict:
    """Operator name -> seconds (summed) from DuckDB's JSON profile."""
    try:
        prof = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    out: dict[str, float] = {}

    def walk(node):
        name = node.get("operator_name") or node.get("operator_type") or node.get("name")
        timing = node.get("operator_timing", node.get("timing"))
        if name and isinstance(timing, (int, float)):
            name = name.strip()
            out[name] = out.get(name, 0.0) + timing
        for child in node.get("children", []):
            walk(child)

    walk(prof)
    out = {k: round(v, 3) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}
    if "latency" in prof:
        out["(query latency)"] = round(prof["latency"], 3)
    return out


# ---- chdb (embedded ClickHouse) ---------------------------------------------------------
def chdb_setup():
    import chdb  # noqa: F401


def _chdb_levels(size: str, window_s: int) -> dict:
    import chdb
    conds = ", ".join(f"event = '{s}'" for s in STEPS)
    sql = f"""
        SELECT level, count() AS n FROM (
            SELECT user_id, windowFunnel({window_s})(toDateTime(ts), {conds}) AS level
            FROM file('{paths(size)["events"]}', Parquet)
            GROUP BY user_id)
        GROUP BY level ORDER BY level"""
    out = chdb.query(sql, "ArrowTable")
    levels = dict(zip(out["level"].to_pylist(), out["n"].to_pylist()))
    return {"counts": _levels_to_counts(levels), "levels": {str(k): v for k, v in levels.items()}}


def chdb_funnel(size: str) -> dict:
    return _chdb_levels(size, WINDOW_S)


def chdb_funnel_open(size: str) -> dict:
    """The reference for retentioneering's funnel, which has no window."""
    return _chdb_levels(size, OPEN_WINDOW_S)


# ---- DuckDB, plain SQL ----------------------------------------------------------------------
def duckdb_setup():
    import duckdb  # noqa: F401


def duckdb_sql(path: str, window_s: int = WINDOW_S) -> str:
    """windowFunnel semantics in plain SQL with chained ASOF joins.

    For every step-1 event (a possible start), the greedy chain is the best one
    from that start: the earliest step-2 event after it, then the earliest
    step-3 event after that, ... each within `window_s` of the start. `live_k`
    holds the chains that reached step k; users reaching step k = distinct
    users in `live_k`. (Chains that stopped are dropped rather than carried
    with a NULL time: DuckDB 1.5's ASOF LEFT JOIN matched NULL left keys to
    rows on this data, which would overcount.)
    """
    steps = ", ".join(f"'{s}'" for s in STEPS)
    parts = [f"ev AS (SELECT user_id, event, epoch(ts)::BIGINT AS t FROM read_parquet('{path}') "
             f"WHERE event IN ({steps}))"]
    for k, s in enumerate(STEPS, start=1):
        parts.append(f"s{k} AS (SELECT user_id, t FROM ev WHERE event = '{s}')")
    parts.append("live1 AS (SELECT user_id, t AS t1, t AS cur FROM s1)")
    for k in range(2, len(STEPS) + 1):
        parts.append(
            f"live{k} AS (SELECT c.user_id, c.t1, s.t AS cur FROM live{k - 1} c "
            f"ASOF JOIN s{k} s ON c.user_id = s.user_id AND c.cur < s.t "
            f"WHERE s.t - c.t1 <= {window_s})")
    counts = " UNION ALL ".join(f"SELECT {k} AS step, count(DISTINCT user_id) AS n FROM live{k}"
                                for k in range(1, len(STEPS) + 1))
    return "WITH " + ",\n".join(parts) + f"\n{counts}\nORDER BY step"


def duckdb_funnel(size: str) -> dict:
    import duckdb
    con = duckdb.connect()
    rows = con.execute(duckdb_sql(str(paths(size)["events"]))).fetchall()
    return {"counts": [int(n) for _, n in sorted(rows)]}


# ---- pandas -----------------------------------------------------------------------------------
def pandas_setup():
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401


def pandas_funnel(size: str) -> dict:
    """The same greedy-chain-per-start algorithm with merge_asof (forward, strict)."""
    import numpy as np
    import pandas as pd
    df = pd.read_parquet(paths(size)["events"], columns=["user_id", "event", "ts"],
                         filters=[("event", "in", STEPS)])
    uid, _ = pd.factorize(df["user_id"])
    t = df["ts"].to_numpy().astype("datetime64[s]").astype(np.int64)
    ev = df["event"].to_numpy()
    del df
    step_frames = []
    for s in STEPS:
        sel = ev == s
        f = pd.DataFrame({"u": uid[sel], "ts": t[sel]}).sort_values("ts", kind="stable")
        step_frames.append(f)
    starts = step_frames[0]
    done = []  # (u, level) of chains that stopped
    cur = pd.DataFrame({"u": starts["u"].to_numpy(), "t1": starts["ts"].to_numpy(),
                        "cur": starts["ts"].to_numpy()})
    level = 1
    for k in range(1, len(STEPS)):
        cur = cur.sort_values("cur", kind="stable")
        m = pd.merge_asof(cur, step_frames[k].rename(columns={"ts": "nxt"}), left_on="cur",
                          right_on="nxt", by="u", direction="forward", allow_exact_matches=False)
        ok = m["nxt"].notna().to_numpy() & ((m["nxt"] - m["t1"]).to_numpy() <= WINDOW_S)
        done.append(pd.DataFrame({"u": m["u"].to_numpy()[~ok], "level": level}))
        cur = pd.DataFrame({"u": m["u"].to_numpy()[ok], "t1": m["t1"].to_numpy()[ok],
                            "cur": m["nxt"].to_numpy()[ok].astype(np.int64)})
        level += 1
    done.append(pd.DataFrame({"u": cur["u"].to_numpy(), "level": level}))
    per_user = pd.concat(done).groupby("u")["level"].max()
    levels = {int(k): int(v) for k, v in per_user.value_counts().items()}
    return {"counts": _levels_to_counts(levels), "levels": {str(k): v for k, v in sorted(levels.items())}}


# ---- retentioneering ---------------------------------------------------------------------
def rete_setup():
    import os
    os.environ.setdefault("RETENTIONEERING_NO_TRACK", "1")
    import pandas  # noqa: F401
    import retentioneering  # noqa: F401


def rete_funnel(size: str) -> dict:
    """retentioneering's Funnel (funnel_data): ordered steps, NO window, per path (user)."""
    import pandas as pd
    from retentioneering import Eventstream
    df = pd.read_parquet(paths(size)["events"], columns=["user_id", "event", "ts"])
    stream = Eventstream(df, schema={"timestamp_col": "ts"})
    res = stream.funnel_data(STEPS)
    return {"counts": [int(s["unique_paths"]) for s in res["steps"]]}


@dataclass(frozen=True)
class Contender:
    name: str
    task: str  # funnel14d | funnel_open | measure | ingest | ws_measure | profile
    setup: Callable
    run: Callable
    label: str
    max_size: int | None = None  # events; larger sizes are skipped
    timeout_s: float = 3600
    repeatable: bool = True
    note: str = ""
    extra: dict = field(default_factory=dict)


CONTENDERS = [
    Contender("jm_funnel", "funnel14d", jm_setup, jm_funnel, "journeymap.funnel (Ibis/DuckDB + numba)"),
    Contender("chdb_funnel", "funnel14d", chdb_setup, chdb_funnel, "chdb windowFunnel"),
    Contender("duckdb_funnel", "funnel14d", duckdb_setup, duckdb_funnel, "DuckDB SQL (ASOF chain)"),
    Contender("pandas_funnel", "funnel14d", pandas_setup, pandas_funnel, "pandas merge_asof chain",
              max_size=10_000_000, timeout_s=1200, repeatable=False,
              note="skipped above 10M: holds every step event as pandas objects"),
    Contender("chdb_funnel_open", "funnel_open", chdb_setup, chdb_funnel_open,
              "chdb windowFunnel, 40-day window (= no window)", max_size=10_000_000),
    Contender("rete_funnel", "funnel_open", rete_setup, rete_funnel,
              "retentioneering Eventstream.funnel_data (no window)", max_size=10_000_000,
              timeout_s=1800, repeatable=False, note="run at 1M/10M only (per the brief)"),
    Contender("jm_measure", "measure", jm_setup, jm_measure, "journeymap.measure (7 stages, 2 personas)"),
    Contender("jm_ingest", "ingest", jm_setup, jm_ingest, "journeymap load_events + EventStore.append (CSV)",
              max_size=10_000_000, repeatable=False,
              note="CSV written for sizes up to 10M only (load_events holds the whole file as Arrow)"),
    Contender("jm_ws_measure", "ws_measure", jm_setup, jm_ws_measure,
              "journeymap.open(ws).measure(): cold, then again", max_size=10_000_000, repeatable=False),
    Contender("jm_funnel_profile", "profile", jm_setup, jm_funnel_profile,
              "journeymap.funnel phases (profile)", repeatable=False),
]
BY_NAME = {c.name: c for c in CONTENDERS}
