"""Marketing spend: a table of date, channel, campaign, cost, impressions, clicks.

Read from CSV, Parquet or JSON Lines. `date`, `channel` and `cost` are required;
`campaign`, `impressions` and `clicks` are optional. Rows whose cost is negative or
not a number, whose date cannot be read, or that have no channel are kept out of
every sum and reported (how many, with the first line as an example): never a crash,
never silently dropped. A workspace keeps one current spend table
(`spend.parquet`); `journeymap ingest --spend FILE` merges a file into it, a later
row for the same (date, channel, campaign) replacing an earlier one.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from journeymap._deferred import duckdb
from journeymap.errors import IngestError, did_you_mean
from journeymap.store._durable import fsync
from journeymap.store._tabular import lit

REQUIRED = ("date", "channel", "cost")
OPTIONAL = ("campaign", "impressions", "clicks")
FILE = "spend.parquet"
_SCANS = {"csv": "read_csv({}, header=true, all_varchar=true)", "parquet": "read_parquet({})",
          "jsonl": "read_json({}, format='newline_delimited')"}
_EXT = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
        ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


@dataclass(frozen=True)
class Spend:
    """The usable spend rows (date, channel, campaign, cost, impressions, clicks) and the
    rows left out, by reason: {"problem", "count", "example": {"line", "values"}}."""

    rows: pa.Table
    problems: list[dict]
    file: str


def read_spend(path: str | Path, *, format: str | None = None) -> Spend:
    """A spend file, checked (see the module doc)."""
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise IngestError("no such spend file", file=file)
    fmt = (format or _EXT.get(path.suffix.lower(), "")).lower()
    if fmt not in _SCANS:
        raise IngestError(f"unknown spend file format {format or path.suffix!r}: use csv, parquet or "
                          "jsonl", file=file)
    con = duckdb.connect()
    try:
        raw = con.sql(f"SELECT * FROM {_SCANS[fmt].format(lit(file))}")
        columns = raw.columns
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            raise IngestError(f"spend file has no {missing[0]!r} column" + did_you_mean(missing[0], columns)
                              + f" (columns: {', '.join(columns)}; needed: {', '.join(REQUIRED)})", file=file)
        return _checked(con, raw, file, fmt)
    except duckdb.Error as exc:
        raise IngestError(f"could not read the {fmt} spend file: {str(exc).splitlines()[0]}", file=file) from None
    finally:
        con.close()


def _checked(con, raw, file: str, fmt: str) -> Spend:
    con.register("raw_spend", raw.to_arrow_table())
    first_line = 2 if fmt == "csv" else 1  # CSV: the header is line 1
    has = set(raw.columns)
    opt = {c: f"TRY_CAST(CAST({c} AS VARCHAR) AS BIGINT)" if c in has else "NULL::BIGINT"
           for c in ("impressions", "clicks")}
    table = con.sql(f"""
        SELECT row_number() OVER () - 1 + {first_line} AS line,
               TRY_CAST(CAST(date AS VARCHAR) AS DATE) AS date,
               NULLIF(TRIM(CAST(channel AS VARCHAR)), '') AS channel,
               {"COALESCE(NULLIF(TRIM(CAST(campaign AS VARCHAR)), ''), '(none)')" if "campaign" in has
                else "'(none)'"} AS campaign,
               TRY_CAST(CAST(cost AS VARCHAR) AS DOUBLE) AS cost,
               {opt['impressions']} AS impressions, {opt['clicks']} AS clicks,
               CAST(date AS VARCHAR) AS raw_date, CAST(cost AS VARCHAR) AS raw_cost
        FROM raw_spend""").to_arrow_table()
    checks = [("date that cannot be read", "date IS NULL"), ("no channel", "channel IS NULL"),
              ("cost that is not a number", "cost IS NULL"), ("negative cost", "cost < 0"),
              ("negative impressions or clicks", "impressions < 0 OR clicks < 0")]
    con.register("checked", table)
    problems = []
    for what, cond in checks:
        bad = con.sql(f"SELECT line, raw_date, channel, raw_cost FROM checked WHERE {cond} ORDER BY line"
                      ).to_arrow_table()
        if bad.num_rows:
            ex = bad.slice(0, 1).to_pylist()[0]
            problems.append({"problem": what, "count": bad.num_rows,
                             "example": {"file": file, "line": ex["line"],
                                         "values": {"date": ex["raw_date"], "channel": ex["channel"],
                                                    "cost": ex["raw_cost"]}}})
    good = " AND ".join(f"NOT coalesce({c}, false)" for _, c in checks)
    rows = con.sql(f"SELECT date, channel, campaign, cost, impressions, clicks FROM checked WHERE {good}"
                   ).to_arrow_table()
    return Spend(rows, problems, file)


def store_spend(folder: Path, path: str | Path, *, format: str | None = None) -> Spend:
    """Merge a spend file into the workspace's `spend.parquet` (later rows for the same
    date, channel and campaign win); written to a temporary file, fsynced, renamed."""
    spend = read_spend(path, format=format)
    target = Path(folder) / FILE
    merged = spend.rows
    if target.exists():
        old = pq.read_table(target)
        keys = {(r["date"], r["channel"], r["campaign"]) for r in merged.select(
            ["date", "channel", "campaign"]).to_pylist()}
        keep = [(r["date"], r["channel"], r["campaign"]) not in keys
                for r in old.select(["date", "channel", "campaign"]).to_pylist()]
        merged = pa.concat_tables([old.filter(pa.array(keep)), merged.cast(old.schema)])
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".spend-", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(merged, tmp)
        fsync(tmp)
        os.replace(tmp, target)
        fsync(folder)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return Spend(merged, spend.problems, str(path))
