"""RESULTS.md from results.json: machine, date, versions, data, a table per size, ratios."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from benchmarks.data import SIZES, STEPS

ORDER = ["jm_funnel", "chdb_funnel", "jm_funnel_frame", "jm_funnel_arrow", "jm_funnel_polars",
         "jm_funnel_by_time", "chdb_funnel_by_time",
         "duckdb_funnel", "pandas_funnel", "chdb_funnel_open",
         "rete_funnel", "jm_measure", "jm_ingest", "jm_ws_measure", "jm_ws_funnel", "jm_funnel_profile",
         "jm_measure_profile", "jm_fast_funnel", "chdb_funnel_ordered", "chdb_funnel_ordered_parquet",
         "jm_fast_measure", "jm_transitions", "jm_transitions_ibis", "chdb_transitions",
         "chdb_transitions_parquet", "pm4py_dfg", "jm_top_paths", "jm_fast_funnel_profile"]
CHDB_CLUSTERED = {"funnel": {"core.arrow": "chdb_funnel_ordered",
                           "part-0.parquet": "chdb_funnel_ordered_parquet"},
                "transitions": {"core.arrow": "chdb_transitions",
                                "part-0.parquet": "chdb_transitions_parquet"}}


def _clustered_facts(meta: dict) -> dict:
    """The clustered copy's build facts of a size's meta: `clustered`, or `ordered` in
    the records written before the rename."""
    return meta.get("clustered") or meta.get("ordered") or {}


def _s(x) -> str:
    if x is None:
        return "–"
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


def _cold(r):
    return r["runs_s"][0] if r and r.get("ok") and r.get("runs_s") else None


def _warm(r):
    return min(r["runs_s"][1:]) if r and r.get("ok") and len(r.get("runs_s", [])) > 1 else None


def _ratio(a, b) -> str:
    return f"{a / b:.2f}×" if a and b else "–"


def _result_text(r) -> str:
    if not r.get("ok"):
        return r.get("error", "failed")
    res = r["result"]
    if "pairs" in res:
        text = (f"{res['n_pairs']} pairs, {res['transitions']:,} transitions, "
                f"{sum(res.get('ends', {}).values()):,} ends")
        if "discover_dfg_s" in res:
            text += f" (read_parquet {res['read_parquet_s']:.2f}s + discover_dfg {res['discover_dfg_s']:.2f}s)"
        return text
    if "paths" in res:
        p0 = res["paths"][0] if res["paths"] else ["–", 0]
        return (f"event_stream {res['event_stream_s']:.2f}s + top_paths {res['top_paths_s']:.2f}s; "
                f"{res['users']:,} users, top: {p0[0]} ({p0[1]:,})")
    if "counts" in res:
        text = " / ".join(f"{c:,}" for c in res["counts"])
        if "second_s" in res:
            text += f"; first call {res['first_s']:.2f}s, second {res['second_s']:.2f}s"
        return text
    if "entered" in res:
        text = "entered " + " / ".join(f"{c:,}" for c in res["entered"])
        if "second_s" in res:
            text += (f"; second call {res['second_s']:.3f}s "
                     f"({'cache' if res.get('has_cache') else 'no cache'}"
                     f"{', same result' if res.get('second_equal') else ''})")
        return text
    if "events_per_s" in res:
        took = res.get("ingest_s", res.get("timed_s", 0))
        return (f"{res['rows']:,} rows, {res['events_per_s']:,.0f} events/s "
                f"(read, check, de-duplicate and write streamed together: {took:.1f}s)")
    return ""


def _match_text(r) -> str:
    m = r.get("match")
    if not m:
        return ""
    if m.get("is_reference"):
        return "reference"
    return f"= {m['reference']}" if m["equal"] else f"**differs** from {m['reference']}"


_RENAMED = {  # phase labels of earlier runs -> current wording
    "flag-query generator, other (Ibis expression build, Table.from_batches)":
        "DuckDB: later Arrow batches from its reader (next(), inside the flag-query generator)",
    "DuckDB execute + Arrow export (to_pyarrow_batches and each next batch: scan, filter, sort)":
        "DuckDB: to_pyarrow_batches() call (execute: scan, filter, sort, first batch)",
}


def _phase_table(cold: dict, warm: dict, single: bool) -> list[str]:
    """Markdown rows of a phase profile: time and share per phase, cold (and warm), then the total."""
    out = ["| phase | s | share |", "|---|---:|---:|"] if single else \
        ["| phase | cold s | share | warm s | share |", "|---|---:|---:|---:|---:|"]
    for k, w in sorted(warm["phases_s"].items(), key=lambda kv: -kv[1]):
        c = cold["phases_s"].get(k, 0.0)
        row = f"| {k} | {c:.3f} | {100 * c / cold['total_s']:.0f}% |"
        out.append(row if single else row + f" {w:.3f} | {100 * w / warm['total_s']:.0f}% |")
    out.append(f"| **total** | **{cold['total_s']:.3f}** | |" if single else
               f"| **total** | **{cold['total_s']:.3f}** | | **{warm['total_s']:.3f}** | |")
    return out


def _profile_section(size: str, res: dict, what: str = "funnel") -> list[str]:
    cold, warm = res["cold"], res["warm"]
    for part in (cold, warm):
        part["phases_s"] = {_RENAMED.get(k, k): v for k, v in part["phases_s"].items()}
    out = [f"### journeymap.{what} at {size}, taken apart", "",
           f"The real `journeymap.{what}` call with its internals wrapped by timers (exclusive "
           "time: a phase nested in another is taken out of it). Cold = first call in a fresh "
           "process, warm = the same call again in that process."
           + (" Opening the connection and "
              f"`read_parquet` took {cold['connect_read_parquet_s']:.2f}s"
              + ("" if cold == warm else f" cold / {warm['connect_read_parquet_s']:.2f}s warm")
              + " (not in the total). "
              f"{warm['users']:,} users with step 1." if what == "funnel" else ""), "",
           ]
    single = cold == warm  # one call only (at 100M)
    if single:
        out[-2] = out[-2].replace("Cold = first call in a fresh process, warm = the same call "
                                  "again in that process.", "One call, in a fresh process.")
    out += _phase_table(cold, warm, single)
    if res.get("duckdb_sql_to_arrow_s") is not None:
        ops = ", ".join(f"{k} {val:.2f}s" for k, val in list(res["duckdb_operators_s"].items())[:8])
        out += ["", f"DuckDB alone on the SQL that funnel sent ({res.get('rows', 0):,} rows out) to "
                f"one Arrow table: {res['duckdb_sql_to_arrow_s']:.2f}s; operator timings (JSON "
                f"profiling, summed over threads): {ops}.", ""]
        if res.get("duckdb_variants_s"):
            out += ["The same rows from cheaper forms of the query (DuckDB alone, best of the "
                    "interleaved runs):", "", "| query | s |", "|---|---:|"]
            out += [f"| {k} | {val:.2f} |" for k, val in res["duckdb_variants_s"].items()]
    return out + [""]


def write_report(results: dict, path: Path) -> None:
    runs = results.get("runs", {})
    sizes = [s for s in SIZES if any(k.startswith(s + "/") for k in runs)]
    m, v = results.get("machine", {}), results.get("versions", {})
    dates = sorted(r["date"] for r in runs.values() if r.get("date"))
    out = ["# journeymap benchmark results", "",
           "Written by `.venv/bin/python benchmarks/run.py --sizes 1m,10m` (see "
           "[README.md](README.md)); raw figures in `results.json`. "
           "Figures are measured, not asserted.", "",
           f"- **Date**: {dates[0][:10] if dates else '?'}"
           + (f" to {dates[-1][:10]}" if dates and dates[-1][:10] != dates[0][:10] else "")
           + f" (report written {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC)",
           f"- **Machine**: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
           f"{m.get('ram_gib', '?')} GiB RAM, {m.get('os', '')}",
           "- **Versions**: " + ", ".join(f"{k} {val}" for k, val in v.items()), ""]

    out += ["## Data: the stored form", "",
            "Generated by `benchmarks/data.py` (deterministic, seed 20240301): ~10 events per "
            "user, 6 event types (visit, signup, activate, invite, purchase, support), whole-second "
            "UTC timestamps over 30 days, **tie-free per user** (no user has two events at one "
            "second). Every engine reads the same Parquet file, **sorted by (user_id, ts)**, "
            "zstd, row groups of 262,144 rows; the ingest run reads the same events as CSV in "
            "time order. The OS page cache is warmed before each size.", "",
            "The fast-path contenders read `events-clustered-<size>/` instead (called "
            "`events-ordered-<size>/` in runs before the rename): journeymap's clustered (by "
            "user and time) stored form, written once from the plain Parquet by journeymap's own "
            "`journeymap.store.clustered.build_clustered` (as a workspace writes its copy): "
            "`part-0.parquet` (every column sorted by user_id, ts, event, event_id, plus `_uid` "
            "int32 = the user's rank by user_id; DuckDB's default compression, row groups of 2^20 "
            "rows), `core.arrow` (the same rows as uncompressed Arrow IPC: `_uid`, `ts`, `event` "
            "as dictionary codes), `users.arrow` (user_id and first row per `_uid`) and "
            "`clustered.json`. journeymap's fast path reads `core.arrow` and `users.arrow` (and "
            "`part-0.parquet` only for other columns, e.g. the measure's personas come from the "
            "users table, not from it); chdb's fast-path references read `core.arrow` "
            "(`file(…, Arrow)`) and, as a second variant, `part-0.parquet`, grouping by `_uid`.", "",
            "| size | events | users | Parquet MB | CSV MB | clustered folder MB (core.arrow) "
            "| generation: Parquet s | CSV s | build_clustered s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for size, d in results.get("data", {}).items():
        o = _clustered_facts(d)
        mb = (f"{o['bytes'] / 2**20:.0f} ({o['files']['core.arrow'] / 2**20:.0f})" if o else "–")
        csv = f"{d['csv_bytes'] / 2**20:.0f}" if d.get("csv_bytes") else "–"
        out.append(f"| {size} | {d['events']:,} | {d['users']:,} | {d['parquet_bytes'] / 2**20:.0f} | "
                   f"{csv} | {mb} | {_s(d['generate_parquet_s'])} | {_s(d.get('generate_csv_s'))} | "
                   f"{_s(o.get('build_s'))} |")
    out.append("")

    loads = [max(r["load_avg_1m"]) for r in runs.values() if r.get("load_avg_1m")]
    if loads and max(loads) > (m.get("cores") or 2):
        out += ["> **Caveat**: the machine was shared while these figures were taken (1-minute "
                f"load average up to {max(loads):.1f} on {m.get('cores', '?')} cores; see the "
                "load avg column). Wall times are inflated and noisy, more so for multi-threaded "
                "engines; compare ratios taken close in time, look at process CPU s too, and "
                "re-run on a quiet machine for figures to quote.", ""]
    out += ["## Headline ratios", "",
            "Cold = first run in a fresh process (imports excluded); warm = the best of the later "
            "runs in the same process (`--repeat N`, the same for every contender). "
            "Ratio = journeymap time ÷ other time (below 1 is faster).", ""]
    out += ["| size | funnel: journeymap s | chdb s | journeymap ÷ chdb (cold / warm) | "
            "measure 7 stages s | measure ÷ funnel (cold / warm) | ingest events/s | "
            "workspace measure cold s → second s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for size in sizes:
        g = {n: runs.get(f"{size}/{n}") for n in ORDER}
        jf, ch, me = g["jm_funnel"], g["chdb_funnel"], g["jm_measure"]
        ing, ws = g["jm_ingest"], g["jm_ws_measure"]
        eps = f"{ing['result']['events_per_s']:,.0f}" if ing and ing.get("ok") else "–"
        if ws and ws.get("ok"):
            res = ws["result"]
            wst = (f"{res['cold_s']:.2f} → {res['second_s']:.3f} "
                   f"({'cache' if res.get('has_cache') else 'no cache'})")
        else:
            wst = "–"
        out.append(f"| {size} | {_s(_cold(jf))} | {_s(_cold(ch))} | "
                   f"{_ratio(_cold(jf), _cold(ch))} / {_ratio(_warm(jf), _warm(ch))} | "
                   f"{_s(_cold(me))} | {_ratio(_cold(me), _cold(jf))} / {_ratio(_warm(me), _warm(jf))} | "
                   f"{eps} | {wst} |")
    out.append("")
    out += _fast_headline(runs, sizes, results.get("data", {}))

    for size in sizes:
        out += [f"## {size} events", "",
                "| contender | what | cold s | warm s | process CPU s | peak RSS MB | "
                "RSS after imports MB | import s | load avg | result | check |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
        for name in ORDER:
            r = runs.get(f"{size}/{name}")
            if not r:
                continue
            from benchmarks.contenders import BY_NAME
            label = r.get("label") or (BY_NAME[name].label if name in BY_NAME else "")
            if r.get("skipped"):
                out.append(f"| {name} | {label} | – | – | – | – | – | – | – | {r['error']} | |")
                continue
            load = r.get("load_avg_1m")
            out.append(f"| {name} | {label} | {_s(_cold(r))} | {_s(_warm(r))} | {_s(r.get('cpu_s'))} | "
                       f"{_s(r.get('peak_rss_mb'))} | {_s(r.get('rss_after_import_mb'))} | "
                       f"{_s(r.get('import_s'))} | {f'{load[0]:.1f}→{load[1]:.1f}' if load else '–'} | "
                       f"{_result_text(r)} | {_match_text(r)} |")
        out.append("")
        prof = runs.get(f"{size}/jm_funnel_profile")
        if prof and prof.get("ok"):
            out += _profile_section(size, prof["result"])
        prof = runs.get(f"{size}/jm_measure_profile")
        if prof and prof.get("ok"):
            out += _profile_section(size, prof["result"], "measure")
        prof = runs.get(f"{size}/jm_fast_funnel_profile")
        if prof and prof.get("ok"):
            out += _fast_profile_section(size, prof["result"])
    out += ["## What is compared, and how", "",
            f"- **Funnel** (`funnel14d`): {len(STEPS)} ordered steps "
            f"{' → '.join(STEPS)}, 14-day window from step 1, inclusive (t_k − t_1 ≤ window), "
            "each user counted once by the furthest step of any attempt. Result: users reaching "
            "at least each step. The reference is chdb's `windowFunnel(1209600)(toDateTime(ts), …)` "
            "read straight from the Parquet file; journeymap's `order=\"ordered\"` promises equal "
            "counts on tie-free data, and the data are tie-free.",
            "- **journeymap**: `journeymap.funnel(ibis.duckdb.connect().read_parquet(path), steps, "
            "window=\"14d\")` — DuckDB filters, flags and sorts by (user_id, ts, event, event_id), "
            "streams Arrow batches, a numba kernel walks each user.",
            "- **DuckDB SQL**: the same semantics in plain SQL — for every step-1 event, chained "
            "`ASOF JOIN`s take the earliest next-step event strictly after the previous one, "
            "kept while within the window; a user's level is the longest chain over all starts "
            "(the greedy chain is optimal for a fixed start). See `duckdb_sql()` in "
            "`contenders.py`.",
            "- **pandas**: the same greedy chain with `merge_asof(direction=\"forward\", "
            "allow_exact_matches=False, by=user)`, from `read_parquet` of the step events. "
            "Not run at 100M (all step events as pandas objects).",
            "- **retentioneering** (`funnel_open`): `Eventstream(df).funnel_data(steps)` — its "
            "funnel has **no window** (a path reaches step k if steps 1..k occur in order at "
            "any distance) and no way to set one, so it cannot be compared with the 14-day "
            "funnel. It is checked instead against chdb `windowFunnel` with a 40-day window "
            "(longer than the 30-day span, i.e. no window), on the same data. Its time "
            "includes `pd.read_parquet` and building the Eventstream (which sorts and indexes "
            "the frame). Run at 1M and 10M only.",
            "- **measure**: `journeymap.measure(benchmarks/journey.yaml, events, users=users)` — "
            "7 stages (two `within` limits, two optional stages, a repeated event), 2 personas "
            "on the users' `plan` trait; findings and leaks included. Its check compares the "
            "stage and persona counts with the workspace run below (same data through the store).",
            "- **ingest**: `load_events(events-<size>.csv)` then `EventStore(root).append(events)` "
            "into an empty store; events/s = rows ÷ (read + append). Up to 10M: the reader "
            "returns the whole file as one Arrow table.",
            "- **workspace measure**: `journeymap.open(ws).measure()` on the freshly ingested store "
            "(users appended untimed first), then the same call again from a new `open()`: the "
            "second figure is the result cache when the workspace has one (`.cache/` is "
            "cleared before the first call). The first call also builds the workspace's "
            "clustered copy of the events where this version keeps one (once per change "
            "of the data).",
            "- **workspace funnel**: `journeymap.open(ws).funnel(steps, window=\"14d\")` on the same "
            "workspace, after the workspace measure (so on its clustered copy where there is one); "
            "first call, then a second from a new `open()`.",
            "- **profile**: `journeymap.funnel` re-run phase by phase with journeymap's own "
            "internals (`as_source`, `_ibis_tables`, `_to_batch`, the kernel threads via "
            "`over_ranges`, "
            "`_run_batch`), plus DuckDB's JSON "
            "profile of the same SQL.",
            "- **Fast path** (`funnel14d_ordered`, `measure_ordered`): `src = ClusteredEvents.open("
            "events-clustered-<size>/)`, then `journeymap.funnel(src, steps, window=\"14d\")`: no "
            "engine sort and no decoding — `ClusteredEvents.row_groups` hands each row group of "
            "`core.arrow` over as numpy (`_uid`, µs time, event code), users' start rows come "
            "from `users.arrow`, each row's step bits are looked up by its event code (rows of no "
            "step stay in with no bits, passed over by the kernel), and the funnel kernel walks "
            "user ranges on the machine's cores (2 threads here). The references are chdb `windowFunnel` over **the same folder**, "
            "`GROUP BY _uid`: `file('…/core.arrow', Arrow)` (`chdb_funnel_ordered`) and "
            "`file('…/part-0.parquet', Parquet)` (`chdb_funnel_ordered_parquet`); the headline "
            "ratio takes whichever chdb run was faster and names it. The measure is "
            "`journeymap.measure(journey, src, users=users)` with `users` read by the same Ibis "
            "connection, checked against `jm_measure` (plain Parquet via Ibis).",
            "- **Transitions** (directly-follows pairs): `journeymap.transitions(src)` on the "
            "clustered folder (fast path) and on the plain Parquet via Ibis; chdb "
            "`leadInFrame(event) OVER (PARTITION BY _uid ORDER BY ts, event ROWS BETWEEN CURRENT "
            "ROW AND 1 FOLLOWING)` over the folder's `core.arrow` (`chdb_transitions`) and its "
            "`part-0.parquet` (`chdb_transitions_parquet`), then `GROUP BY` (event, next) — the "
            "data are tie-free, so (ts, event) inside a user is the full (user, time) order; pm4py "
            "`discover_dfg(df, case_id_key=\"user_id\", activity_key=\"event\", "
            "timestamp_key=\"ts\")` on a pandas frame from the plain Parquet (its time includes "
            "`pd.read_parquet`; 150 s timeout, so a 10M run over ~2 min is recorded as timed "
            "out). Checked: pair counts equal, and the users' last events equal too — "
            "journeymap's `X → $end` rows, chdb's rows with a NULL next (a Nullable column's "
            "`leadInFrame` default), pm4py's end activities; journeymap's `$start → X` rows are "
            "left out of the pair comparison (kept in results.json, equal to pm4py's start "
            "activities where both ran).",
            "- **Top paths**: `top_paths(event_stream(src), depth=6, top=20)` from "
            "`journeymap.measure.paths.top_paths` / `journeymap.measure._feed.traces` on the "
            "clustered folder; `event_stream` and "
            "`top_paths` timed apart; ratio = (stream + paths) ÷ the fast-path transitions.",
            "- Every run is a fresh `python` process. Peak RSS = that process's VmHWM (cold and "
            "warm runs share one process, so the peak covers both); `ru_maxrss` from `os.wait4` "
            "is kept in results.json only, since Linux carries the parent's high-water mark into "
            "it across fork+exec. Process CPU s = user + system time of the whole process "
            "(imports and every run; all threads), less sensitive than wall time to other load "
            "on the machine; load avg = the 1-minute load average before → after the run "
            "(above ~2 on this 2-core machine means other work competed for the CPUs).",
            ""]
    out += _other_reports(path.parent)
    path.write_text("\n".join(out) + "\n")


#: reports other scripts write, included whole (their latest run), headings one level down
OTHER_REPORTS = (("COLLECTOR.md", "benchmarks/collector_load.py"), ("DASHBOARD.md", "benchmarks/dashboard.py"),
                 ("MEASURES.md", "benchmarks/measures.py"),
                 ("FIRST_ANSWER.md", "benchmarks/first_answer.py"), ("COLD_CLI.md", "benchmarks/cold_cli.py"))


def _other_reports(folder: Path) -> list[str]:
    out = []
    for name, script in OTHER_REPORTS:
        if (folder / name).exists():
            text = (folder / name).read_text().strip().splitlines()
            out += ["", f"<!-- from {name}, written by {script} -->"]
            out += [f"#{line}" if line.startswith("#") else line for line in text]
    return out


def _vs_fastest(jm, refs: dict) -> str:
    """journeymap ÷ the faster of the reference runs, cold / warm, naming the one taken."""
    parts = []
    for pick in (_cold, _warm):
        got = sorted((pick(r), label) for label, r in refs.items() if pick(r))
        parts.append(f"{_ratio(pick(jm), got[0][0])} ({got[0][1]})" if got and pick(jm) else "–")
    return " / ".join(parts)


def _fast_headline(runs: dict, sizes: list, data: dict) -> list[str]:
    out = ["### Fast path: the clustered (by user and time) stored form", "",
           "Every figure below starts from the folder `events-clustered-<size>/` (clustered by "
           "user and time; `events-ordered-<size>/` before the rename) that "
           "journeymap's `build_clustered` wrote (pm4py and the Ibis transitions from the plain "
           "Parquet). journeymap reads its `core.arrow` + `users.arrow`; chdb reads the same "
           "`core.arrow` or the same folder's `part-0.parquet`, and each ratio is taken against "
           "**the faster chdb run** (named), cold / warm. Ratios: journeymap ÷ other.", "",
           "| size | fast funnel s (cold / warm) | chdb core.arrow s | chdb part-0.parquet s | "
           "fast funnel ÷ faster chdb | peak RSS MB: journeymap / chdb arrow / chdb parquet | "
           "counts equal | fast measure s | fast measure ÷ fast funnel |",
           "|---|---:|---:|---:|---|---|---|---:|---:|"]
    rows_t = ["| size | transitions fast s | via Ibis s | chdb core.arrow s | chdb part-0.parquet s | "
              "transitions ÷ faster chdb | pm4py s | pm4py ÷ transitions | pairs equal | "
              "top paths s (stream + paths) | ÷ transitions |",
              "|---|---:|---:|---:|---:|---|---:|---:|---|---:|---:|"]

    def eq(*rs):
        ms = [r.get("match") for r in rs if r and r.get("ok")]
        if not ms:
            return "–"
        return "yes" if all(m and m.get("equal") for m in ms) else "**no**"

    def pair(r):
        return f"{_s(_cold(r))} / {_s(_warm(r))}" if r and r.get("ok") else "–"

    def rss(r):
        return _s(r.get("peak_rss_mb")) if r and r.get("ok") else "–"

    old, shown_old = {s for s in sizes if not _clustered_facts(data.get(s) or {})}, []
    for size in sizes:
        g = {n: runs.get(f"{size}/{n}") for n in ORDER}
        cf = {k: g[n] for k, n in CHDB_CLUSTERED["funnel"].items()}
        label = f"{size} †" if size in old else size
        if size in old and any(g[n] for n in ORDER[ORDER.index("jm_fast_funnel"):]):
            shown_old.append(size)
        ct = {k: g[n] for k, n in CHDB_CLUSTERED["transitions"].items()}
        ff, fm, jt, it, pm, tp = (g["jm_fast_funnel"], g["jm_fast_measure"], g["jm_transitions"],
                                  g["jm_transitions_ibis"], g["pm4py_dfg"], g["jm_top_paths"])
        if any(r for r in (ff, fm, *cf.values())):
            out.append(
                f"| {label} | {pair(ff)} | {pair(cf['core.arrow'])} | {pair(cf['part-0.parquet'])} | "
                f"{_vs_fastest(ff, cf)} | {rss(ff)} / {rss(cf['core.arrow'])} / "
                f"{rss(cf['part-0.parquet'])} | "
                f"{eq(ff, g['jm_fast_funnel_profile'], *cf.values())} | {pair(fm)} | "
                f"{_ratio(_cold(fm), _cold(ff))} / {_ratio(_warm(fm), _warm(ff))} |")
        if not any(r for r in (jt, it, pm, tp, *ct.values())):
            continue
        if pm and pm.get("ok"):
            pms = _s(_cold(pm))
        elif pm:
            pms = pm.get("error", "failed").replace("|", "/")
        else:
            pms = "–"
        if tp and tp.get("ok"):
            res = tp["result"]
            tps = f"{_s(_cold(tp))} / {_s(_warm(tp))} ({res['event_stream_s']:.2f} + {res['top_paths_s']:.2f})"
        else:
            tps = "–"
        rows_t.append(
            f"| {label} | {pair(jt)} | {pair(it)} | {pair(ct['core.arrow'])} | "
            f"{pair(ct['part-0.parquet'])} | {_vs_fastest(jt, ct)} | {pms} | "
            f"{_ratio(_cold(pm), _cold(jt))} | {eq(jt, it, pm, ct['part-0.parquet'])} | {tps} | "
            f"{_ratio(_cold(tp), _cold(jt))} / {_ratio(_warm(tp), _warm(jt))} |")
    note = (["", f"† {', '.join(shown_old)}: figures from the earlier single-file ordered form "
             "(`events-ordered-<size>.parquet`, read with pyarrow), not this folder; re-run "
             "that size to replace them."] if shown_old else [])
    return out + ["", "Transitions and top paths on the same folder:", ""] + rows_t + note + [""]


def _fast_profile_section(size: str, res: dict) -> list[str]:
    cold, warm = res["cold"], res["warm"]
    single = cold == warm
    out = [f"### journeymap fast-path funnel at {size}, taken apart", "",
           "`journeymap.funnel(ClusteredEvents.open(events-clustered-<size>/), ...)` with its "
           "internals wrapped by timers (exclusive time; the kernel's threads are timed from "
           "the calling thread, around `over_ranges`). " + ("One call, in a fresh process." if single else
           "Cold = first call in a fresh process, warm = the same call again in that process.")
           + f" {warm['users']:,} users with step 1.", ""]
    out += _phase_table(cold, warm, single)
    rp = res.get("replay_s")
    if rp:
        out += ["", "The two heavy steps replayed alone after the calls (every chunk of "
                "`core.arrow` to numpy; the funnel's step flags looked up by event code): "
                + ", ".join(f"{k} {v:.3f}s" for k, v in rp.items() if k != "rows_kept")
                + f" ({rp.get('rows_kept', 0):,} step rows kept)."]
    st = res.get("numba_startup_s")
    if st:
        out += ["", "Why cold is slower than warm: the first compiled call in a fresh process "
                "pays numba's start-up (its type registries, the kernel loaded from numba's "
                "cache and, where SciPy is installed, an import of `scipy.linalg` for numba's "
                f"BLAS check), whatever the data size: {st['as installed']:.3f}s here "
                f"(SciPy {'installed' if st['scipy_installed'] else 'not installed'}), "
                f"{st['without SciPy']:.3f}s without SciPy; timed in separate fresh processes "
                "around one call of a tiny kernel."]
    return out + [""]
