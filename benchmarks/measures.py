"""How much experience, KPIs, retention and drivers cost beside the measured map, on a demo workspace.

    .venv/bin/python benchmarks/measures.py --users 1000000     # ~10M events (the README's run)

On the demo company's workspace (made by `benchmarks/dashboard.py`'s `workspace()`,
i.e. `journeymap demo --users N`), in one process, after a warm-up, interleaved
`--repeat` times: the map of the demo journey without its `signals`, the map with
them (experience per stage), the KPIs (with the map already cached, as a workspace
answers them), and weekly retention. Writes benchmarks/MEASURES.md and measures.json.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from importlib.resources import files
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from benchmarks.dashboard import machine, workspace  # noqa: E402


def _timed(call) -> float:
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def run(users: int, repeat: int) -> dict:
    import journeymap
    path = workspace(users)
    text = files("journeymap.demo").joinpath("journey.yaml").read_text()
    (path / "journey.yml").write_text(text)  # the current demo journey: signals, KPIs
    plain = path / "journey-no-signals.yml"
    plain.write_text(re.sub(r"\nsignals:.*\Z", "\n", text, flags=re.S))
    ws = journeymap.open(path)
    ws.measure(journey=plain, cache=False)  # the clustered copy, numba, the page cache
    ws.measure(cache=True)  # the map the KPIs read, cached
    tasks = {"map": lambda: ws.measure(journey=plain, cache=False),
             "map_with_experience": lambda: ws.measure(cache=False),
             "kpis": lambda: ws.kpis(cache=False),
             "retention_weekly": lambda: ws.retention("signup", "weekly_active", period="week", cache=False),
             "drivers": lambda: ws.drivers("onboarding", cache=False)}
    times: dict[str, list[float]] = {k: [] for k in tasks}
    for _ in range(repeat):
        for name, call in tasks.items():
            times[name].append(_timed(call))
    events, _ = ws.tables()
    out = {"users": users, "events": int(events.count().execute()), "repeat": repeat,
           "seconds": times, "median_s": {k: statistics.median(v) for k, v in times.items()},
           "best_s": {k: min(v) for k, v in times.items()}}
    m = out["median_s"]
    out["ratios"] = {"experience_over_map": m["map_with_experience"] / m["map"],
                     "kpis_over_map": m["kpis"] / m["map_with_experience"],
                     "retention_over_map": m["retention_weekly"] / m["map"],
                     "drivers_over_map": m["drivers"] / m["map_with_experience"]}
    return out


def report(res: dict, host: dict) -> str:
    m, b, r = res["median_s"], res["best_s"], res["ratios"]
    rows = [("measured map, no signals", "map", "–"),
            ("measured map with experience per stage", "map_with_experience",
             f"{r['experience_over_map']:.2f}× the map (goal ≤ 1.5×)"),
            ("KPIs (map cached)", "kpis", f"{r['kpis_over_map']:.2f}× the map with experience (goal ≤ 2×)"),
            ("weekly retention, signup → weekly_active", "retention_weekly",
             f"{r['retention_over_map']:.2f}× the map"),
            ("drivers of onboarding → first value, every candidate event, 7 days", "drivers",
             f"{r['drivers_over_map']:.2f}× the full map (goal ≤ 3×)")]
    lines = [f"# Journey measures\n\n{host['date']}, {host['cpu']}, {host['cores']} cores, "
             f"{host['memory_gib']} GiB, Python {host['python']} (1-minute load after: {host['load_1m_after']}). "
             f"Demo workspace: {res['users']:,} users, {res['events']:,} events; one process, warm, "
             f"{res['repeat']} interleaved runs.\n",
             "| measure | median s | best s | ratio (medians) |", "|---|---:|---:|---|"]
    lines += [f"| {label} | {m[k]:.2f} | {b[k]:.2f} | {ratio} |" for label, k, ratio in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    res = run(args.users, args.repeat)
    host = machine()
    (HERE / "measures.json").write_text(json.dumps({"machine": host, "results": res}, indent=2))
    (HERE / "MEASURES.md").write_text(report(res, host))
    print(report(res, host))


if __name__ == "__main__":
    main()
