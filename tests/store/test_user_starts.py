"""Where users begin in ids sorted by user: the compiled pass (no missing ids) and the
Arrow comparison (with missing ids, one nameless user) both say what a plain loop says."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from journeymap.store.clustered import NO_ID, new_users

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
