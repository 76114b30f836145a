"""What is measured: one function per contender, each run alone in a fresh process.

Each contender has `setup()` (imports; timed apart as `import_s`) and
`run(size)` -> result dict (timed as the run's wall time). Every run starts from
the stored form on disk (benchmarks/data/events-<size>.parquet, the CSV for
ingest, or the clustered folder events-clustered-<size>/ for the fast path)
and ends with plain Python numbers, so nothing is pre-loaded or cached across
contenders.

The funnel: 5 ordered steps visit -> signup -> activate -> invite -> purchase,
14-day window from the first step (inclusive), each person counted once by
their furthest level: ClickHouse `windowFunnel` semantics, which journeymap's
`order="ordered"` promises to equal on tie-free data (the generated data are
tie-free). `counts[k-1]` = persons reaching at least step k.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
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


def jm_funnel_by_time(size: str) -> dict:
    """The ad-hoc funnel on a Parquet file in time order (not in user order: the engine sorts)."""
    import ibis

    import journeymap
    by_time = paths(size).get("by_time")
    if by_time is None:
        raise FileNotFoundError(f"no file in time order at size {size} (uniform sizes only)")
    events = ibis.duckdb.connect().read_parquet(str(by_time))
    return {"counts": journeymap.funnel(events, STEPS, window="14d").counts}


_FRAMES: dict = {}


def jm_funnel_frame(size: str) -> dict:
    """The funnel on a pandas DataFrame in user order (cold: pd.read_parquet included,
    then the DataFrame stays in memory for the warm runs)."""
    import pandas as pd

    import journeymap
    if size not in _FRAMES:
        _FRAMES[size] = pd.read_parquet(paths(size)["events"])
    return {"counts": journeymap.funnel(_FRAMES[size], STEPS, window="14d").counts}


def jm_funnel_arrow(size: str) -> dict:
    """The funnel on an Arrow table in user order, held in memory (cold: the Parquet read
    included, then the table stays in memory for the warm runs)."""
    import pyarrow.parquet as pq

    import journeymap
    key = ("arrow", size)
    if key not in _FRAMES:
        _FRAMES[key] = pq.read_table(paths(size)["events"])
    return {"counts": journeymap.funnel(_FRAMES[key], STEPS, window="14d").counts}


def jm_funnel_polars(size: str) -> dict:
    """The funnel on a polars DataFrame in user order (cold: pl.read_parquet included)."""
    import polars as pl

    import journeymap
    key = ("polars", size)
    if key not in _FRAMES:
        _FRAMES[key] = pl.read_parquet(paths(size)["events"])
    return {"counts": journeymap.funnel(_FRAMES[key], STEPS, window="14d").counts}


def jm_measure(size: str) -> dict:
    import ibis

    import journeymap
    con = ibis.duckdb.connect()
    p = paths(size)
    events = con.read_parquet(str(p["events"]))
    users = con.read_parquet(str(p["users"]))
    res = journeymap.measure(JOURNEY.read_text(), events, users=users)
    return _map_summary(res)


def jm_warmup(size: str) -> dict:
    """Tiny funnel, measure, transitions and top paths, through Ibis and through a tiny
    clustered copy, so numba compiles (or loads) every kernel into its cache.
    Run before each journeymap contender, so no measured run pays for a compile even
    when kernels.py changed meanwhile."""
    import tempfile

    import ibis
    import pandas as pd

    import journeymap
    from journeymap.measure._feed.traces import event_stream
    from journeymap.measure.paths.top_paths import top_paths
    from journeymap.store.clustered import ClusteredEvents, build_clustered
    # every step event is in the data: journeymap.funnel refuses a step event the data lack
    names = [*STEPS, "visit", "support"]  # user a does every step, user b two other events
    ev = pd.DataFrame({"user_id": ["a"] * len(STEPS) + ["b", "b"], "event": names,
                       "ts": pd.to_datetime([f"2024-03-0{d}" for d in range(1, len(STEPS) + 1)]
                                            + ["2024-03-01", "2024-03-02"], utc=True),
                       "event_id": list(range(1, len(names) + 1))})
    users = pd.DataFrame({"user_id": ["a", "b"], "plan": ["free", "pro"]})
    counts = journeymap.funnel(ev, STEPS, window="14d").counts
    journeymap.measure(JOURNEY.read_text(), ev, users=users)
    with tempfile.TemporaryDirectory() as tmp:
        ev.to_parquet(Path(tmp) / "events.parquet")
        con = ibis.duckdb.connect()
        build_clustered(con, con.read_parquet(str(Path(tmp) / "events.parquet")), Path(tmp) / "clustered")
        src = ClusteredEvents.open(Path(tmp) / "clustered", con=con)
        assert journeymap.funnel(src, STEPS, window="14d").counts == counts
        journeymap.measure(JOURNEY.read_text(), src, users=users)
        journeymap.transitions(src)
        top_paths(event_stream(src), depth=PATH_DEPTH, top=PATH_TOP)
    return {"counts": counts}


def _map_summary(res) -> dict:
    return {"entered": [s.entered for s in res.stages],
            "personas": {p: [s.entered for s in rows] for p, rows in res.personas.items()},
            "leaks": len(res.leaks), "findings": len(res.findings)}


def jm_ingest(size: str) -> dict:
    """EventStore.ingest of the CSV: read, type, validate, hash, de-duplicate, write, commit."""
    from journeymap.store.eventstore import EventStore
    ws = ws_dir(size)
    if ws.exists():
        shutil.rmtree(ws)
    t0 = time.perf_counter()
    stats = EventStore(ws / "store").ingest(paths(size)["csv"])
    t1 = time.perf_counter()
    n = stats.added + stats.duplicates
    return {"rows": n, "added": stats.added, "duplicates": stats.duplicates,
            "ingest_s": round(t1 - t0, 3), "events_per_s": round(n / (t1 - t0)), "timed_s": t1 - t0}


def prepare_workspace(size: str) -> None:
    """After the (timed) ingest: users into the store and the workspace files. Not timed."""
    import pyarrow.parquet as pq

    from journeymap.store.eventstore import EventStore
    from journeymap.store.folder import JOURNEY as JOURNEY_FILE
    from journeymap.store.folder import SETTINGS as SETTINGS_FILE
    ws = ws_dir(size)
    store = EventStore(ws / "store")
    users = pq.read_table(paths(size)["users"])
    events = pq.read_schema(paths(size)["events"]).empty_table()
    store.append(events, users=users)
    # WorkspaceFolder.init refuses a non-empty folder: write its two files directly
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
    workspace = journeymap.open(ws)
    has_cache = "cache" in inspect.signature(workspace.measure).parameters
    t0 = time.perf_counter()
    first = workspace.measure()
    t1 = time.perf_counter()
    second = journeymap.open(ws).measure()
    t2 = time.perf_counter()
    out = _map_summary(first)
    out.update({"has_cache": has_cache, "cold_s": round(t1 - t0, 3), "second_s": round(t2 - t1, 4),
                "second_equal": _map_summary(second) == _map_summary(first),
                "cache_files": len(list((ws / ".cache").glob("*.pickle"))),
                "timed_s": t1 - t0})
    return out


class _Phases:
    """Exclusive wall time per phase: a timed call nested in another is taken out of it."""

    def __init__(self):
        self.times: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.stack: list[list] = []  # [key, start, child_time]
        self.undo: list = []
        self.seen: dict[str, object] = {}

    def _enter(self, key):
        self.stack.append([key, time.perf_counter(), 0.0])

    def _exit(self):
        key, start, child = self.stack.pop()
        elapsed = time.perf_counter() - start
        self.times[key] = self.times.get(key, 0.0) + elapsed - child
        self.calls[key] = self.calls.get(key, 0) + 1
        if self.stack:
            self.stack[-1][2] += elapsed

    def wrap(self, owner, name: str, key: str, *, generator=False, keep_arg=False) -> bool:
        """Replace owner.name with a timed version (a generator: each next() is timed)."""
        orig = getattr(owner, name, None)
        if orig is None:
            return False
        own = not isinstance(owner, type) or name in owner.__dict__
        phases = self

        if generator:
            def timed(*a, **k):
                phases._enter(key)
                try:
                    it = iter(orig(*a, **k))
                finally:
                    phases._exit()
                while True:
                    phases._enter(key)
                    try:
                        item = next(it)
                    except StopIteration:
                        return
                    finally:
                        phases._exit()
                    yield item
        else:
            def timed(*a, **k):
                if keep_arg:
                    phases.seen[key] = a[1] if len(a) > 1 else k
                phases._enter(key)
                try:
                    return orig(*a, **k)
                finally:
                    phases._exit()
        setattr(owner, name, timed)
        self.undo.append((owner, name, orig if own else None))
        return True

    def restore(self):
        for owner, name, orig in reversed(self.undo):
            if orig is None:
                delattr(owner, name)  # it was inherited: drop the shadowing wrapper
            else:
                setattr(owner, name, orig)
        self.undo.clear()


PHASE_NAMES = {
    "source": "as_source (events as given -> an event source: TableEvents over the Ibis table)",
    "compile": "Ibis compile to SQL",
    "execute": "DuckDB: to_pyarrow_batches() call (execute: scan, filter, sort, first batch)",
    "stream": "DuckDB: later Arrow batches from its reader (next(), inside the flag-query generator)",
    "progress": "progress reports",
    "to_batch": "Arrow -> numpy user batch (_to_batch)",
    "kernel": "numba kernels on user ranges in parallel threads (over_ranges: funnel_ordered, "
              "then the kept users' step times)",
    "run_batch": "per-batch results around the kernel (_run_batch)",
    "concat": "results gathered (Gather.result: kept users' ids joined)",
}


def _profiled_funnel(size: str) -> dict:
    """Run the real journeymap.funnel with its internals wrapped by timers.

    Whatever internal is missing in this version of journeymap is simply not
    timed (its time shows up under "not attributed")."""
    import ibis
    import ibis.backends.duckdb as ibd

    import journeymap
    from journeymap import api
    from journeymap.measure._feed import batches as sq
    from journeymap.measure._feed.gather import Gather
    from journeymap.measure.funnel import funnel as fm

    ph = _Phases()
    # each name is patched where its caller looks it up: journeymap.funnel is api.funnel,
    # which makes the source (api.as_source) and calls measure.funnel.funnel (fm), which
    # streams batches through measure._feed.batches (sq)
    got = {
        "source": ph.wrap(api, "as_source", "source") | ph.wrap(fm, "as_source", "source")
        | ph.wrap(sq, "as_source", "source"),
        "compile": ph.wrap(ibd.Backend, "compile", "compile", keep_arg=True),
        "execute": ph.wrap(ibd.Backend, "to_pyarrow_batches", "execute", keep_arg=True),
        "stream": ph.wrap(sq, "_ibis_tables", "stream", generator=True),
        "progress": ph.wrap(sq, "report", "progress"),
        "to_batch": ph.wrap(sq, "_to_batch", "to_batch"),
        "kernel": ph.wrap(fm, "over_ranges", "kernel"),  # the kernel's threads, timed from outside
        "run_batch": ph.wrap(fm, "_run_batch", "run_batch"),
        "concat": ph.wrap(Gather, "result", "concat"),
    }
    try:
        t0 = time.perf_counter()
        con = ibis.duckdb.connect()
        events = con.read_parquet(str(paths(size)["events"]))
        t_connect = time.perf_counter() - t0
        t1 = time.perf_counter()
        res = journeymap.funnel(events, STEPS, window="14d")
        total = time.perf_counter() - t1
    finally:
        ph.restore()
    phases = {PHASE_NAMES[k]: round(v, 3) for k, v in ph.times.items()}
    phases["not attributed (funnel() glue, user-aligned split, rules)"] = round(
        total - sum(ph.times.values()), 3)
    expr = ph.seen.get("execute")
    expr = ph.seen.get("compile") if expr is None else expr
    sql = None
    if expr is not None and hasattr(expr, "op"):
        sql = ibis.to_sql(expr, dialect="duckdb")
    return {"counts": res.counts, "connect_read_parquet_s": round(t_connect, 3),
            "total_s": round(total, 3), "phases_s": phases, "calls": ph.calls,
            "wrapped": [k for k, ok in got.items() if ok], "users": len(res.users),
            "sql": sql, "con": con}


def _profiled_measure(size: str) -> dict:
    """journeymap.measure with its top-level steps wrapped by timers (exclusive time)."""
    import ibis

    import journeymap
    from journeymap import api
    from journeymap.measure._feed import batches as sq
    from journeymap.measure.funnel import funnel as fm  # noqa: F401  (kernels loaded like jm_measure)
    from journeymap.measure.map import entries as pg
    from journeymap.measure.map import measured_map as mm

    ph = _Phases()
    import ibis.backends.duckdb as ibd
    wrapped = {
        "stage entries: flag query stream (DuckDB execute, sort, Arrow)":
            ph.wrap(sq, "_ibis_tables", "stage entries: flag query stream (DuckDB execute, sort, Arrow)",
                    generator=True),
        "Arrow -> numpy user batch (_to_batch)": ph.wrap(sq, "_to_batch", "Arrow -> numpy user batch (_to_batch)"),
        "stage kernel + per-batch results (entries._run)":
            ph.wrap(pg, "_run", "stage kernel + per-batch results (entries._run)"),
        "stage_entries other (batches, data_end, results gathered)":
            ph.wrap(mm, "stage_entries", "stage_entries other (batches, data_end, results gathered)"),
        "persona_flags (first-touch window over all events + users join, to pandas)":
            ph.wrap(mm, "persona_flags", "persona_flags (first-touch window over all events + users join, to pandas)"),
        "align (persona flags matched to users: one sorted merge)":
            ph.wrap(mm, "align", "align (persona flags matched to users: one sorted merge)"),
        "stage_stats_of (rates, CIs, times; every group in one pass)":
            ph.wrap(mm, "stage_stats_of", "stage_stats_of (rates, CIs, times; every group in one pass)"),
        "_value_per_user (revenue query)": ph.wrap(mm, "_value_per_user", "_value_per_user (revenue query)"),
        "diagnose (leaks, findings)": ph.wrap(api, "diagnose", "diagnose (leaks, findings)"),
        "Ibis compile to SQL": ph.wrap(ibd.Backend, "compile", "Ibis compile to SQL"),
    }
    try:
        con = ibis.duckdb.connect()
        p = paths(size)
        events = con.read_parquet(str(p["events"]))
        users = con.read_parquet(str(p["users"]))
        t = time.perf_counter()
        res = journeymap.measure(JOURNEY.read_text(), events, users=users)
        total = time.perf_counter() - t
    finally:
        ph.restore()
    phases = {k: round(v, 3) for k, v in ph.times.items()}
    phases["not attributed (journey load, measure_map glue, subsets)"] = round(
        total - sum(ph.times.values()), 3)
    return {"entered": _map_summary(res)["entered"], "total_s": round(total, 3),
            "phases_s": phases, "calls": ph.calls,
            "wrapped": [k for k, ok in wrapped.items() if ok]}


def jm_measure_profile(size: str) -> dict:
    """journeymap.measure taken apart, cold then warm in one process."""
    from benchmarks.data import SIZES
    cold = _profiled_measure(size)
    warm = cold if SIZES[size] > 10_000_000 else _profiled_measure(size)  # one call at 100M
    return {"entered": warm["entered"], "cold": cold, "warm": warm, "timed_s": cold["total_s"]}


def jm_ws_funnel(size: str) -> dict:
    """journeymap.open(ws).funnel(): the workspace's own store (its clustered copy, the
    fast path, which the workspace measure built), first call then a second."""
    import journeymap
    ws = ws_dir(size)
    if not (ws / "journey.yml").exists():
        raise RuntimeError(f"no workspace at {ws}: run jm_ingest and jm_ws_measure first")
    t0 = time.perf_counter()
    first = journeymap.open(ws).funnel(STEPS, window="14d")
    t1 = time.perf_counter()
    second = journeymap.open(ws).funnel(STEPS, window="14d")
    t2 = time.perf_counter()
    return {"counts": first.counts, "first_s": round(t1 - t0, 3), "second_s": round(t2 - t1, 3),
            "second_equal": second.counts == first.counts, "timed_s": t1 - t0}


def jm_funnel_profile(size: str) -> dict:
    """journeymap.funnel taken apart, twice in one process (cold, then warm).

    The real `journeymap.funnel` runs with its internals wrapped by timers
    (exclusive time per phase). Then DuckDB alone runs the SQL that funnel
    sent: with JSON operator profiling, to an Arrow table, and the same
    without ORDER BY to size the sort.
    """
    from benchmarks.data import SIZES
    cold = _profiled_funnel(size)
    if SIZES[size] > 10_000_000:  # one call only at 100M
        warm = cold
    else:
        cold.pop("con")
        warm = _profiled_funnel(size)
    con, sql = warm.pop("con"), warm["sql"]
    out = {"counts": warm["counts"], "cold": cold, "warm": warm, "sql": sql,
           "timed_s": cold["total_s"]}
    if sql:
        import duckdb
        db = con.con if hasattr(con, "con") else duckdb.connect()
        prof_path = DATA / f"duckdb-profile-{size}.json"
        db.execute("PRAGMA enable_profiling='json'")
        db.execute(f"PRAGMA profiling_output='{prof_path}'")
        t = time.perf_counter()
        out["rows"] = db.execute(sql).to_arrow_table().num_rows
        out["duckdb_sql_to_arrow_s"] = round(time.perf_counter() - t, 3)
        db.execute("PRAGMA disable_profiling")
        out["duckdb_operators_s"] = _duckdb_operators(prof_path)
        out["duckdb_variants_s"] = _duckdb_variants(db, sql, size, reps=1 if SIZES[size] > 10_000_000 else 2)
    return out


def _duckdb_variants(db, sql: str, size: str, reps: int) -> dict:
    """The funnel's query as sent vs cheaper forms of the same rows (best of `reps`, interleaved).

    Same output rows in every variant (users' step events with their bit mask):
    only the mask expression, a pushdown-able prefilter and the sort keys change."""
    path = paths(size)["events"]
    names = ", ".join(f"'{s}'" for s in STEPS)
    single = "CASE event " + " ".join(f"WHEN '{s}' THEN {1 << k}" for k, s in enumerate(STEPS)) + " ELSE 0 END"
    pre = f"SELECT user_id, ts, event, event_id, {single} AS _mask FROM read_parquet('{path}') WHERE event IN ({names})"
    unsorted = sql.rsplit("ORDER BY", 1)[0]
    variants = {
        "as sent: Ibis mask (CASE per step), WHERE mask <> 0, ORDER BY user_id, ts, event, event_id": sql,
        "as sent without ORDER BY": unsorted,
        "WHERE event IN (steps) + one CASE event WHEN .. mask, same 4-key ORDER BY":
            f"SELECT user_id, ts, _mask FROM ({pre}) ORDER BY user_id, ts, event, event_id",
        "WHERE event IN (steps) + one CASE mask, ORDER BY user_id, ts":
            f"SELECT user_id, ts, _mask FROM ({pre}) ORDER BY user_id, ts",
        "WHERE event IN (steps) + one CASE mask, no ORDER BY": f"SELECT user_id, ts, _mask FROM ({pre})",
    }
    if reps < 2:  # at 100M: the three that tell the story
        variants = {k: v for i, (k, v) in enumerate(variants.items()) if i in (0, 3, 4)}
    times: dict[str, list] = {k: [] for k in variants}
    for _ in range(reps):
        for name, q in variants.items():
            t = time.perf_counter()
            db.execute(q).to_arrow_table()
            times[name].append(time.perf_counter() - t)
    return {k: round(min(v), 3) for k, v in times.items()}


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


def _chdb_source(size: str, form: str = "events") -> tuple[str, str]:
    """The chdb table function over one stored form, and its user key: the plain Parquet
    (by user_id), the clustered folder's Arrow core (by `_uid`) or its Parquet copy (by
    user_id)."""
    p = paths(size)
    file, fmt, key = {"events": (p["events"], "Parquet", "user_id"),
                      "by_time": (p.get("by_time"), "Parquet", "user_id"),
                      "core": (p["clustered"] / "core.arrow", "Arrow", "_uid"),
                      # copies built since 2026-12-06 number users in core.arrow only
                      "clustered_parquet": (p["clustered"] / "part-0.parquet", "Parquet", "user_id")}[form]
    if file is None:
        raise FileNotFoundError(f"no {form} file at size {size}")
    return f"file('{file}', {fmt})", key


def _chdb_levels(size: str, window_s: int, form: str = "events") -> dict:
    import chdb
    table, user = _chdb_source(size, form)
    conds = ", ".join(f"event = '{s}'" for s in STEPS)
    sql = f"""
        SELECT level, count() AS n FROM (
            SELECT {user}, windowFunnel({window_s})(toDateTime(ts), {conds}) AS level
            FROM {table}
            GROUP BY {user})
        GROUP BY level ORDER BY level"""
    out = chdb.query(sql, "ArrowTable")
    levels = dict(zip(out["level"].to_pylist(), out["n"].to_pylist()))
    return {"counts": _levels_to_counts(levels), "levels": {str(k): v for k, v in levels.items()}}


def chdb_funnel(size: str) -> dict:
    return _chdb_levels(size, WINDOW_S)


def chdb_funnel_by_time(size: str) -> dict:
    return _chdb_levels(size, WINDOW_S, "by_time")


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
    Contender("jm_funnel_frame", "funnel14d", jm_setup, jm_funnel_frame,
              "journeymap.funnel on a pandas DataFrame in user order (cold: read included)",
              max_size=10_000_000),
    Contender("jm_funnel_arrow", "funnel14d", jm_setup, jm_funnel_arrow,
              "journeymap.funnel on an Arrow table in user order (cold: read included)",
              max_size=10_000_000),
    Contender("jm_funnel_polars", "funnel14d", jm_setup, jm_funnel_polars,
              "journeymap.funnel on a polars DataFrame in user order (cold: read included)",
              max_size=10_000_000),
    Contender("jm_funnel_by_time", "funnel14d_by_time", jm_setup, jm_funnel_by_time,
              "journeymap.funnel (Ibis/DuckDB) on the Parquet file in time order"),
    Contender("chdb_funnel_by_time", "funnel14d_by_time", chdb_setup, chdb_funnel_by_time,
              "chdb windowFunnel on the Parquet file in time order"),
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
    Contender("jm_ingest", "ingest", jm_setup, jm_ingest,
              "journeymap EventStore.ingest (CSV, streamed in chunks, one commit)", repeatable=False,
              note="needs events-<size>.csv: written up to 10M, at 100M with data.py --csv"),
    Contender("jm_ws_measure", "ws_measure", jm_setup, jm_ws_measure,
              "journeymap.open(ws).measure(): cold, then again", max_size=10_000_000, repeatable=False),
    Contender("jm_ws_funnel", "funnel14d", jm_setup, jm_ws_funnel,
              "journeymap.open(ws).funnel() on the ingested store", max_size=10_000_000,
              repeatable=False),
    Contender("jm_funnel_profile", "profile", jm_setup, jm_funnel_profile,
              "journeymap.funnel phases (profile)", repeatable=False),
]
CONTENDERS.append(Contender("jm_measure_profile", "profile", jm_setup, jm_measure_profile,
                             "journeymap.measure phases (profile)", repeatable=False))
WARMUP = Contender("jm_warmup", "warmup", jm_setup, jm_warmup, "numba warm-up", repeatable=False)
BY_NAME = {c.name: c for c in [*CONTENDERS, WARMUP]}


# ---- the clustered stored form: fast path, transitions, top paths -----------------
# Every contender below reads the folder benchmarks/data/events-clustered-<size>/ that
# journeymap's build_clustered wrote (see benchmarks/data.py) unless it says "plain Parquet":
# journeymap through ClusteredEvents (core.arrow; users.arrow; part-0.parquet for other
# columns), chdb through core.arrow or, in its *_parquet variants, part-0.parquet.
PATH_DEPTH, PATH_TOP = 6, 20


def _clustered_src(size: str, con=None):
    from journeymap.store.clustered import ClusteredEvents
    return ClusteredEvents.open(paths(size)["clustered"], con=con)


def jm_fast_funnel(size: str) -> dict:
    import journeymap
    res = journeymap.funnel(_clustered_src(size), STEPS, window="14d")
    return {"counts": res.counts}


def chdb_funnel_ordered(size: str) -> dict:
    """chdb windowFunnel over the clustered copy's core.arrow, by `_uid` (what jm_fast_* read)."""
    return _chdb_levels(size, WINDOW_S, "core")


