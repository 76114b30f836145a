"""A cold command, whole processes: `journeymap funnel` on a 10M-event workspace as a shell
user runs it, against chdb's whole process answering the same funnel from the same
sorted run.

    .venv/bin/python benchmarks/cold_cli.py                       # 10m, 10 rounds
    .venv/bin/python benchmarks/cold_cli.py --venv /tmp/cleanvenv  # journeymap of a clean install

Once: `journeymap init` and `journeymap ingest events-<size>.csv` into
`data/cold-cli-<size>/` (kept for later runs). Each round, interleaved:

- journeymap: the workspace's result cache removed, then `journeymap funnel visit signup
  activate invite purchase --window 14d` (imports, numba's start-up, the query, the
  table, the exit);
- chdb: a fresh Python process that imports chdb and runs `windowFunnel` over 14 days
  on the workspace's sorted run (`core.arrow`: the user number, time and event of every
  event, in user order), grouped by user.

`--venv` runs the `journeymap` of another environment (e.g. `pip install -e .` without the
test extras: SciPy, when installed, adds about 0.1 s to numba's start-up). Both answers
are compared (persons per step). Writes COLD_CLI.md and cold_cli.json next to this file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from benchmarks.data import DATA, STEPS, paths  # noqa: E402
from benchmarks.first_answer import counts_from_levels, counts_from_table, timed, written_by  # noqa: E402

CHDB = """
import sys, chdb
conds = ", ".join(f"event = '{e}'" for e in sys.argv[2].split(","))
out = chdb.query(f"SELECT level, count() AS n FROM (SELECT _uid, windowFunnel({int(sys.argv[3])})"
                 f"(toDateTime(ts), {conds}) AS level FROM file('{sys.argv[1]}', Arrow) GROUP BY _uid) "
                 f"GROUP BY level ORDER BY level", "CSV")
print(str(out).strip())
"""


def workspace(size: str, jm: Path) -> Path:
    """The benchmark's workspace of events-<size>.csv (made once)."""
    ws = DATA / f"cold-cli-{size}"
    if not (ws / "store").exists():
        csv = paths(size)["csv"]
        if not csv.exists():
            raise SystemExit(f"{csv} is missing: run benchmarks/data.py --sizes {size} first")
        shutil.rmtree(ws, ignore_errors=True)
        subprocess.run([str(jm), "init", "--journey", str(HERE / "journey.yaml"), str(ws)], check=True,
                       capture_output=True)
        subprocess.run([str(jm), "ingest", "-w", str(ws), str(csv)], check=True)
    return ws


def sorted_run(ws: Path) -> Path:
    runs = sorted((ws / ".clustered").glob("run-*/core.arrow"))
    if len(runs) != 1:
        raise SystemExit(f"expected one sorted run in {ws / '.clustered'}, found {len(runs)}")
    return runs[0]


def scipy_in(python: Path) -> bool:
    return subprocess.run([str(python), "-c", "import scipy"], capture_output=True).returncode == 0


def summary(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def report(size: str, rounds: list[dict], ws: Path, jm: Path, scipy: bool) -> str:
    j, c = [r["journeymap"]["s"] for r in rounds], [r["chdb"]["s"] for r in rounds]
    equal = all(r["journeymap"]["counts"] == r["chdb"]["counts"] for r in rounds)
    lines = [
        "# A cold command: whole processes", "",
        f"{written_by('benchmarks/cold_cli.py')} Workspace: `{ws.name}` ({size} events). journeymap: `{jm}` "
        f"(SciPy {'installed' if scipy else 'not installed'}). {len(rounds)} rounds, interleaved; "
        "the result cache removed before each journeymap run.", "",
        "| | best / median / worst s | peak RSS MB | persons per step |", "|---|---:|---:|---|",
        f"| journeymap `funnel` (5 steps, 14 days) | **{summary(j)}** | "
        f"{max(r['journeymap']['peak_mb'] or 0 for r in rounds)} | "
        f"{' / '.join(f'{n:,}' for n in rounds[0]['journeymap']['counts'])} |",
        f"| chdb `windowFunnel` on the same sorted run (`core.arrow`), one process | **{summary(c)}** | "
        f"{max(r['chdb']['peak_mb'] or 0 for r in rounds)} | "
        f"{' / '.join(f'{n:,}' for n in rounds[0]['chdb']['counts'])} |", "",
        f"journeymap ÷ chdb: best {min(j) / min(c):.2f}×, "
        f"median {statistics.median(j) / statistics.median(c):.2f}× "
        f"(below 1 is faster). Counts equal: {'yes' if equal else '**no**'}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="10m")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--venv", type=Path, default=Path(sys.executable).parent.parent,
                    help="the environment whose journeymap runs (default: this one)")
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args(argv)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # as a user's machine: imports read compiled .pyc
    jm = args.venv / "bin" / "journeymap"
    ws = workspace(args.size, jm)
    core = sorted_run(ws)
    script = DATA / "cold_cli_chdb.py"
    script.write_text(CHDB)
    subprocess.run([str(jm), "funnel", "-w", str(ws), STEPS[0]], check=True,  # kernels compiled
                   capture_output=True)
    rounds = []
    for k in range(args.rounds):
        shutil.rmtree(ws / ".cache", ignore_errors=True)
        got = timed([str(jm), "funnel", "-w", str(ws), *STEPS, "--window", "14d"], ws)
        one = {"journeymap": {"s": got["s"], "peak_mb": got["peak_mb"],
                              "counts": counts_from_table(got["out"])}}
        got = timed([sys.executable, str(script), str(core), ",".join(STEPS), str(14 * 86400)], ws)
        one["chdb"] = {"s": got["s"], "peak_mb": got["peak_mb"],
                       "counts": counts_from_levels(got["out"], len(STEPS))}
        print(f"round {k + 1}: {json.dumps(one)}", flush=True)
        rounds.append(one)
    (args.out / "cold_cli.json").write_text(json.dumps({"size": args.size, "rounds": rounds}, indent=2)
                                            + "\n")
    scipy = scipy_in(args.venv / "bin" / "python")
    (args.out / "COLD_CLI.md").write_text(report(args.size, rounds, ws, jm, scipy))
    print((args.out / "COLD_CLI.md").read_text())


if __name__ == "__main__":
    main()
