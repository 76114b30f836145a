"""Where users begin in ids sorted by user: the compiled pass (no missing ids) and the
Arrow comparison (with missing ids, one nameless user) both say what a plain loop says."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from journeymap.store.clustered import NO_ID, new_users, new_users_at

IDS = st.lists(st.one_of(st.none(), st.text(alphabet="ab\x00é", max_size=11)), max_size=50)


@settings(max_examples=300, deadline=None)
@given(ids=IDS, before=st.one_of(st.just(NO_ID), st.none(), st.text(alphabet="ab", max_size=3)))
def test_new_users_match_a_loop(ids, before):
    ids = sorted(ids, key=lambda s: (s is None, (s or "").encode()))  # nulls last, as engines sort
    prev = [before] + ids[:-1]
    expected = [p is NO_ID or p != s for s, p in zip(ids, prev)]
    expected = [True if i == 0 and before is NO_ID else e for i, e in enumerate(expected)]
    got = new_users(pa.array(ids, pa.string()), before)
    assert got.tolist() == expected


@settings(max_examples=300, deadline=None)
@given(ids=st.lists(st.text(alphabet="ab\x00é", max_size=11), max_size=50),
       sort=st.booleans(), data=st.data(), large=st.booleans(), offset=st.integers(0, 3))
def test_new_users_at_rows_match_a_loop(ids, sort, data, large, offset):
    """The ids at some rows, read in place: where users begin among those rows, or None
    when one of them is below the one before (byte-wise, as engines sort text)."""
    ids = sorted(ids, key=str.encode) if sort else ids
    rows = sorted(data.draw(st.sets(st.integers(0, max(len(ids) - 1, 0)), max_size=len(ids))))
    rows = [r for r in rows if r < len(ids)]
    kept = [ids[r].encode() for r in rows]
    column = pa.array(["x"] * offset + ids, pa.large_string() if large else pa.string()).slice(offset)
    got = new_users_at(column, np.array(rows, np.int64))
    if any(b < a for a, b in zip(kept, kept[1:])):
        assert got is None
    else:
        assert got.tolist() == [i == 0 or kept[i] != kept[i - 1] for i in range(len(kept))]