def chdb_funnel_ordered_parquet(size: str) -> dict:
    """chdb windowFunnel over the clustered copy's part-0.parquet, by user_id."""
    return _chdb_levels(size, WINDOW_S, "clustered_parquet")


def jm_fast_measure(size: str) -> dict:
    """journeymap.measure(yaml, ClusteredEvents, users=...) with users read by the same
    Ibis connection."""
    import ibis

    import journeymap
    con = ibis.duckdb.connect()
    src = _clustered_src(size, con=con)
    users = con.read_parquet(str(paths(size)["users"]))
    return _map_summary(journeymap.measure(JOURNEY.read_text(), src, users=users))


def _jm_pairs(res) -> dict:
    """Directly-follows pair counts without $start/$end rows; ends/starts apart."""
    from journeymap.measure.paths.transitions import END, START
    pairs, ends, starts = {}, {}, {}
    for e in res.edges:
        if e["from"] == START:
            starts[e["to"]] = e["count"]
        elif e["to"] == END:
            ends[e["from"]] = e["count"]
        else:
            pairs[f"{e['from']}>{e['to']}"] = e["count"]
    return {"pairs": dict(sorted(pairs.items())), "ends": dict(sorted(ends.items())),
            "starts": dict(sorted(starts.items())), "n_pairs": len(pairs),
            "transitions": sum(pairs.values()), "users": res.users}


