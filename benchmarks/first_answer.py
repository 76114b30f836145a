"""The first answer after new data, whole processes: journeymap's ingest then funnel, against
chdb loading the same CSV into a MergeTree table ordered by (user, time) then windowFunnel.

    .venv/bin/python benchmarks/first_answer.py                 # 10m, 3 rounds (the README's run)
    .venv/bin/python benchmarks/first_answer.py --size 1m --rounds 1

Each round, interleaved, from a fresh folder:

- journeymap: `journeymap init --journey benchmarks/journey.yaml` and `journeymap ingest
  --users users-<size>.parquet` (not counted), then `journeymap ingest events-<size>.csv`
  (the store's files, its id index and the sorted run the first measure reads), then
  `journeymap funnel visit signup activate invite purchase --window 14d`, each a shell
  command as a user types it; the time of the ingest and the funnel is the total; then
  `journeymap measure`, the first measure after the ingest, timed on its own;
- chdb: one Python process that imports chdb, opens a session on a fresh folder, runs
  `CREATE TABLE … ENGINE = MergeTree ORDER BY (user_id, ts)`, `INSERT … SELECT FROM
  file(csv)` and the same 5-step `windowFunnel` over 14 days, and exits.

Both answers are compared (persons per step). Peak RSS per process from `/usr/bin/time`
when it is there. Writes FIRST_ANSWER.md and first_answer.json next to this file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from benchmarks.data import DATA, STEPS, paths  # noqa: E402

BIN = Path(sys.executable).parent
TIME = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
CHDB = """
import sys, chdb
from chdb import session
s = session.Session(sys.argv[1])
s.query("CREATE TABLE ev (user_id String, event String, ts DateTime64(6, 'UTC'), event_id String) "
        "ENGINE = MergeTree ORDER BY (user_id, ts)")
s.query(f"INSERT INTO ev SELECT user_id, event, ts, "
        f"toString(event_id) FROM file('{sys.argv[2]}', CSVWithNames)")
conds = ", ".join(f"event = '{e}'" for e in sys.argv[3].split(","))
out = s.query(f"SELECT level, count() AS n FROM (SELECT user_id, windowFunnel({int(sys.argv[4])})"
              f"(toDateTime(ts), {conds}) AS level FROM ev GROUP BY user_id) GROUP BY level "
              f"ORDER BY level", "CSV")
print(str(out).strip())
"""


def timed(cmd: list[str], cwd: Path) -> dict:
    """Run a command; wall seconds, peak RSS (MB, when /usr/bin/time is there), output."""
    wrap = [TIME, "-f", "@@%M"] if TIME else []
    t0 = time.perf_counter()
    got = subprocess.run(wrap + cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if got.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{got.stdout}\n{got.stderr}")
    peak = re.findall(r"@@(\d+)", got.stderr)
    return {"s": round(wall, 2), "peak_mb": round(int(peak[-1]) / 1024) if peak else None,
            "out": got.stdout}


def counts_from_table(text: str) -> list[int]:
    """Persons per step from `journeymap funnel`'s table."""
    rows = [line for line in text.splitlines() if re.match(r"^│ \d+ ", line)]
    return [int(row.split("│")[3].strip().replace(",", "")) for row in rows]


def counts_from_levels(text: str, n: int) -> list[int]:
    levels = {int(a): int(b) for a, b in (line.split(",") for line in text.splitlines() if line)}
    return [sum(v for lvl, v in levels.items() if lvl >= k) for k in range(1, n + 1)]


def journeymap_round(csv: Path, users: Path, work: Path) -> dict:
    jm = str(BIN / "journeymap")
    ws = work / "ws"
    subprocess.run([jm, "init", "--journey", str(HERE / "journey.yaml"), str(ws)], check=True,
                   capture_output=True)
    # the users table (the journey's personas read its `plan`), loaded before and not timed
    subprocess.run([jm, "ingest", "-w", str(ws), "--users", str(users)], check=True, capture_output=True)
    ingest = timed([jm, "ingest", "-w", str(ws), str(csv)], work)
    funnel = timed([jm, "funnel", "-w", str(ws), *STEPS, "--window", "14d"], work)
    measure = timed([jm, "measure", "-w", str(ws)], work)  # the first measure after the ingest
    return {"ingest_s": ingest["s"], "funnel_s": funnel["s"], "total_s": round(ingest["s"] + funnel["s"], 2),
            "measure_s": measure["s"],
            "peak_mb": max(p for p in (ingest["peak_mb"], funnel["peak_mb"], 0) if p is not None),
            "counts": counts_from_table(funnel["out"])}


