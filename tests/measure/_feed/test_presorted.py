"""Events already in user order (a DataFrame, an Arrow table, Parquet files) are read
without the engine's sort, and give exactly the engine's answers, whatever their order."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import journeymap
from journeymap.measure._feed import batches, presorted
from journeymap.store import scan
from journeymap.store.sources import TableEvents, as_source

NAMES = ["visit", "signup", "activate", "invite", "purchase", "support"]
STEPS = ["visit", "signup", {"event": "activate", "where": {"plan": "pro"}}, "purchase"]
JOURNEY = """
name: presorted
stages:
  - {id: aware, owner: marketing, enter: {event: visit}}
  - {id: joined, owner: growth, enter: {event: signup}}
  - {id: active, owner: product, enter: {event: activate, where: {plan: pro}}}
  - {id: paying, owner: sales, enter: {event: purchase}}
"""

def events(seed: int = 3, users: int = 300, ties: float = 0.3) -> pd.DataFrame:
    """Random events: some users with many rows, many rows sharing a user's instant,
    integer event ids (whose text order differs from their number order)."""
    rng = np.random.default_rng(seed)
    per_user = rng.zipf(1.6, users).clip(1, 400)
    uid = np.repeat([f"u{i:04d}" for i in rng.permutation(users)], per_user)
    n = len(uid)
    sec = rng.integers(0, 40 * 86400, n)
    sec = np.where(rng.random(n) < ties, sec - sec % 3600, sec)  # many on the hour
    return pd.DataFrame({
        "user_id": uid,
        "event": rng.choice(NAMES, n, p=[.4, .2, .15, .1, .1, .05]),
        "ts": pd.to_datetime(sec, unit="s", utc=True),
        "event_id": rng.permutation(n) + 1,
        "plan": rng.choice(["pro", "free", None], n),
    })


def in_user_order(df: pd.DataFrame, ties_shuffled: bool = True) -> pd.DataFrame:
    """Sorted by user and time; rows at one instant left in a random order."""
    key = ["user_id", "ts"] if ties_shuffled else ["user_id", "ts", "event", "event_id"]
    df = df.sample(frac=1, random_state=1) if ties_shuffled else df
    return df.sort_values(key, kind="stable").reset_index(drop=True)


def engine_only(monkeypatch):
    monkeypatch.setattr(TableEvents, "pieces", None)


def answers(ev) -> dict:
    j = journeymap.load_journey(JOURNEY)
    return {
        "funnel": journeymap.funnel(ev, STEPS, window="7d").to_dict(),
        "strict": journeymap.funnel(ev, STEPS[:2], window="7d", order="strict").to_dict(),
        "unordered": journeymap.funnel(ev, STEPS, window="7d", order="unordered").to_dict(),
        "breakdown": journeymap.funnel(ev, STEPS, window="7d", breakdown="plan").to_dict(),
        "exclusion": journeymap.funnel(ev, STEPS, window="7d",
                                       exclusions=[("support", 0, 2)]).to_dict(),
        "transitions": journeymap.transitions(ev).to_dict(),
        "stage transitions": journeymap.transitions(ev, level="stage", journey=j).to_dict(),
        "measure": journeymap.measure(j, ev).to_dict(),
        "paths": journeymap.paths(j, ev).to_dict(),
    }


@pytest.fixture
def took(monkeypatch):
    """Whether the last reads went without the engine (and how many did)."""
    seen = {"in_order": 0, "reordered": 0, "engine": 0}
    read, reorder, engine = presorted.read_in_order, presorted.read_reordered, batches._ibis_tables

    def counted_read(*a, **k):
        got = read(*a, **k)
        seen["in_order"] += got is not None
        return got

    def counted_reorder(*a, **k):
        got = reorder(*a, **k)
        seen["reordered"] += got is not None
        return got

    def counted_engine(*a, **k):
        seen["engine"] += 1
        return engine(*a, **k)
    monkeypatch.setattr(batches, "read_in_order", counted_read)
    monkeypatch.setattr(batches, "read_reordered", counted_reorder)
    monkeypatch.setattr(batches, "_ibis_tables", counted_engine)
    return seen


def parquet(df: pd.DataFrame, path, row_group_size: int = 97) -> ibis.Table:
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path,
                   row_group_size=row_group_size)
    return ibis.duckdb.connect().read_parquet(str(path))


@pytest.mark.parametrize("ties_shuffled", [False, True])
def test_parquet_in_user_order_gives_the_engines_answers(tmp_path, monkeypatch, took,
                                                         ties_shuffled):
    df = in_user_order(events(), ties_shuffled)
    # small row groups and pieces: users run across both
    monkeypatch.setattr(scan, "PIECE_ROWS", 300)
    ev = parquet(df, tmp_path / "e.parquet")
    fast = answers(ev)
    assert took["in_order"] > 0 and took["engine"] == 0
    engine_only(monkeypatch)
    assert fast == answers(ev)
    assert took["engine"] > 0


def test_dataframe_and_arrow_in_user_order(monkeypatch, took):
    monkeypatch.setattr(presorted, "CHUNK_ROWS", 101)  # users run across chunks
    df = in_user_order(events(seed=5))
    fast_df, fast_arrow = answers(df), answers(pa.Table.from_pandas(df, preserve_index=False))
    assert took["in_order"] > 0 and took["engine"] == 0
    engine_only(monkeypatch)
    assert fast_df == fast_arrow == answers(df)


def test_dataframe_without_event_ids(monkeypatch, took):
    """Ids derived from content: rows whose order matters are read by the engine."""
    df = in_user_order(events(seed=6)).drop(columns="event_id")
    plain = journeymap.funnel(df, ["visit", "signup", "purchase"], window="7d").to_dict()
    assert took["in_order"] == 1 and took["engine"] == 0
    fast = answers(df)
    engine_only(monkeypatch)
    assert fast == answers(df)
    assert plain == journeymap.funnel(df, ["visit", "signup", "purchase"], window="7d").to_dict()


@pytest.mark.parametrize("disorder", ["shuffled", "time order", "one user back in time",
                                      "one user id out of place", "a missing user id"])
def test_rows_out_of_order_are_reordered_or_go_to_the_engine(tmp_path, monkeypatch, took,
                                                             disorder):
    """Rows out of user order are put in order in memory; a missing id sends them to the
    engine. Either way, the engine's answers."""
    df = in_user_order(events(seed=7))
    if disorder == "shuffled":
        df = df.sample(frac=1, random_state=2)
    elif disorder == "time order":
        df = df.sort_values("ts", kind="stable")
    elif disorder == "one user back in time":
        first = df.index[df.user_id == df.user_id.iloc[-1]]
        df.loc[first[-1], "ts"] = df.ts.min() - pd.Timedelta("1h")
    elif disorder == "one user id out of place":
        df.loc[df.index[len(df) // 2], ["user_id", "event"]] = ["u0000", "visit"]
    else:
        df["user_id"] = df.user_id.astype(object)
        df.loc[df.index[10], "user_id"] = None
    ev = parquet(df, tmp_path / "e.parquet")
    got = answers(ev)
    assert took["in_order"] == 0
    if disorder == "a missing user id":
        assert took["reordered"] == 0 and took["engine"] > 0
    else:
        assert took["reordered"] > 0 and took["engine"] == 0
    engine_only(monkeypatch)
    assert got == answers(ev)


@pytest.mark.parametrize("form", ["parquet", "pandas", "polars"])
def test_more_rows_than_fit_go_to_the_engine(tmp_path, monkeypatch, took, form):
    df = in_user_order(events(seed=7)).sort_values("ts", kind="stable")
    ev = parquet(df, tmp_path / "e.parquet") if form == "parquet" else \
        as_kind(with_text(df), form)
    monkeypatch.setattr(presorted, "REORDER_ROWS", len(df) - 1)
    got = answers(ev)
    assert took["reordered"] == 0 and took["engine"] > 0
    monkeypatch.setattr(presorted, "REORDER_ROWS", len(df))
    assert answers(ev) == got and took["reordered"] > 0


def test_integer_user_ids_keep_text_order(tmp_path, monkeypatch, took):
    """Integer ids sort as text, as everywhere (10 before 9): a file in number order is
    not in that order, and is put in text order in memory."""
    df = in_user_order(events(seed=8))
    df["user_id"] = df.user_id.str[1:].astype(int)
    df = df.sort_values(["user_id", "ts"], kind="stable")
    ev = parquet(df, tmp_path / "e.parquet")
    got = answers(ev)
    assert took["in_order"] == 0 and took["reordered"] > 0
    engine_only(monkeypatch)
    assert got == answers(ev)


def test_only_plain_tables_and_parquet_views_are_read_without_the_engine(tmp_path):
    df = in_user_order(events(seed=9))
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp_path / "a.parquet")
    con = ibis.duckdb.connect()
    view = con.read_parquet(str(tmp_path / "a.parquet"))
    assert scan.parquet_files(as_source(view).typed.op().parent) == [str(tmp_path / "a.parquet")]
    for other in (view.filter(view.event != "x"), con.read_parquet(str(tmp_path / "*.parquet")),
                  con.create_table("t", view)):
        assert as_source(other).pieces(["user_id", "ts", "event"]) is None
    pieces = list(as_source(view).pieces(["user_id", "event_id"]))
    assert pa.concat_tables(pieces)["event_id"].type == pa.string()  # as the engine casts it


def test_row_group_statistics_out_of_order_skip_the_read(tmp_path):
    """A file whose row groups overlap in user ids is given to the engine unread."""
    df = in_user_order(events(seed=10))
    by_user = parquet(df, tmp_path / "by_user.parquet", row_group_size=50)
    by_time = parquet(df.sort_values("ts", kind="stable"), tmp_path / "by_time.parquet",
                      row_group_size=50)
    assert as_source(by_user).pieces(["user_id"], ordered_by="user_id") is not None
    assert as_source(by_time).pieces(["user_id"], ordered_by="user_id") is None
    assert as_source(by_time).pieces(["user_id"]) is not None


@settings(max_examples=200, deadline=None)
@given(chunks=st.lists(st.lists(st.text(alphabet="ab1\x00é🚀", max_size=5), max_size=20),
                       min_size=1, max_size=4), large=st.booleans())
def test_ids_coded_in_two_halves_are_each_rows_id(chunks, large):
    """The reorder codes ids on two cores, split by their last byte: every row gets the
    code of its own id, and the distinct ids are each listed once."""
    kind = pa.large_string() if large else pa.string()
    ids, codes = presorted._coded_ids([pa.array(c, kind) for c in chunks])
    rows = [s for c in chunks for s in c]
    assert ids.take(pa.array(codes, pa.int64())).to_pylist() == rows
    assert sorted(ids.to_pylist()) == sorted(set(rows))


def with_text(df: pd.DataFrame) -> pd.DataFrame:
    """More text properties of three kinds: Python strings, pandas' python-backed strings
    (missing values as pd.NA) and Arrow-backed strings."""
    rng = np.random.default_rng(11)
    return df.assign(path=rng.choice(["/", "/pricing", "/docs/é", None], len(df)),
                     device=pd.array(rng.choice(["ios", "web", None], len(df)), dtype="string[python]"),
                     country=pd.array(rng.choice(["fr", "de"], len(df)), dtype="string[pyarrow]"))


def as_kind(df: pd.DataFrame, kind: str):
    return pl.from_pandas(df) if kind == "polars" else df


@pytest.mark.parametrize("kind", ["pandas", "polars"])
def test_text_properties_of_a_dataframe_are_turned_into_arrow_only_when_read(kind):
    df = with_text(in_user_order(events(seed=8)))
    typed = as_source(as_kind(df, kind)).typed
    op = typed.op()
    held = getattr(op, "parent", op).data.to_frame()  # under the cast of the integer event ids
    assert str(held["plan"].dtype) == ("object" if kind == "pandas" else "string_view[pyarrow]")
    assert next(scan.pieces(typed, ["user_id", "ts", "event"])).column_names == ["user_id", "ts", "event"]
    got = next(scan.pieces(typed, ["plan", "path", "device", "country"]))
    assert got.to_pydict() == pa.Table.from_pandas(
        df[["plan", "path", "device", "country"]], preserve_index=False).to_pydict()
    assert {str(f.type) for f in got.schema} <= {"string", "large_string"}


@pytest.mark.parametrize("kind", ["pandas", "polars"])
@pytest.mark.parametrize("shape", ["user order", "time order", "index out of order",
                                   "index of text, with gaps"])
def test_a_dataframe_with_text_properties_answers_as_its_arrow_table(monkeypatch, took, shape, kind):
    """Left as given until read, text properties give the numbers of the same events
    handed over as an Arrow table (every property typed at once), on the fast paths and
    on the engine's (retention)."""
    df = with_text(in_user_order(events(seed=9)))
    if shape == "time order":
        df = df.sort_values("ts", kind="stable").reset_index(drop=True)
    elif shape == "index out of order":
        df = df.iloc[::-1]
    elif shape == "index of text, with gaps":
        df = df.set_axis([f"r{i}" for i in range(len(df))]).iloc[::2]
    arrow = pa.Table.from_pandas(df, preserve_index=False)

    def more(ev) -> dict:
        return {**answers(ev),
                "by path": journeymap.funnel(ev, ["visit", "signup"], window="7d",
                                             breakdown="path").to_dict(),
                "where device": journeymap.funnel(ev, ["visit", {"event": "signup", "where": {
                    "device": "ios"}}], window="7d").to_dict(),
                "retention": journeymap.retention(ev, "visit", "purchase").to_dict()}
    given = more(as_kind(df, kind))
    in_order = shape in ("user order", "index of text, with gaps")
    assert took["engine"] == 0 and took["in_order" if in_order else "reordered"] > 0
    assert given == more(arrow)