def jm_transitions(size: str) -> dict:
    import journeymap
    return _jm_pairs(journeymap.transitions(_clustered_src(size)))


def jm_transitions_ibis(size: str) -> dict:
    """journeymap.transitions on the plain Parquet through Ibis/DuckDB (engine sorts)."""
    import ibis

    import journeymap
    events = ibis.duckdb.connect().read_parquet(str(paths(size)["events"]))
    return _jm_pairs(journeymap.transitions(events))


def _chdb_pairs(size: str, form: str) -> dict:
    """leadInFrame(event) over (PARTITION BY user ORDER BY ts, event), then GROUP BY
    (event, next). A user's last event has no next (NULL: the column is Nullable, or ''):
    those rows are the ends, kept apart from the pairs like journeymap's `$end` rows."""
    import chdb
    table, user = _chdb_source(size, form)
    sql = f"""
        SELECT event AS a, nxt AS b, count() AS n FROM (
            SELECT event, leadInFrame(event) OVER (PARTITION BY {user} ORDER BY ts, event
                                                  ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING) AS nxt
            FROM {table})
        GROUP BY a, b"""
    out = chdb.query(sql, "ArrowTable")
    pairs, ends = {}, {}
    for a, b, n in zip(out["a"].to_pylist(), out["b"].to_pylist(), out["n"].to_pylist()):
        if b is None or b == "":
            ends[a] = n
        else:
            pairs[f"{a}>{b}"] = n
    return {"pairs": dict(sorted(pairs.items())), "ends": dict(sorted(ends.items())),
            "n_pairs": len(pairs), "transitions": sum(pairs.values())}


