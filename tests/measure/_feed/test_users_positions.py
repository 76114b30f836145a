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


# Long ids that share long prefixes: the comparison skips equal stretches 8 bytes at a
# time, so differences before, at and after each 8-byte boundary must all be seen. Every
# id is one base id changed at some place (and cut, or lengthened, after it).
@st.composite
def _near_ids(draw):
    base = draw(st.text(alphabet="ab\x00é", min_size=0, max_size=26))
    variants = st.tuples(st.integers(0, len(base)), st.text(alphabet="abc\x00é", max_size=1),
                         st.text(alphabet="ab", max_size=3))
    ids = {base[:cut] + char + tail for cut, char, tail in draw(st.lists(variants, max_size=30))}
    return draw(st.permutations(sorted(ids)))


LONG_IDS = _near_ids()


@settings(max_examples=300, deadline=None)
@given(keys=LONG_IDS, users=LONG_IDS)
def test_long_ids_with_shared_prefixes(keys, users):
    from journeymap.store._strings import _cmp, strictly_increasing
    from journeymap.store.frames import string_buffers
    as_bytes = sorted(keys, key=lambda s: s.encode())
    keys_sorted = sorted(keys, key=lambda s: s.encode())
    users_sorted = sorted(users, key=lambda s: s.encode())
    got = positions(pa.array(keys_sorted, pa.string()), pa.array(users_sorted, pa.string()))
    assert got.tolist() == _reference(keys_sorted, users_sorted)
    off, data = string_buffers(pa.array(keys + users, pa.string()))
    every = keys + users
    for i in range(len(every)):
        for j in range(len(every)):
            a, b = every[i].encode(), every[j].encode()
            assert _cmp(off, data, i, off, data, j) == (a > b) - (a < b)
    assert strictly_increasing(*string_buffers(pa.array(as_bytes, pa.string())))
    if len(as_bytes) > 1:
        assert not strictly_increasing(*string_buffers(pa.array(as_bytes[::-1], pa.string())))
