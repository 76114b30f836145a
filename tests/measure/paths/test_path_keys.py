"""The keys the executors give paths: one string per list of names, read back exactly,
and in the engine's binary order exactly when the lists are in Python's order (the
top paths' ties are broken by path text, in the engine and on the driver alike)."""

from __future__ import annotations

import itertools

from journeymap.measure.paths.actual_executors import decode, encode

NAMES = ["", "a", "b", "ab", "a\x00", "\x00", "\x01", "\x02", "\x00\x01", "é", "…", "😀"]


def test_every_short_list_round_trips_and_keeps_its_order():
    lists = [list(x) for n in range(4) for x in itertools.product(NAMES, repeat=n)]
    assert all(decode(encode(names)) == names for names in lists)
    assert len({encode(names) for names in lists}) == len(lists)
    assert sorted(lists) == sorted(lists, key=lambda names: encode(names).encode("utf-8"))