def chdb_transitions(size: str) -> dict:
    """Transition pairs over the clustered copy's core.arrow (the data are tie-free, so
    (ts, event) inside a user is the full (user, time) order)."""
    return _chdb_pairs(size, "core")


def chdb_transitions_parquet(size: str) -> dict:
    """The same over the clustered copy's part-0.parquet."""
    return _chdb_pairs(size, "clustered_parquet")


def pm4py_setup():
    import contextlib
    import io

    import pandas  # noqa: F401
    with contextlib.redirect_stdout(io.StringIO()):  # its banner
        import pm4py  # noqa: F401


def pm4py_dfg(size: str) -> dict:
    """pm4py.discover_dfg on a pandas frame read from the plain Parquet (read included)."""
    import pandas as pd
    import pm4py
    t0 = time.perf_counter()
    df = pd.read_parquet(paths(size)["events"], columns=["user_id", "event", "ts", "event_id"])
    t1 = time.perf_counter()
    dfg, start, end = pm4py.discover_dfg(df, case_id_key="user_id", activity_key="event",
                                         timestamp_key="ts")
    t2 = time.perf_counter()
    pairs = {f"{a}>{b}": int(n) for (a, b), n in dfg.items()}
    return {"pairs": dict(sorted(pairs.items())), "ends": {k: int(v) for k, v in sorted(end.items())},
            "starts": {k: int(v) for k, v in sorted(start.items())}, "n_pairs": len(pairs),
            "transitions": sum(pairs.values()), "read_parquet_s": round(t1 - t0, 3),
            "discover_dfg_s": round(t2 - t1, 3)}


