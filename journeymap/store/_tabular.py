"""Turn a staged DuckDB table of source columns into canonical events, in one query.

A stage holds the source columns in natural types (a `__jm_row` column, if
any, is ignored). `canonical_sql` maps columns, parses `ts`, normalizes
property types, computes content-hash event ids and a per-row reject reason;
`split` separates a result chunk into good events and bad rows by ordinal.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from journeymap._deferred import duckdb
from journeymap.errors import IngestError, did_you_mean
from journeymap.store._normalize import missing_column
from journeymap.store.schema import (
    EVENT_CORE,
    EVENT_OPTIONAL,
    TS_ALIASES,
    TS_MAX_US,
    TS_MIN_US,
    TS_RANGE_TEXT,
    TS_TYPE,
    safe_property_name,
)
from journeymap.store.timestamps import epoch_us_sql

ROW = "__jm_row"
REASON = "__jm_reason"
CANONICAL = (*EVENT_CORE, *EVENT_OPTIONAL)
_INTS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}
_FLOATS = {"FLOAT", "DOUBLE", "HUGEINT", "UBIGINT", "UHUGEINT"}
_NESTED = ("STRUCT", "MAP", "UNION", "JSON")


def q(name: str) -> str:
    """Quote a SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    """Quote a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def resolve_columns(columns: list[str], mapping: dict[str, str] | None, file: str) -> dict[str, str]:
    """Map canonical names to source columns; raise IngestError for missing ones."""
    mapping = dict(mapping or {})
    for canon, src in mapping.items():
        if canon not in CANONICAL:
            raise IngestError(f"unknown canonical column {canon!r} in mapping; expected one of "
                              f"{', '.join(CANONICAL)}{did_you_mean(canon, CANONICAL)}", file=file)
        if src not in columns:
            raise IngestError(f"column {src!r} (mapped to {canon}) not found; available columns: "
                              f"{', '.join(columns)}{did_you_mean(src, columns)}", file=file)
    used = set(mapping.values())
    for canon in CANONICAL:
        names = TS_ALIASES if canon == "ts" else (canon,)
        found = [n for n in names if n in columns and n not in used]
        if canon not in mapping and found:
            mapping[canon] = found[0]
            used.add(found[0])
    for need in ("user_id", "event", "ts"):
        if need in mapping or (need == "user_id" and "anonymous_id" in mapping):
            continue
        raise missing_column(need, columns, "events", file)
    return mapping


def property_sql(expr: str, duck_type: str) -> str | None:
    """SQL normalizing a property to int64/double/bool/string/JSON text; None to drop it."""
    t = duck_type.upper()
    if t == "NULL":
        return None
    if t in _INTS:
        return f"CAST({expr} AS BIGINT)"
    if t in _FLOATS or t.startswith("DECIMAL"):
        return f"CAST({expr} AS DOUBLE)"
    if t in ("BOOLEAN", "VARCHAR", "DATE") or t.startswith("TIMESTAMP"):
        return expr
    if t.startswith(_NESTED) or t.endswith("]"):
        return f"CAST(to_json({expr}) AS VARCHAR)"
    return f"CAST({expr} AS VARCHAR)"


def _nz(expr: str | None) -> str:
    """`expr` as VARCHAR, NULL when missing, empty or only blanks."""
    if expr is None:
        return "CAST(NULL AS VARCHAR)"
    v = f"CAST({expr} AS VARCHAR)"
    blank = (f"{v} = '' OR ((starts_with({v}, ' ') OR starts_with({v}, chr(9))) "
             f"AND trim({v}, ' ' || chr(9) || chr(13) || chr(10)) = '')")
    return f"CASE WHEN {blank} THEN NULL ELSE {v} END"


_IN_RANGE = f"(__t >= {TS_MIN_US} AND __t < {TS_MAX_US})"


def _reasons(canon: dict[str, str]) -> str:
    """SQL for the `; `-joined reject reasons of a bad row."""
    def named(c: str) -> str:
        src = canon.get(c)
        return c if src in (None, c) else f"{c} (column {src!r})"
    who = named("user_id") if "user_id" in canon else named("anonymous_id")
    return ("concat_ws('; ', "
            f"CASE WHEN __u IS NULL AND __a IS NULL THEN {lit('missing ' + who)} END, "
            f"CASE WHEN __e IS NULL THEN {lit('missing ' + named('event'))} END, "
            f"CASE WHEN __tr IS NULL THEN {lit('missing ' + named('ts'))} "
            f"WHEN __t IS NULL THEN {lit('unparseable ' + named('ts') + ' ')} || "
            "to_json(left(CAST(__tr AS VARCHAR), 60)) "
            f"WHEN NOT {_IN_RANGE} THEN {lit(named('ts') + ' out of range (' + TS_RANGE_TEXT + ') ')} || "
            "to_json(left(CAST(__tr AS VARCHAR), 60)) END)")


def _hash_sql(props: list[tuple[str, str]]) -> str:
    """SQL md5 of (user_id, event, ts, sorted non-null properties)."""
    parts = [f"{lit(json.dumps(name) + ':')} || to_json({col})" for name, col in sorted(props)]
    core = "coalesce(__u, __a), __e, CAST(__t AS VARCHAR)"
    return f"md5(concat_ws(chr(31), {', '.join([core, *parts])}))"


def canonical_sql(con: duckdb.DuckDBPyConnection, stage: str, mapping: dict[str, str] | None,
                  file: str) -> tuple[str, list[str]]:
    """The canonical query over `stage` (rows in stage order) and its property column names."""
    rel = con.sql(f"SELECT * FROM {stage} LIMIT 0")
    types = {c: str(t) for c, t in zip(rel.columns, rel.types) if c != ROW}
    canon = resolve_columns(list(types), mapping, file)
    src = {c: q(s) for c, s in canon.items()}
    used = set(canon.values())
    props, sel = [], []
    for i, col in enumerate(c for c in types if c not in used):
        expr = property_sql(q(col), types[col])
        if expr is not None:
            props.append((safe_property_name(col), f"__p{i}"))
            sel.append(f"{expr} AS __p{i}")
    tr = _nz(src["ts"]) if types[canon["ts"]] == "VARCHAR" else src["ts"]
    ts_expr = f"CASE WHEN {tr} IS NOT NULL THEN {epoch_us_sql(src['ts'], types[canon['ts']])} END"
    inner = ", ".join([f"{_nz(src.get('user_id'))} AS __u", f"{_nz(src.get('anonymous_id'))} AS __a",
                       f"{_nz(src.get('event'))} AS __e", f"{tr} AS __tr", f"{ts_expr} AS __t",
                       f"{_nz(src.get('event_id'))} AS __i", f"{_nz(src.get('session_id'))} AS __s", *sel])
    optional = [o for o in EVENT_OPTIONAL if o in canon]
    alias = {"anonymous_id": "__a", "session_id": "__s"}
    hashed = props + [(o, alias[o]) for o in optional]
    outer = [f"coalesce(__i, {_hash_sql(hashed)}) AS event_id",
             "coalesce(__u, __a) AS user_id", "__e AS event", "__t AS ts",
             *[f"{alias[o]} AS {o}" for o in optional], *[f"{c} AS {q(n)}" for n, c in props],
             f"CASE WHEN (__u IS NULL AND __a IS NULL) OR __e IS NULL OR __t IS NULL OR NOT {_IN_RANGE} "
             f"THEN {_reasons(canon)} END AS {REASON}"]
    return f"WITH c AS (SELECT {inner} FROM {stage}) SELECT {', '.join(outer)} FROM c", [n for n, _ in props]


def split(tbl: pa.Table | pa.RecordBatch, props: list[str], offset: int = 0
          ) -> tuple[pa.Table, list[tuple[int, str]]]:
    """Good events and (row ordinal, reason) of the bad rows of a canonical query result.

    `offset` is the ordinal of the first row of `tbl` in the whole result.
    """
    if isinstance(tbl, pa.RecordBatch):
        tbl = pa.Table.from_batches([tbl])
    reason = tbl.column(REASON)
    bad = []
    if reason.null_count < len(reason):  # the reason is NULL on good rows
        rows = pc.indices_nonzero(reason.is_valid().combine_chunks())
        bad = list(zip(pc.add(rows, offset).to_pylist(), reason.take(rows).to_pylist()))
        tbl = tbl.filter(reason.is_null())
    good = tbl.drop_columns([REASON])
    good = good.set_column(good.schema.get_field_index("ts"), "ts", good.column("ts").cast(TS_TYPE))
    empty = [n for n in props if good.column(n).null_count == good.num_rows]
    return good.drop_columns(empty), bad
