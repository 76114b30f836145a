"""cProfile one contender at one size and print where the time goes.

    .venv/bin/python benchmarks/profile.py jm_measure 10m [--top 30] [--warm]

Runs the contender once (twice with --warm: the profiled call is the second,
so numba cache loading and first-use costs are left out) and prints the
functions with the most cumulative time, restricted to journeymap's own code
and the calls it makes into Ibis / DuckDB / pandas / pyarrow. Not part of
run.py: cProfile slows Python-heavy code, so its totals are not benchmark figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script, this file's folder comes first on the path, and this file would stand
# in for the standard library's `profile` (which cProfile imports): take the folder off
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import pstats  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

from benchmarks.contenders import BY_NAME  # noqa: E402


def main(argv=None) -> None:
    warnings.simplefilter("ignore")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", choices=sorted(BY_NAME))
    ap.add_argument("size")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--warm", action="store_true")
    ap.add_argument("--filter", default="journeymap|ibis/backends|duckdb|pandas|pyarrow",
                    help="regex on file paths of the functions listed")
    args = ap.parse_args(argv)
    c = BY_NAME[args.name]
    c.setup()
    if args.warm:
        c.run(args.size)
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    result = c.run(args.size)
    prof.disable()
    wall = time.perf_counter() - t
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).sort_stats("cumulative")
    stats.print_stats(args.filter, args.top)
    print(f"{args.name} at {args.size}: {wall:.2f}s under cProfile; result {result}")
    print(out.getvalue())


if __name__ == "__main__":
    main()