def jm_top_paths(size: str) -> dict:
    """top_paths(event_stream(clustered source), depth=6, top=20): stream and paths timed apart."""
    from journeymap.measure._feed.traces import event_stream
    from journeymap.measure.paths.top_paths import top_paths
    t0 = time.perf_counter()
    stream = event_stream(_clustered_src(size))
    t1 = time.perf_counter()
    res = top_paths(stream, depth=PATH_DEPTH, top=PATH_TOP)
    t2 = time.perf_counter()
    return {"paths": [[" → ".join(p["path"]), p["users"]] for p in res.paths], "users": res.users,
            "event_stream_s": round(t1 - t0, 3), "top_paths_s": round(t2 - t1, 3)}


FAST_PHASES = {  # internals of one version or another: a missing one is not wrapped
    "open": "ClusteredEvents.open (file check, clustered.json read)",
    "table": "ClusteredEvents.table (Ibis connect + read_parquet view of part-0.parquet, on first "
             "use: the engine's name for error messages)",
    "read": "core.arrow read: ClusteredEvents.row_groups (IPC record batch -> numpy _uid, ts, codes)",
    "users": "users.arrow read (user_id and start row per _uid; once, on first use)",
    "lut": "name_bits (rule bits per event name, once)",
    "whole_users": "_whole_users (row groups cut at user starts; a user across two joined)",
    "batches": "_ordered_batches rest (batch assembly at user boundaries)",
    "batch": "_ordered_batch rest (step flags, users and offsets of the batch)",
    "progress": "progress reports",
    "kernel": "numba kernels on user ranges in parallel threads (over_ranges: funnel_ordered, "
              "then the kept users' step times)",
    "run_batch": "_run_batch rest (levels, users kept, into the gathered results)",
    "concat": "results gathered (Gather.result: kept users' ids joined)",
}


