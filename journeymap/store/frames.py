"""Accept events in the forms users hold them: pandas, polars, Arrow, Ibis.

Everything becomes an Ibis table with the canonical core columns
(`user_id`, `event` as text, `ts` as UTC microseconds); other columns pass
through as properties.

An Ibis table on DuckDB or Spark stays on its engine: journeymap's queries run
there as they are (the conformance tests pin both). A table on any other Ibis
backend (SQLite, Polars, a warehouse) is read into Arrow once, its expression
(filters included) run by that backend, and is then measured exactly like the
same rows as a DataFrame: such backends lack operations journeymap needs (the
content-hash event id first), and only one path can promise the same numbers.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from journeymap._deferred import ibis, ibis_errors, ir
from journeymap.errors import EngineError, IngestError
from journeymap.store import _normalize as norm
from journeymap.store._strings import odd_last_byte
from journeymap.store.schema import RESERVED

REQUIRED = ("user_id", "event", "ts")
#: Ibis backends whose tables journeymap queries where they are; any other is read into Arrow
IN_PLACE = ("duckdb", "pyspark")
#: the core columns held as text
TEXT_CORE = ("event_id", "user_id", "anonymous_id", "session_id", "event")


def to_arrow(obj, columns: Sequence[str] | None = None) -> pa.Table:
    """An Arrow table from pandas, polars, Arrow or a list of dicts (of a DataFrame, only
    `columns` when given)."""
    if isinstance(obj, pa.Table):
        return obj
    if isinstance(obj, pa.RecordBatch):
        return pa.Table.from_batches([obj])
    if hasattr(obj, "to_arrow"):  # polars
        return (obj if columns is None else obj.select(columns)).to_arrow()
    if isinstance(obj, list):
        return pa.Table.from_pylist(obj)
    pd = sys.modules.get("pandas")  # not imported: obj is no DataFrame (saves its import)
    if pd is not None and isinstance(obj, pd.DataFrame):
        try:
            return pa.Table.from_pandas(obj, columns=columns, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:  # a column of mixed kinds of values
            column = next((c for c in columns or obj.columns if _unconvertible(obj[c])), None)
            raise IngestError(f"column '{column}' of the DataFrame mixes kinds of values "
                              f"({exc.args[0].split(':', 1)[0] if exc.args else exc}); give it one "
                              "type, e.g. df[col].astype(str)" if column is not None else
                              f"cannot read the DataFrame: {exc}") from exc
    raise IngestError(f"cannot read events from a {type(obj).__name__}: "
                     "pass a pandas/polars DataFrame, an Arrow table or an Ibis table")


def _unconvertible(series) -> bool:
    try:
        pa.array(series, from_pandas=True)
        return False
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return True


def normalize_events(table: pa.Table, *, text: bool = True) -> pa.Table:
    """Canonical core column types (see `_normalize.core`), every event with a time;
    property columns untouched."""
    table = norm.core(table, text=text)
    norm.no_nulls(table, ["ts"], "event")
    return table


def with_content_ids(table: ir.Table) -> ir.Table:
    """Add `event_id` as a hash of the row's content, so ties order by content, not input order."""
    parts = [table[c].cast("string").fill_null("\\N") for c in table.columns]
    return table.mutate(event_id=ibis.literal("|").join(parts).hexdigest("md5"))


def as_events(obj) -> ir.Table:
    """An Ibis events table from any accepted form: a table on DuckDB or Spark stays on
    its engine (ids and names cast to text; a `ts` that is not yet a timestamp is read
    into Arrow and parsed, like a DataFrame's), one on any other backend is read into
    Arrow (see the module docstring).

    Without an `event_id` column, one is derived from each row's content.
    """
    return with_ids(typed_events(obj))


def typed_events(obj) -> ir.Table:
    """`as_events` but for the event ids: the table as typed, `event_id` only if it had one."""
    if isinstance(obj, ir.Table):
        norm.require(obj.columns, REQUIRED)
        in_place = engine_of(obj) in IN_PLACE and obj.ts.type().is_timestamp()
        obj = typed_in_place(obj) if in_place else fetch(obj, "events")
    if isinstance(obj, ir.Table):
        return obj
    deferred = _text_left_as_given(obj)
    if deferred is not None:
        return typed_in_place(deferred)
    # integer ids are cast to text where read (an id column not read is never cast)
    return typed_in_place(ibis.memtable(normalize_events(to_arrow(obj), text=False)))


