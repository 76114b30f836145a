"""The candidates' numbers computed all at once equal those of one candidate at a time
(`candidate_row`), float for float, including empty strata and a side with no one."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from journeymap.measure.drivers.tables import candidate_row, candidate_rows


@settings(max_examples=200, deadline=None)
@given(n_s=st.integers(1, 4), n_rows=st.integers(1, 12), seed=st.integers(0, 2**32 - 1),
       empty_stratum=st.booleans())
def test_rows_at_once_equal_one_at_a_time(n_s, n_rows, seed, empty_stratum):
    rng = np.random.default_rng(seed)
    total = rng.integers(0, 60, (n_s, 2))
    if empty_stratum:
        total[0] = 0
    found = [(f"e{i}", f"e{i}", 1 + i % 3, rng.integers(0, total + 1)) for i in range(n_rows)]
    n = int(total.sum())
    assume(n > 0)  # a population with no one eligible has no candidates
    expected = []
    for name, event, times, did in found:
        try:
            expected.append(candidate_row(name, event, times, did, total, n))
        except TypeError:  # no one on a side: `candidate_row` itself cannot say either
            return
    got = candidate_rows(found, total, n)
    assert json.dumps(got, default=str) == json.dumps(expected, default=str)