def _profiled_fast_funnel(size: str) -> dict:
    import journeymap
    from journeymap.measure._feed import batches as sq
    from journeymap.measure._feed.gather import Gather
    from journeymap.measure.funnel import funnel as fm
    from journeymap.store.clustered import ClusteredEvents

    ph = _Phases()
    got = {
        "read": ph.wrap(ClusteredEvents, "row_groups", "read", generator=True),
        "users": ph.wrap(ClusteredEvents.__dict__["_users"], "func", "users"),  # a cached_property
        "table": ph.wrap(ClusteredEvents.__dict__["table"], "func", "table"),  # a cached_property
        "lut": ph.wrap(sq, "name_bits", "lut"),
        "whole_users": ph.wrap(sq, "_whole_users", "whole_users", generator=True),
        "batches": ph.wrap(sq, "_ordered_batches", "batches", generator=True),
        "batch": ph.wrap(sq, "_ordered_batch", "batch"),
        "progress": ph.wrap(sq, "report", "progress"),
        "kernel": ph.wrap(fm, "over_ranges", "kernel"),  # the kernel's threads, timed from outside
        "run_batch": ph.wrap(fm, "_run_batch", "run_batch"),
        "concat": ph.wrap(Gather, "result", "concat"),
    }
    try:
        t0 = time.perf_counter()
        ph._enter("open")
        try:
            src = _clustered_src(size)
        finally:
            ph._exit()
        res = journeymap.funnel(src, STEPS, window="14d")
        total = time.perf_counter() - t0
    finally:
        ph.restore()
    phases = {FAST_PHASES[k]: round(v, 3) for k, v in ph.times.items()}
    phases["not attributed (funnel() glue: rules, as_source, result)"] = round(
        total - sum(ph.times.values()), 3)
    return {"counts": res.counts, "total_s": round(total, 3), "phases_s": phases,
            "calls": ph.calls, "wrapped": [k for k, ok in got.items() if ok],
            "users": len(res.users), "open_s": round(ph.times.get("open", 0), 3)}


