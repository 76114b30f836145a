"""Run the benchmark suite and write benchmarks/RESULTS.md and benchmarks/results.json.

    .venv/bin/python benchmarks/run.py --sizes 1m,10m            # the documented command
    .venv/bin/python benchmarks/run.py --sizes 100m               # later; merges into the results
    .venv/bin/python benchmarks/run.py --sizes 1m --only jm_funnel,chdb_funnel
    .venv/bin/python benchmarks/run.py --sizes 100m \
        --only jm_fast_funnel,chdb_funnel_ordered,chdb_funnel_ordered_parquet,jm_fast_measure
    .venv/bin/python benchmarks/run.py --report                   # rewrite RESULTS.md from results.json

Data are generated first when missing (benchmarks/data.py, deterministic).
Every contender runs in a fresh subprocess, so its peak RSS is its own: the
parent reads it with os.wait4 (ru_maxrss of that child), and the child also
reports VmHWM and its RSS after imports. Wall time is measured inside the
child around the work only (from the files on disk to the final numbers);
imports are timed apart. With --repeat 2 (the default up to 10M) the child
runs the work twice: the first run is "cold" (fresh process: numba cache load,
DuckDB first use), the second "warm".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# importable as the package `benchmarks`; its own folder must not shadow top-level modules
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.data import DATA, SIZES, paths  # noqa: E402

RESULTS_JSON = HERE / "results.json"
RESULTS_MD = HERE / "RESULTS.md"
LOGS = DATA / "logs"


# ---- the child ------------------------------------------------------------------------
def _status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def child_main(name: str, size: str, out: str, repeat: int) -> None:
    import warnings
    warnings.simplefilter("ignore")
    from benchmarks.contenders import BY_NAME
    rec = {"name": name, "size": size, "ok": False, "runs_s": []}
    try:
        c = BY_NAME[name]
        t = time.perf_counter()
        c.setup()
        rec["import_s"] = round(time.perf_counter() - t, 3)
        rec["rss_after_import_mb"] = round((_status_kb("VmRSS") or 0) / 1024, 1)
        for _ in range(repeat):
            t = time.perf_counter()
            result = c.run(size)
            wall = time.perf_counter() - t
            wall = result.pop("timed_s", wall)
            rec["runs_s"].append(round(wall, 3))
            rec["result"] = result
        rec["ok"] = True
    except Exception as exc:  # recorded, the suite goes on
        rec["error"] = f"{type(exc).__name__}: {exc}"
        rec["traceback"] = traceback.format_exc()[-3000:]
    rec["vmhwm_mb"] = round((_status_kb("VmHWM") or 0) / 1024, 1)
    Path(out).write_text(json.dumps(rec))


# ---- the parent -----------------------------------------------------------------------
def run_child(name: str, size: str, repeat: int, timeout_s: float, rss_cap_gb: float = 16) -> dict:
    LOGS.mkdir(parents=True, exist_ok=True)
    out = LOGS / f"{size}-{name}.json"
    out.unlink(missing_ok=True)
    log = open(LOGS / f"{size}-{name}.log", "w")
    env = dict(os.environ, RETENTIONEERING_NO_TRACK="1", PYTHONHASHSEED="0",
               PYTHONWARNINGS="ignore")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--size", size,
           "--out", str(out), "--repeat", str(repeat)]
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    timed_out = threading.Event()

    def kill():
        if not over_cap.is_set():
            timed_out.set()
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the child's own session only
        except ProcessLookupError:
            pass

    over_cap = threading.Event()
    finished = threading.Event()

    def watch():  # a safety net: the machine is shared, never let one run take it all
        deadline = time.monotonic() + timeout_s
        while not finished.wait(0.5):
            if time.monotonic() > deadline:
                kill()
                return
            try:
                status_text = Path(f"/proc/{proc.pid}/status").read_text()
            except OSError:
                continue
            for line in status_text.splitlines():
                if line.startswith("VmRSS:") and int(line.split()[1]) > rss_cap_gb * 2**20:
                    over_cap.set()
                    kill()
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(proc.pid, 0)
    finished.set()
    watcher.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    log.close()
    elapsed = time.perf_counter() - t0
    try:
        rec = json.loads(out.read_text())
    except (OSError, ValueError):
        rec = {"name": name, "size": size, "ok": False, "runs_s": [],
               "error": "timed out" if timed_out.is_set() else f"exit {proc.returncode} (see log)"}
    if over_cap.is_set():
        rec["ok"] = False
        rec["error"] = f"stopped: RSS above the {rss_cap_gb:g} GiB cap (--rss-cap-gb)"
    elif timed_out.is_set():
        rec["ok"] = False
        rec["error"] = f"timed out after {timeout_s:.0f}s"
    # Peak RSS = the child's own VmHWM (its address space after exec). ru_maxrss from
    # wait4 is kept for reference only: Linux carries the parent's high-water mark
    # across fork+exec into it, so it is never below the parent's RSS at spawn.
    rec["ru_maxrss_mb"] = round(usage.ru_maxrss / 1024, 1)  # Linux: KiB
    rec["peak_rss_mb"] = rec.get("vmhwm_mb") or rec["ru_maxrss_mb"]
    rec["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
    rec["load_avg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    rec["process_s"] = round(elapsed, 2)
    rec["exit"] = proc.returncode
    return rec


def machine() -> dict:
    model = ""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {"cpu": model or platform.processor(), "cores": os.cpu_count(),
            "ram_gib": round(mem_kb / 1024 / 1024, 1), "os": platform.platform()}


def versions() -> dict:
    from importlib import metadata
    out = {"python": platform.python_version()}
    for pkg in ("journeymap", "duckdb", "chdb", "chdb-core", "ibis-framework", "pandas", "numpy",
                "pyarrow", "numba", "retentioneering"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def warm_page_cache(size: str) -> None:
    """Read the size's files once (the clustered copy's folder too)."""
    for p in paths(size).values():
        for f in sorted(p.iterdir()) if p.is_dir() else [p]:
            if f.is_file() and f.suffix in (".parquet", ".csv", ".arrow"):
                with open(f, "rb") as fh:
                    while fh.read(1 << 24):
                        pass


def load_results() -> dict:
    if RESULTS_JSON.exists():
        return json.loads(RESULTS_JSON.read_text())
    return {"runs": {}, "data": {}}


def check_equality(runs: dict, size: str) -> None:
    """Mark each result against its reference where the semantics agree."""
    def get(name):
        r = runs.get(f"{size}/{name}")
        return r if r and r.get("ok") else None

    pairs = [("chdb_funnel_ordered", ["jm_fast_funnel", "jm_fast_funnel_profile",
                                      "chdb_funnel_ordered_parquet"], "counts"),
             ("chdb_funnel", ["jm_funnel", "duckdb_funnel", "pandas_funnel", "jm_ws_funnel",
                              "jm_funnel_profile", "chdb_funnel_ordered"],
              "counts"),
             ("chdb_funnel_open", ["rete_funnel"], "counts"),
             ("chdb_transitions", ["jm_transitions", "jm_transitions_ibis", "pm4py_dfg",
                                   "chdb_transitions_parquet"], "pairs"),
             ("jm_measure", ["jm_ws_measure", "jm_measure_profile", "jm_fast_measure"], "entered")]
    for ref_name, names, key in pairs:
        ref = get(ref_name)
        for name in names:
            r = runs.get(f"{size}/{name}")
            if not r:
                continue
            if not r.get("ok") or ref is None:
                r["match"] = None
                continue
            same = r["result"].get(key) == ref["result"].get(key)
            if key == "pairs":  # and the users' last events (journeymap's $end rows)
                same = same and r["result"].get("ends") == ref["result"].get("ends")
            if key == "entered" and "personas" in r["result"]:
                same = same and r["result"].get("personas") == ref["result"].get("personas")
            r["match"] = {"reference": ref_name, "equal": bool(same)}
        if ref is not None:
            ref["match"] = {"reference": ref_name, "equal": True, "is_reference": True}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="journeymap benchmark suite")
    ap.add_argument("--sizes", default="1m,10m", help="comma list of 1m,10m,100m")
    ap.add_argument("--only", default="", help="comma list of contender names")
    ap.add_argument("--skip", default="", help="comma list of contender names to leave out")
    ap.add_argument("--repeat", type=int, default=None,
                    help="runs per process for repeatable contenders (default 2 up to 10M, else 1)")
    ap.add_argument("--rss-cap-gb", type=float, default=16,
                    help="stop a run whose RSS passes this (the machine is shared); default 16")
    ap.add_argument("--report", action="store_true", help="only rewrite RESULTS.md from results.json")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--size", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child_main(args.child, args.size, args.out, args.repeat or 1)
        return

    from benchmarks.contenders import CONTENDERS
    from benchmarks.report import write_report
    results = load_results()
    if args.report:
        for size in SIZES:
            check_equality(results["runs"], size)
        RESULTS_JSON.write_text(json.dumps(results, indent=1) + "\n")
        write_report(results, RESULTS_MD)
        return
    only = {s for s in args.only.split(",") if s}
    skip = {s for s in args.skip.split(",") if s}
    unknown = (only | skip) - {c.name for c in CONTENDERS}
    if unknown:
        ap.error(f"unknown contender(s): {', '.join(sorted(unknown))}")
    results["machine"] = machine()
    results["versions"] = versions()
    for size in args.sizes.split(","):
        if size not in SIZES:
            ap.error(f"unknown size {size!r}: use {', '.join(SIZES)}")
        print(f"== {size}: data", flush=True)
        # in a child process: the parent stays small (its RSS would leak into ru_maxrss)
        subprocess.run([sys.executable, str(HERE / "data.py"), "--sizes", size], cwd=ROOT, check=True)
        meta = json.loads(paths(size)["meta"].read_text())
        results["data"][size] = meta
        print(f"   {meta['events']:,} events, {meta['users']:,} users "
              f"(parquet generated in {meta['generate_parquet_s']}s)", flush=True)
        warm_page_cache(size)
        for c in CONTENDERS:
            if (only and c.name not in only) or c.name in skip:
                continue
            key = f"{size}/{c.name}"
            if c.max_size is not None and SIZES[size] > c.max_size:
                results["runs"][key] = {"name": c.name, "size": size, "ok": False, "skipped": True,
                                        "error": f"skipped: {c.note or 'not run at this size'}"}
                continue
            repeat = (args.repeat or (2 if SIZES[size] <= 10_000_000 else 1)) if c.repeatable else 1
            print(f"   {c.name} ...", end=" ", flush=True)
            if c.name.startswith("jm_"):  # kernels compiled (or cache checked) outside the run
                warm = run_child("jm_warmup", size, 1, 600)
                if not warm.get("ok"):
                    print(f"(warm-up failed: {warm.get('error')})", end=" ", flush=True)
            rec = run_child(c.name, size, repeat, c.timeout_s, args.rss_cap_gb)
            rec.update({"task": c.task, "label": c.label, "date": dt.datetime.now(dt.timezone.utc)
                        .isoformat(timespec="seconds")})
            results["runs"][key] = rec
            if rec.get("ok"):
                res = rec["result"]
                shown = res.get("counts") or res.get("entered") or res.get("events_per_s") \
                    or (f"{res['n_pairs']} pairs, {res['transitions']:,} transitions" if "pairs" in res
                        else res.get("paths", [""])[0])
                print(f"{rec['runs_s']} s, peak {rec['peak_rss_mb']} MB, {shown}", flush=True)
            else:
                print(f"FAILED: {rec.get('error')}", flush=True)
            RESULTS_JSON.write_text(json.dumps(results, indent=1) + "\n")
        check_equality(results["runs"], size)
        RESULTS_JSON.write_text(json.dumps(results, indent=1) + "\n")
    write_report(results, RESULTS_MD)
    print(f"wrote {RESULTS_MD.relative_to(ROOT)} and {RESULTS_JSON.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
