"""The result cache: written whole or not at all, in the background where asked (the
command line), read back whole."""

import os
import subprocess
import sys

import numpy as np
import pytest

from journeymap.cache import KEEP, ResultCache


@pytest.fixture(params=[False, True], ids=["in-line", "background"])
def cache(request, tmp_path, monkeypatch):
    monkeypatch.setattr(ResultCache, "background", request.param)
    yield ResultCache(tmp_path / "c")
    ResultCache.wait()


def test_an_entry_read_while_it_is_written_waits_for_it(cache, tmp_path):
    big = np.arange(5_000_000)
    cache.put("k", {"values": big})
    got = cache.get("k")  # may still be writing: the read waits
    assert got is not None and np.array_equal(got["values"], big)
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["k.pickle"]  # no temporary file left


def test_the_entry_is_the_value_as_it_was_when_put(cache):
    value = {"n": 1}
    cache.put("k", value)
    value["n"] = 2  # changed while (or after) it is written
    assert cache.get("k") == {"n": 1}


def test_the_same_entry_put_twice_keeps_the_later(cache):
    for i in range(5):
        cache.put("k", np.full(200_000, i))
    ResultCache.wait()
    assert cache.get("k")[0] == 4


def test_only_the_newest_entries_are_kept(cache, tmp_path):
    for i in range(KEEP + 5):
        cache.put(f"k{i}", i)
        ResultCache.wait()
        os.utime(tmp_path / "c" / f"k{i}.pickle", (i, i))  # mtimes in the order written
    cache.put("last", -1)
    ResultCache.wait()
    names = {p.stem for p in (tmp_path / "c").glob("*.pickle")}
    assert len(names) == KEEP and "last" in names and "k0" not in names


def test_a_write_that_fails_leaves_nothing_and_raises_nothing(cache, tmp_path):
    """The cache's folder cannot be made (a file has its name): the answer still comes."""
    blocked = tmp_path / "c"
    blocked.write_text("not a folder")
    cache.put("k", np.arange(100_000))
    ResultCache.wait()
    assert cache.get("k") is None
    assert blocked.read_text() == "not a folder" and [p.name for p in tmp_path.iterdir()] == ["c"]


def test_entries_put_and_read_from_many_threads_at_once(cache):
    """Writers of one entry and readers waiting for it, all at once: no error anywhere,
    and the entry ends as the last value put."""
    import threading
    failures = []
    threading_hook, threading.excepthook = threading.excepthook, lambda a: failures.append(a.exc_value)
    stop = threading.Event()

    def read():
        while not stop.is_set():
            try:
                cache.get("k")
                ResultCache.wait()
            except Exception as exc:  # noqa: BLE001 - any failure is the test's finding
                failures.append(exc)

    def write(first):
        for i in range(first, first + 300):
            cache.put("k", i)

    try:
        readers = [threading.Thread(target=read) for _ in range(2)]
        writers = [threading.Thread(target=write, args=(k * 1000,)) for k in range(2)]
        for t in readers + writers:
            t.start()
        for t in writers:
            t.join()
        stop.set()
        for t in readers:
            t.join()
        ResultCache.wait()
    finally:
        threading.excepthook = threading_hook
    assert failures == []
    assert cache.get("k") in (299, 1299)


def test_the_process_ends_only_when_its_entries_are_written(tmp_path):
    code = ("import numpy as np\nfrom journeymap.cache import ResultCache\n"
            "ResultCache.background = True\n"
            f"ResultCache({str(tmp_path)!r}).put('k', np.arange(20_000_000))\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    got = ResultCache(tmp_path).get("k")
    assert got is not None and got[-1] == 19_999_999