def jm_fast_funnel_profile(size: str) -> dict:
    """The fast-path funnel taken apart, cold then warm in one process, then its read and
    step flags replayed alone."""
    from benchmarks.data import SIZES
    cold = _profiled_fast_funnel(size)
    warm = cold if SIZES[size] > 10_000_000 else _profiled_fast_funnel(size)
    return {"counts": warm["counts"], "cold": cold, "warm": warm, "timed_s": cold["total_s"],
            "replay_s": _replay_fast_path(size), "numba_startup_s": _numba_startup()}


_STARTUP = """
import sys, time
if {block}:
    sys.modules["scipy"] = None  # as on a machine without SciPy
import numpy as np
from journeymap.measure.kernels import buckets as kernels
t = time.perf_counter()
kernels.bucket_counts(np.zeros(1), np.zeros(1))
print(time.perf_counter() - t)
"""


def _numba_startup() -> dict:
    """Seconds of the first compiled call in a fresh process (numba sets up its type
    registries and loads the kernel from its cache; where SciPy is installed numba also
    imports scipy.linalg for its BLAS check), with SciPy as installed and without it."""
    import importlib.util
    out = {"scipy_installed": importlib.util.find_spec("scipy") is not None}
    for label, block in (("as installed", False), ("without SciPy", True)):
        run = subprocess.run([sys.executable, "-c", _STARTUP.format(block=block)],
                             capture_output=True, text=True, check=True)
        out[label] = round(float(run.stdout.split()[-1]), 3)
    return out


