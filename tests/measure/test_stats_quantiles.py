"""median_p90 equals numpy's median and 0.9 quantile exactly (it replaces two partitions)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from journeymap.measure.stats import median_p90

VALUES = st.lists(st.one_of(st.integers(0, 10**7).map(float),
                            st.floats(0, 1e9, allow_nan=False, allow_infinity=False)),
                  min_size=1, max_size=60)


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_same_as_numpy(values):
    a = np.array(values, np.float64)
    median, p90 = median_p90(a.copy())
    assert median == float(np.median(a))
    assert p90 == float(np.quantile(a, 0.9))


def test_large_random_arrays():
    rng = np.random.default_rng(7)
    for n in (1, 2, 9, 10, 11, 1000, 100_001):
        a = rng.exponential(3600, n).round(6)
        assert median_p90(a) == (float(np.median(a)), float(np.quantile(a, 0.9)))
