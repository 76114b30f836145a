"""Aligning per-user tables to a list of users: the sorted merge and the hash fallback agree."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from journeymap.measure._feed.users import positions

IDS = st.lists(st.text(min_size=0, max_size=6), max_size=40, unique=True)


def _reference(keys, users):
    where = {k: i for i, k in enumerate(keys)}
    return [where.get(u, -1) for u in users]


@settings(max_examples=200, deadline=None)
@given(keys=IDS, users=IDS, sort_keys=st.booleans(), sort_users=st.booleans())
def test_positions_match_a_dictionary_lookup(keys, users, sort_keys, sort_users):
    # byte-wise order, as engines sort strings; unsorted input takes the hash path
    keys = sorted(keys, key=lambda s: s.encode()) if sort_keys else keys
    users = sorted(users, key=lambda s: s.encode()) if sort_users else users
    got = positions(pa.array(keys, pa.string()), pa.array(users, pa.string()))
    assert got.tolist() == _reference(keys, users)


@settings(max_examples=300, deadline=None)
@given(keys=IDS, users=IDS, sort_users=st.booleans(), cut=st.integers(0, 40))
def test_positions_over_the_users_own_range_of_sorted_keys(keys, users, sort_users, cut):
    """keys_sorted: binary searches narrow the keys to the users' own range before the
    merge (a batch of users against everyone); users out of order, or outside the keys'
    range, still get their places."""
    keys = sorted(keys, key=lambda s: s.encode())
    users = sorted(users, key=lambda s: s.encode()) if sort_users else users
    users = users[cut:] + users[:cut] if not sort_users else users
    got = positions(pa.array(keys, pa.string()), pa.array(users, pa.string()), keys_sorted=True)
    assert got.tolist() == _reference(keys, users)


def test_sliced_and_chunked_arrays():
    keys = pa.chunked_array([pa.array(["a", "b"]), pa.array(["c", "é"])])
    users = pa.array(["x", "b", "c", "é", "zz"]).slice(1, 3)
    assert positions(keys, users).tolist() == [1, 2, 3]
    assert positions(pa.array(["b", "a"]), users).tolist() == [0, -1, -1]
    assert positions(pa.array([], pa.string()), users).tolist() == [-1, -1, -1]
    assert isinstance(positions(keys, pa.array([], pa.string())), np.ndarray)