def _replay_fast_path(size: str) -> dict:
    """Reading core.arrow alone (every chunk to numpy), then the funnel's step flags
    alone (its rule bits per event name, looked up by each row's event code)."""
    from journeymap.measure._feed.predicates import name_bits
    from journeymap.measure.funnel.steps import as_rule
    src = _clustered_src(size)
    lut = name_bits([as_rule(s) for s in STEPS], list(src.vocab))
    t0 = time.perf_counter()
    chunks = list(src.row_groups())
    t1 = time.perf_counter()
    kept = sum(int((lut[c.codes] != 0).sum()) for c in chunks)
    t2 = time.perf_counter()
    return {"read core.arrow (all chunks to numpy)": round(t1 - t0, 3),
            "step flags lut[codes] (numpy)": round(t2 - t1, 3), "rows_kept": kept}


# The names `chdb_funnel_ordered*` and the tasks `*_ordered` date from when the clustered
# copy was called "ordered"; they are kept so that results.json, its older records and
# `--only` lists stay comparable.
CONTENDERS += [
    Contender("jm_fast_funnel", "funnel14d_ordered", jm_setup, jm_fast_funnel,
              "journeymap.funnel(ClusteredEvents.open(folder)) fast path"),
    Contender("chdb_funnel_ordered", "funnel14d_ordered", chdb_setup, chdb_funnel_ordered,
              "chdb windowFunnel on the clustered copy's core.arrow (by _uid)"),
    Contender("chdb_funnel_ordered_parquet", "funnel14d_ordered", chdb_setup,
              chdb_funnel_ordered_parquet,
              "chdb windowFunnel on the clustered copy's part-0.parquet (by user_id)"),
    Contender("jm_fast_measure", "measure_ordered", jm_setup, jm_fast_measure,
              "journeymap.measure(ClusteredEvents), 7 stages, 2 personas"),
    Contender("jm_transitions", "transitions", jm_setup, jm_transitions,
              "journeymap.transitions(ClusteredEvents) fast path"),
    Contender("jm_transitions_ibis", "transitions", jm_setup, jm_transitions_ibis,
              "journeymap.transitions on plain Parquet via Ibis/DuckDB"),
    Contender("chdb_transitions", "transitions", chdb_setup, chdb_transitions,
              "chdb leadInFrame over the user window, GROUP BY pair (core.arrow)"),
    Contender("chdb_transitions_parquet", "transitions", chdb_setup, chdb_transitions_parquet,
              "chdb leadInFrame over the user window, GROUP BY pair (clustered part-0.parquet)"),
    Contender("pm4py_dfg", "transitions", pm4py_setup, pm4py_dfg,
              "pm4py.discover_dfg (pandas from plain Parquet)", max_size=10_000_000,
              timeout_s=150, repeatable=False,
              note="1M and 10M only; 10M kept only if under ~2 min (timeout 150s)"),
    Contender("jm_top_paths", "paths", jm_setup, jm_top_paths,
              "top_paths(event_stream(ClusteredEvents), depth=6, top=20)"),
    Contender("jm_fast_funnel_profile", "profile", jm_setup, jm_fast_funnel_profile,
              "journeymap fast-path funnel phases (profile)", repeatable=False),
]
BY_NAME = {c.name: c for c in [*CONTENDERS, WARMUP]}
