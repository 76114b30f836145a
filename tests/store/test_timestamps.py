"""Vectorized timestamp parsing: ISO 8601 forms, epoch seconds/milliseconds, bad values per row."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from journeymap.store.schema import TS_TYPE
from journeymap.store.timestamps import MS_THRESHOLD, connect, epoch_us_sql, parse_timestamps

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC)
EPOCH_S = 1_700_000_000
AT_EPOCH_S = dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def parsed(values, type=None):
    out = parse_timestamps(pa.array(values, type))
    assert out.values.type == TS_TYPE
    return out.values.to_pylist(), out.invalid_rows()


@pytest.mark.parametrize("text, expected", [
    ("2024-03-01T10:00:00Z", T0),
    ("2024-03-01T10:00:00", T0),                       # naive is UTC
    ("2024-03-01 10:00:00", T0),                       # space separator
    ("2024-03-01T12:00:00+02:00", T0),                 # offset
    ("2024-03-01T05:30:00-0430", T0),                  # offset without colon
    ("2024-03-01T10:00:00.250Z", T0.replace(microsecond=250_000)),
    ("2024-03-01 10:00:00.123456", T0.replace(microsecond=123_456)),
    ("2024-03-01", T0.replace(hour=0)),
])
def test_iso_forms(text, expected):
    assert parsed([text]) == ([expected], [])


def test_epoch_seconds_and_milliseconds_as_numbers_and_strings():
    ms = AT_EPOCH_S.replace(microsecond=123_000)
    values, bad = parsed([str(EPOCH_S), str(EPOCH_S * 1000 + 123), f"{EPOCH_S}.5", "1.7e9"])
    assert bad == []
    assert values == [AT_EPOCH_S, ms, AT_EPOCH_S.replace(microsecond=500_000),
                      dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)]
    assert parsed([EPOCH_S, EPOCH_S * 1000 + 123]) == ([AT_EPOCH_S, ms], [])
    assert parsed([float(EPOCH_S), EPOCH_S * 1000.0]) == ([AT_EPOCH_S, AT_EPOCH_S], [])


def test_seconds_or_milliseconds_is_told_by_magnitude():
    just_below, at = int(MS_THRESHOLD) - 1, int(MS_THRESHOLD)
    values, _ = parsed([just_below, at])
    assert values[0] == dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=just_below)
    assert values[1] == dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(milliseconds=at)


def test_unparseable_values_are_reported_per_row_not_raised():
    values, bad = parsed(["2024-03-01T10:00:00Z", "soon", None, "", "  ", "2024-13-45", "nan",
                          "infinity", "1e18"])
    assert values[0] == T0
    assert values[1:] == [None] * 8
    assert bad == [1, 5, 6, 7, 8]     # missing and blank values are not "unparseable"


def test_native_timestamp_columns():
    naive = pa.array([dt.datetime(2024, 3, 1, 10)], pa.timestamp("ns"))
    assert parsed(naive) == ([T0], [])
    paris = pa.array([T0], pa.timestamp("s", tz="Europe/Paris"))
    assert parsed(paris) == ([T0], [])
    assert parsed(pa.array([dt.date(2024, 3, 1)], pa.date32())) == ([T0.replace(hour=0)], [])


def test_epoch_us_sql_runs_inside_duckdb():
    con = connect()
    sql = epoch_us_sql("v", "VARCHAR")
    rows = con.sql(f"SELECT {sql} FROM (VALUES ('2024-03-01T10:00:00Z'), ('{EPOCH_S}'), ('x')) t(v)")
    assert [r[0] for r in rows.fetchall()] == [int(T0.timestamp() * 1e6), EPOCH_S * 1_000_000, None]