def _text_left_as_given(obj) -> ir.Table | None:
    """A pandas or polars DataFrame whose text properties (`_text_properties`) stay as
    they are held until a question reads them (`store.scan` turns only the columns it
    reads into Arrow; the engine, all of them): turning 10M Python strings into Arrow
    takes about 0.4 s a column, copying polars' string views about 0.1-0.2 s, and most
    questions read none of the properties. The core columns and every other property are
    typed in Arrow now, as for any DataFrame; the table is a pandas DataFrame of Arrow
    columns with the text properties beside them (Python strings, or polars' string
    views). None for anything else, or a DataFrame without such columns."""
    later = _text_properties(obj)
    if not later or not set(REQUIRED) <= set(obj.columns):  # (the error names every column)
        return None
    import pandas as pd
    now = normalize_events(to_arrow(obj, [c for c in obj.columns if c not in later]), text=False)
    if isinstance(obj, pd.DataFrame):
        text = {c: pd.Series(obj[c].to_numpy(), copy=False) for c in later}  # positions, not index
    else:
        views = obj.select(later).to_arrow(compat_level=sys.modules["polars"].CompatLevel.newest())
        text = {c: pd.Series(pd.arrays.ArrowExtensionArray(views.column(c)), copy=False) for c in later}
    columns = {c: text[c] if c in text else
               pd.Series(pd.arrays.ArrowExtensionArray(now.column(c)), copy=False) for c in obj.columns}
    schema = pa.schema([pa.field(c, pa.string()) if c in text else now.schema.field(c)
                        for c in obj.columns])
    return ibis.memtable(pd.DataFrame(columns, copy=False), schema=ibis.schema(schema))


def _text_properties(obj) -> list[str]:
    """The property columns of a DataFrame that hold text: of pandas, Python strings (or
    pandas' python-backed strings; missing values allowed), which pyarrow always turns
    into a string array; of polars, its text columns (views, since polars 1.1's
    CompatLevel). None of them for anything else."""
    pd, pl = sys.modules.get("pandas"), sys.modules.get("polars")
    if pd is not None and isinstance(obj, pd.DataFrame):
        if not obj.columns.is_unique or not all(isinstance(c, str) for c in obj.columns):
            return []
        return [c for c in obj.columns if c not in RESERVED and _python_text(obj[c], pd)]
    if pl is not None and isinstance(obj, pl.DataFrame) and hasattr(pl, "CompatLevel"):
        return [c for c, kind in obj.schema.items() if c not in RESERVED and kind == pl.String]
    return []


def _python_text(column, pd) -> bool:
    if isinstance(column.dtype, pd.StringDtype):
        return column.dtype.storage == "python"
    return column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) == "string"


def with_ids(table: ir.Table) -> ir.Table:
    """The table with an `event_id`: its own, or one derived from each row's content."""
    return table if "event_id" in table.columns else with_content_ids(table)


def typed_in_place(table: ir.Table) -> ir.Table:
    """Ids and names as text, cast by the engine (as `_normalize.core` does for a
    DataFrame): integer user ids then sort, group and join as a DataFrame's do."""
    casts = {c: table[c].cast("string") for c in TEXT_CORE
             if c in table.columns and not table[c].type().is_string()}
    return table.mutate(**casts) if casts else table


def as_table(obj, key: str = "user_id", what: str = "users") -> ir.Table:
    """An Ibis table of per-user rows (traits) from any accepted form, its key as text;
    a table on a backend other than DuckDB or Spark is read into Arrow, as events are."""
    if isinstance(obj, ir.Table):
        norm.require(obj.columns, (key,), what)
        table = obj if engine_of(obj) in IN_PLACE else ibis.memtable(fetch(obj, what))
    else:
        table = ibis.memtable(to_arrow(obj))
        norm.require(table.columns, (key,), what)
    # the key as text, as the events' user ids are
    return table if table[key].type().is_string() else table.mutate(**{key: table[key].cast("string")})


def engine_of(table: ir.Table) -> str:
    """The name of the Ibis backend holding `table` (an unbound memtable: the default,
    duckdb); EngineError for an expression over tables of several backends."""
    try:
        return table._find_backend(use_default=True).name
    except ibis_errors.IbisError as exc:
        raise EngineError(f"one table's expression reads from several engines ({exc}); "
                          "read the tables into one engine first") from None


