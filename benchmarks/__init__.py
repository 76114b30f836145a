"""journeymap's benchmark suite: `.venv/bin/python benchmarks/run.py --sizes 1m,10m`."""
