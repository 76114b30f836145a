"""Small statistics every measure shares: rates with intervals, time summaries."""

from __future__ import annotations

import math

import numpy as np

from journeymap.measure.kernels.buckets import bucket_counts, median_p90_of_groups

Z95 = 1.959963984540054

# Upper bounds (seconds) of the time-to-next distribution buckets.
TIME_BUCKETS = (
    ("< 1h", 3600), ("1-6h", 6 * 3600), ("6-24h", 86400), ("1-3d", 3 * 86400),
    ("3-7d", 7 * 86400), ("7-14d", 14 * 86400), ("14-30d", 30 * 86400), ("> 30d", math.inf),
)

_UPPER = np.array([0.0] + [b for _, b in TIME_BUCKETS[:-1]])  # bucket k holds [_UPPER[k-1], _UPPER[k])


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion (95% by default); None when n is 0.

    >>> [round(x, 4) for x in wilson(5000, 50000)]
    [0.0974, 0.1027]
    """
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def wilson_ci(successes: int, n: int) -> list[float] | None:
    """The Wilson 95% interval as results hold it: [low, high], or None when n is 0."""
    ci = wilson(successes, n)
    return list(ci) if ci else None


def rate(successes: int, n: int) -> float | None:
    return successes / n if n else None


def median_p90(values: np.ndarray) -> tuple[float, float]:
    """np.median and np.quantile(values, 0.9) (linear), bit for bit (the compiled pass
    transitions run over every pair at once, here over one group)."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    if not len(values):
        raise ValueError("median_p90 of no values")
    median, p90 = np.empty(1), np.empty(1)
    median_p90_of_groups(values, np.zeros(1, np.int64), np.array([len(values)], np.int64),
                         median, p90)
    return float(median[0]), float(p90[0])


def time_summary(seconds: np.ndarray) -> dict:
    """Mean, median, p90 and a bucketed distribution of durations in seconds."""
    seconds = np.asarray(seconds, dtype=np.float64)
    return time_summaries(seconds, np.array([seconds.size], np.int64))[0]


def time_summaries(seconds: np.ndarray, counts: np.ndarray) -> list[dict]:
    """time_summary of each group of durations, the groups one after another in
    `seconds` (counts[g] values each), their medians and p90s in one compiled pass."""
    seconds = np.ascontiguousarray(seconds, dtype=np.float64)
    counts = np.asarray(counts, np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    some = counts > 0
    median, p90 = np.full(len(counts), np.nan), np.full(len(counts), np.nan)
    if some.any():
        m, q = np.empty(int(some.sum())), np.empty(int(some.sum()))
        median_p90_of_groups(seconds, starts[some], counts[some], m, q)
        median[some], p90[some] = m, q
    out = []
    for g, (a, n) in enumerate(zip(starts, counts)):
        if not n:
            out.append({"n": 0, "mean_s": None, "median_s": None, "p90_s": None, "distribution": {}})
            continue
        group = seconds[a:a + n]
        buckets = bucket_counts(group, _UPPER)
        out.append({"n": int(n), "mean_s": float(group.mean()), "median_s": float(median[g]),
                    "p90_s": float(p90[g]),
                    "distribution": {name: int(c) for (name, _), c in zip(TIME_BUCKETS, buckets[1:])}})
    return out