def fetch(table: ir.Table, what: str = "events") -> pa.Table:
    """The rows of an Ibis table on a backend journeymap does not query in place, as
    Arrow: the backend runs the expression; EngineError naming it if that fails."""
    name = engine_of(table)
    try:
        return table.to_pyarrow()
    except Exception as exc:  # noqa: BLE001 - any driver's error, said with its backend
        lines = str(exc).strip().splitlines()
        first = lines[0] if lines else ""
        why = (f"{name} cannot run an operation of the table's expression ({first})"
               if isinstance(exc, ibis_errors.OperationNotDefinedError) else f"{type(exc).__name__}: {first}")
        raise EngineError(f"reading the {what} from {name} failed: {why}"[:500]) from exc


def numbers(values: pa.Array, *, masked: bool = False) -> np.ndarray:
    """A numpy view of a fixed-width Arrow array without nulls (numbers; times as int64
    of their unit), as `to_numpy()` gives it but without the pandas import pyarrow
    makes on its first conversion (a quarter of a second for a one-command process).
    `masked`: nulls allowed, their slots holding whatever the buffer holds (the caller
    masks them with the array's validity)."""
    if values.null_count and not masked:
        raise ValueError("numbers() of an array with nulls")
    if pa.types.is_timestamp(values.type) or pa.types.is_duration(values.type):
        values = values.view(pa.int64())
    kind = "f" if pa.types.is_floating(values.type) else "i" if pa.types.is_signed_integer(values.type) \
        else "u" if pa.types.is_unsigned_integer(values.type) else None
    if kind is None:
        raise TypeError(f"numbers() of a {values.type} array")
    dtype = np.dtype(f"{kind}{values.type.bit_width // 8}")
    return np.frombuffer(values.buffers()[1], dtype, len(values), values.offset * dtype.itemsize)


def from_numbers(values: np.ndarray) -> pa.Array:
    """An Arrow array of a 1-d numpy array of numbers or booleans, as `pa.array(values)`
    gives it but without pyarrow's pandas import (numbers shared, not copied)."""
    if values.ndim != 1:
        raise ValueError(f"from_numbers() of a {values.ndim}-d array")
    values = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("="))  # native order
    if values.dtype == np.bool_:
        bits = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values),
                                 [None, pa.py_buffer(values)])


def floats(values: pa.Array) -> np.ndarray:
    """A number array as float64, NaN where missing, without pyarrow's pandas import
    (see `numbers`)."""
    values = values.cast(pa.float64())
    if values.null_count:
        values = pc.fill_null(values, from_numbers(np.array([np.nan]))[0])
    return numbers(values)


def booleans(values: pa.Array) -> np.ndarray:
    """A boolean Arrow array without nulls as numpy booleans (see `numbers`)."""
    if values.null_count:
        raise ValueError("booleans() of an array with nulls")
    bits = np.frombuffer(values.buffers()[1], np.uint8)
    return np.unpackbits(bits, count=values.offset + len(values), bitorder="little")[values.offset:].astype(np.bool_)


def from_strings(values: Sequence[str]) -> pa.Array:
    """An Arrow string array of Python strings, as `pa.array(values, pa.string())` gives
    it but without pyarrow's pandas import."""
    data = [v.encode("utf-8") for v in values]
    offsets = np.concatenate(([0], np.cumsum([len(d) for d in data]))).astype(np.int32)
    return pa.Array.from_buffers(pa.string(), len(data), [None, pa.py_buffer(offsets),
                                                          pa.py_buffer(b"".join(data))])


def odd_last_bytes(strings: pa.Array) -> np.ndarray:
    """Per string: whether its last byte is odd; splits distinct strings into two
    disjoint halves of about equal size (ids ending in digits, hex, letters)."""
    return odd_last_byte(*string_buffers(strings))


def string_buffers(ids: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bytes) of a string array as numpy views, no copy for a plain or large
    string array (offsets int32 or int64; string i is bytes[offsets[i]:offsets[i + 1]]).
    Null entries read as empty strings."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    if not pa.types.is_large_string(ids.type):
        ids = ids.cast(pa.string())
    width = np.int64 if pa.types.is_large_string(ids.type) else np.int32
    _, offsets, data = ids.buffers()[:3]
    off = np.frombuffer(offsets, width, len(ids) + 1, ids.offset * np.dtype(width).itemsize) \
        if offsets is not None else np.zeros(1, width)
    return off, np.frombuffer(data, np.uint8) if data is not None else np.zeros(1, np.uint8)
