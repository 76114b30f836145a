"""How fast the dashboard answers, over HTTP, on a demo workspace of realistic shape.

    .venv/bin/python benchmarks/dashboard.py --users 1000000     # ~10M events (the README's run)
    .venv/bin/python benchmarks/dashboard.py --users 20000       # a quick look

It makes (or reuses) `benchmarks/data/demo-<users>/` with `journeymap demo` (the
demo company: properties, personas from a users table, surveys, tickets, noise),
starts `journeymap serve` on it in its own process, and times HTTP requests from
this one, as a browser would make them:

- the map after the workspace changed (no clustered copy, no cache): the time
  until the answer, and the progress the server reported meanwhile (202 answers);
- each page's data once measured (the best and the median of 7 requests);
- customer lookups of 30 customers spread over the id range (median, p90, max);
- the stuck list and the report.

Writes benchmarks/DASHBOARD.md and benchmarks/dashboard.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
EXE = Path(sys.executable).with_name("journeymap")


def get(url: str, timeout: float = 600) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def answer(url: str) -> tuple[float, bytes, list[dict]]:
    """Seconds until a 200 (asking again on 202 as the pages do), the body, the progress seen."""
    seen, t0 = [], time.perf_counter()
    while True:
        status, body = get(url)
        if status == 202:
            seen.append(json.loads(body)["progress"])
            time.sleep(0.2)
            continue
        if status != 200:
            raise RuntimeError(f"{url}: HTTP {status}: {body[:300]!r}")
        return time.perf_counter() - t0, body, seen


def timed(url: str, n: int = 7) -> dict:
    times = [answer(url)[0] for _ in range(n)]
    return {"best_s": min(times), "median_s": statistics.median(times), "runs": n}


def workspace(users: int) -> Path:
    path = DATA / f"demo-{users}"
    if not (path / "demo.json").exists():
        t0 = time.perf_counter()
        subprocess.run([str(EXE), "demo", "--users", str(users), "--dir", str(path), "--format", "json"],
                       check=True, stdout=subprocess.DEVNULL)
        print(f"demo workspace with {users:,} users written in {time.perf_counter() - t0:.0f}s")
    return path


def serve(path: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([str(EXE), "serve", "-w", str(path), "--port", str(port)],
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if get(url + "/api/meta", timeout=60)[0] in (200, 202):
                return proc, url
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start")


def run(users: int) -> dict:
    path = workspace(users)
    shutil.rmtree(path / ".cache", ignore_errors=True)
    shutil.rmtree(path / ".clustered", ignore_errors=True)  # as after an ingest
    import duckdb
    files = f"{path}/store/events/*/*.parquet"
    n_events = duckdb.sql(f"SELECT count(*) FROM read_parquet('{files}')").fetchone()[0]
    proc, url = serve(path)
    try:
        first_s, _, progress = answer(url + "/api/map")
        out = {"users": users, "events": n_events,
               "first_map_after_a_change": {"seconds": first_s, "progress_reports": len(progress),
                                            "tasks": sorted({p["task"] for p in progress if p["task"]})}}
        for name, page in (("map", "/api/map"), ("map_persona", "/api/map?persona=team"),
                           ("meta", "/api/meta"), ("stage", "/api/stage/onboarding"),
                           ("paths", "/api/paths"), ("stuck", "/api/stuck?stage=onboarding")):
            first = answer(url + page)[0]
            out[name] = {"first_s": first, **timed(url + page)}
        stuck = json.loads(answer(url + "/api/stuck?stage=onboarding")[1])["customers"]
        everyone = sorted(c["user_id"] for c in stuck)
        pick = [everyone[int(i * (len(everyone) - 1) / 29)] for i in range(30)] if everyone else []
        pick += ["u0000001", "u" + str(users // 2).zfill(7)]
        answer(url + f"/api/customer/{pick[0]}")  # the first lookup opens the files
        lookups = []
        for uid in pick:
            t0 = time.perf_counter()
            status, _ = get(url + f"/api/customer/{uid}")
            lookups.append(time.perf_counter() - t0)
            assert status in (200, 404), (uid, status)
        lookups.sort()
        out["customer_lookup"] = {"n": len(lookups), "median_s": statistics.median(lookups),
                                  "p90_s": lookups[int(0.9 * (len(lookups) - 1))], "max_s": lookups[-1]}
        t0 = time.perf_counter()
        status, body = get(url + "/report.html", timeout=900)
        while status == 202:
            time.sleep(0.2)
            status, body = get(url + "/report.html", timeout=900)
        out["report"] = {"seconds": time.perf_counter() - t0, "bytes": len(body)}
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    return out


def machine() -> dict:
    load = os.getloadavg()[0]
    mem = Path("/proc/meminfo").read_text().split()[1]
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(int(mem) / 2**20, 1),
            "load_1m_after": round(load, 2), "python": platform.python_version(),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def report(res: dict, host: dict) -> str:
    ms = lambda s: f"{1000 * s:,.0f} ms"  # noqa: E731
    lines = [f"# Dashboard speed\n\n{host['date']}, {host['cpu']}, {host['cores']} cores, "
             f"{host['memory_gib']} GiB, Python {host['python']} (1-minute load after the run: "
             f"{host['load_1m_after']}). Demo workspace: {res['users']:,} users, {res['events']:,} "
             "events; `journeymap serve` in its own process, timed over HTTP from another.\n",
             "| what | first | once measured (best / median of 7) |", "|---|---:|---:|"]
    first = res["first_map_after_a_change"]
    lines.append(f"| map after a change of the data (clustered copy + measure) | {first['seconds']:.1f} s, "
                 f"{first['progress_reports']} progress answers | – |")
    for name, label in (("map", "map data (`/api/map`)"), ("map_persona", "map, one persona"),
                        ("meta", "`/api/meta`"), ("stage", "stage detail (`/api/stage/onboarding`)"),
                        ("paths", "actual journey (`/api/paths`)"), ("stuck", "stuck list (`/api/stuck`)")):
        r = res[name]
        lines.append(f"| {label} | {r['first_s']:.2f} s | {ms(r['best_s'])} / {ms(r['median_s'])} |")
    c = res["customer_lookup"]
    lines.append(f"| customer lookup ({c['n']} customers across the ids) | – | median {ms(c['median_s'])}, "
                 f"p90 {ms(c['p90_s'])}, max {ms(c['max_s'])} |")
    lines.append(f"| report (`/report.html`, {res['report']['bytes'] / 2**20:.1f} MB) | "
                 f"{res['report']['seconds']:.2f} s | – |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=1_000_000)
    args = ap.parse_args()
    res = run(args.users)
    host = machine()
    (HERE / "dashboard.json").write_text(json.dumps({"machine": host, "results": res}, indent=2))
    (HERE / "DASHBOARD.md").write_text(report(res, host))
    print(report(res, host))


if __name__ == "__main__":
    main()