def chdb_round(csv: Path, work: Path) -> dict:
    script = work / "chdb_load_query.py"
    script.write_text(CHDB)
    got = timed([sys.executable, str(script), str(work / "chdb"), str(csv), ",".join(STEPS),
                 str(14 * 86400)], work)
    return {"total_s": got["s"], "peak_mb": got["peak_mb"],
            "counts": counts_from_levels(got["out"], len(STEPS))}


def written_by(script: str) -> str:
    """Who wrote a report, when and on which machine."""
    return (f"Written by `{script}` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.platform()}.")


def report(size: str, rounds: list[dict], csv: Path) -> str:
    jm, ch = [r["journeymap"] for r in rounds], [r["chdb"] for r in rounds]

    def span(vals):
        lo, hi = min(vals), max(vals)
        return f"{lo:.2f}" if lo == hi else f"{lo:.2f}–{hi:.2f}"
    best = min(r["total_s"] for r in jm) / min(r["total_s"] for r in ch)
    equal = all(r["journeymap"]["counts"] == r["chdb"]["counts"] for r in rounds)
    lines = [
        "# The first answer after new data: whole processes", "",
        f"{written_by('benchmarks/first_answer.py')} Data: `{csv.name}` "
        f"({csv.stat().st_size / 1e6:,.0f} MB, {size} events, "
        f"in time order). {len(rounds)} rounds, interleaved.", "",
        "| | ingest / load s | funnel s | total s | peak RSS MB | persons per step |",
        "|---|---:|---:|---:|---:|---|",
        f"| journeymap (`ingest`, then `funnel`: two commands) | {span([r['ingest_s'] for r in jm])} | "
        f"{span([r['funnel_s'] for r in jm])} | **{span([r['total_s'] for r in jm])}** | "
        f"{max(r['peak_mb'] or 0 for r in jm)} | {' / '.join(f'{c:,}' for c in jm[0]['counts'])} |",
        f"| chdb (MergeTree ORDER BY (user_id, ts): load, then windowFunnel, one process) | – | – | "
        f"**{span([r['total_s'] for r in ch])}** | {max(r['peak_mb'] or 0 for r in ch)} | "
        f"{' / '.join(f'{c:,}' for c in ch[0]['counts'])} |", "",
        f"Best journeymap total ÷ best chdb total: **{best:.2f}×** (below 1 is faster). "
        f"Counts equal: {'yes' if equal else '**no**'}.", "",
        "journeymap's ingest checks every row, de-duplicates by event_id against the store "
        "(its id index), writes the date-partitioned store and the sorted run the first "
        "measure reads; both commands pay their imports.", "",
        f"The first `journeymap measure` after the ingest (7 stages, 2 personas from the users "
        f"table loaded before the events, its top leaks' drivers; a third command, imports and "
        f"numba's start-up included): **{span([r['measure_s'] for r in jm])} s**.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="10m")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args(argv)
    csv = paths(args.size)["csv"]
    if not csv.exists():
        raise SystemExit(f"{csv} is missing: run benchmarks/data.py --sizes {args.size} first")
    rounds = []
    for k in range(args.rounds):
        with tempfile.TemporaryDirectory(dir=DATA) as tmp:
            work = Path(tmp)
            one = {"journeymap": journeymap_round(csv, paths(args.size)["users"], work)}
            one["chdb"] = chdb_round(csv, work)
        print(f"round {k + 1}: {json.dumps(one)}", flush=True)
        rounds.append(one)
    (args.out / "first_answer.json").write_text(json.dumps({"size": args.size, "rounds": rounds}, indent=2) + "\n")
    (args.out / "FIRST_ANSWER.md").write_text(report(args.size, rounds, csv))
    print((args.out / "FIRST_ANSWER.md").read_text())


if __name__ == "__main__":
    main()
