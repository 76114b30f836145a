"""Vectorized (numpy) line bookkeeping on the error path of the text readers.

DuckDB returns rows in file order but without line numbers; when rows are
rejected, these scans turn row ordinals (and DuckDB's CSV reject records) into
physical 1-based line numbers and the raw text, chunk by chunk over a memory map.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CHUNK = 64 << 20
_NL, _QUOTE, _CR = 10, 34, 13
_BLANK = np.array([9, 10, 11, 12, 13, 32], np.uint8)


def _chunks(path: Path, size: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(offset, bytes) chunks of a file, memory-mapped."""
    size = size or CHUNK
    n = path.stat().st_size
    if n == 0:
        return
    data = np.memmap(path, dtype=np.uint8, mode="r")
    for base in range(0, n, size):
        yield base, np.asarray(data[base:base + size])


def locate_lines(path: Path, ordinals: list[int]) -> dict[int, tuple[int, str]]:
    """Map 0-based ordinals of non-blank lines to (1-based line number, text)."""
    want, found = np.array(sorted(ordinals), np.int64), {}
    size = path.stat().st_size
    data = np.memmap(path, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)
    seen, line_no, start = 0, 1, 0
    for base, chunk in _chunks(path):
        ends = np.flatnonzero(chunk == _NL) + base
        if base + len(chunk) >= size and start < size and (not len(ends) or ends[-1] < size - 1):
            ends = np.r_[ends, size]  # a last line without a newline
        if not len(ends):
            continue
        starts = np.r_[start, ends[:-1] + 1]
        solid = ~_blank_lines(data, starts, ends)
        numbers = seen + np.cumsum(solid) - 1
        for i in np.flatnonzero(solid & np.isin(numbers, want)):
            found[int(numbers[i])] = (line_no + int(i), _text(data, starts[i], ends[i]))
        seen, line_no, start = seen + int(solid.sum()), line_no + len(ends), int(ends[-1]) + 1
    return found


def _blank_lines(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which lines hold only whitespace (checked in Python only when both ends are blank)."""
    length = ends - starts
    first = data[np.minimum(starts, len(data) - 1)]
    last = data[np.maximum(ends - 1, 0)]
    blank = (length == 0) | (np.isin(first, _BLANK) & np.isin(last, _BLANK))
    for i in np.flatnonzero(blank & (length > 0)):
        blank[i] = not bytes(data[starts[i]:ends[i]]).strip()
    return blank


@dataclass
class _Scan:
    """Running state of the record scan across chunks."""

    quotes: int = 0
    newlines: int = 0
    record: int = 1
    start: int = 0
    line: int = 1
    data: int = 0
    found_good: dict = field(default_factory=dict)
    found_rec: dict = field(default_factory=dict)


def locate_csv(path: Path, good: list[int], rejected: list[int]) -> tuple[dict, dict]:
    """Map data-row ordinals and DuckDB record numbers to (line, raw text).

    Records are split at newlines outside double quotes; record 1 is the header;
    blank records count as records but not as data rows. `good` are 0-based
    ordinals of the rows DuckDB returned, `rejected` the record numbers it rejected.
    """
    st = _Scan()
    want_good, want_rec = np.array(sorted(good), np.int64), np.array(sorted(rejected), np.int64)
    size = path.stat().st_size
    data = np.memmap(path, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)
    for base, chunk in _chunks(path):
        nl = np.flatnonzero(chunk == _NL)
        q = np.flatnonzero(chunk == _QUOTE)
        even = ((st.quotes + np.searchsorted(q, nl)) & 1) == 0
        ends = nl[even] + base
        idx = np.flatnonzero(even) + st.newlines
        _records(st, data, ends, idx, want_good, want_rec)
        st.quotes += len(q)
        st.newlines += len(nl)
    if st.start < size:
        _records(st, data, np.array([size]), np.array([st.newlines]), want_good, want_rec)
    return st.found_good, st.found_rec


def _records(st: _Scan, data: np.ndarray, ends: np.ndarray, nl_idx: np.ndarray,
             want_good: np.ndarray, want_rec: np.ndarray) -> None:
    """Account for the records ending at `ends` (exclusive byte offsets)."""
    if not len(ends):
        return
    starts = np.concatenate([[st.start], ends[:-1] + 1])
    lines = np.concatenate([[st.line], nl_idx[:-1] + 2])
    recs = np.arange(st.record, st.record + len(ends))
    length = ends - starts
    first = data[np.minimum(starts, len(data) - 1)] if len(data) else np.zeros(len(ends), np.uint8)
    blank = (length == 0) | ((length == 1) & (first == _CR))
    candidate = (recs >= 2) & ~blank & ~np.isin(recs, want_rec)
    ordinals = st.data + np.cumsum(candidate) - 1
    hit = candidate & np.isin(ordinals, want_good)
    for i in np.flatnonzero(hit):
        st.found_good[int(ordinals[i])] = (int(lines[i]), _text(data, starts[i], ends[i]))
    for i in np.flatnonzero(np.isin(recs, want_rec)):
        st.found_rec[int(recs[i])] = (int(lines[i]), _text(data, starts[i], ends[i]))
    st.data += int(candidate.sum())
    st.record += len(ends)
    st.start, st.line = int(ends[-1]) + 1, int(nl_idx[-1]) + 2


def _text(data: np.ndarray, start: int, end: int) -> str:
    """Decoded text of one record, without its line terminator."""
    return bytes(data[start:end]).decode("utf-8", "replace").rstrip("\r")
