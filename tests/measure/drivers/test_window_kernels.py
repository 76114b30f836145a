"""The drivers' two compiled passes against plain Python: the population (windows,
cells, eligible counts) and the tally of who did each event at least m times inside
their window."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from journeymap.measure.kernels.windows import window_tally, windows

BIG = np.iinfo(np.int64).max


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 30), n_s=st.integers(1, 3), h=st.integers(0, 50))
def test_population_matches_python(seed, n, n_s, h):
    rng = np.random.default_rng(seed)
    start = rng.integers(-1, 40, n)
    adv = np.where(rng.random(n) < 0.5, -1, start + rng.integers(0, 60, n))
    eligible = (start >= 0) & (rng.random(n) < 0.7)
    strata = rng.integers(0, n_s, n)
    lo, hi, cell = (np.empty(n, np.int64) for _ in range(3))
    total = np.zeros(2 * n_s, np.int64)
    got = windows(start, adv, eligible, strata, h, lo, hi, cell, total)
    want_total = [0] * (2 * n_s)
    for i in range(n):
        assert lo[i] == (start[i] if eligible[i] else -1)
        assert hi[i] == min(start[i] + h, adv[i] - 1 if adv[i] >= 0 else BIG)
        advanced = bool(eligible[i] and adv[i] >= 0)
        assert cell[i] == strata[i] * 2 + advanced
        want_total[cell[i]] += bool(eligible[i])
    assert total.tolist() == want_total
    assert got == (int((start >= 0).sum()), int(eligible.sum()), int((eligible & (adv >= 0)).sum()))


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_users=st.integers(0, 12), n_codes=st.integers(1, 5),
       n_cust=st.integers(1, 8))
def test_tally_matches_python(seed, n_users, n_codes, n_cust):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 9, n_users)
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    t = np.concatenate([np.sort(rng.integers(0, 30, k)) for k in sizes]).astype(np.int64) if n_users \
        else np.zeros(0, np.int64)
    codes = rng.integers(0, n_codes, len(t)).astype(np.int32)
    pos = np.where(rng.random(n_users) < 0.8, rng.integers(0, n_cust, n_users), -1).astype(np.int64)
    start = np.where(rng.random(n_cust) < 0.8, rng.integers(0, 20, n_cust), -1).astype(np.int64)
    stop = start + rng.integers(0, 15, n_cust)
    cell = rng.integers(0, 4, n_cust).astype(np.int64)
    skip = rng.random(n_codes) < 0.3
    counts = np.array([1, 2, 3], np.int64)
    tally, seen = np.zeros((n_codes, 3, 4), np.int64), np.zeros(n_codes, np.bool_)
    window_tally(offsets, t, codes, pos, start, stop, cell, skip, counts, tally, seen)
    want, want_seen = np.zeros_like(tally), np.zeros_like(seen)
    for u in range(n_users):
        q = pos[u]
        if q < 0 or start[q] < 0:
            continue
        did = {}
        for i in range(offsets[u], offsets[u + 1]):
            if start[q] <= t[i] <= stop[q] and not skip[codes[i]]:
                did[codes[i]] = did.get(codes[i], 0) + 1
        for c, k in did.items():
            want_seen[c] = True
            for j, m in enumerate(counts):
                want[c, j, cell[q]] += k >= m
    assert np.array_equal(tally, want) and np.array_equal(seen, want_seen)
