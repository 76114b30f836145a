"""journeymap.transitions(): small hand-made tables with hand-computed edges.

Semantics checked (module docstrings of measure/streams.py and transitions.py):

* each user's events in the order (ts, event, event_id); every consecutive pair
  is a transition; a user's first event comes from `$start`, the last goes to `$end`;
* per pair: occurrences (`count`), distinct `users`, `share` of the source's outgoing
  transitions (→ `$end` included), `median_s` and `p90_s` (linear interpolation,
  like the funnel) of the seconds on the edge; edges busiest first, then by from, to;
* `include` / `exclude` drop event names before pairing; `fold_below` folds events
  rarer than that share of all occurrences into "other"; `users=` keeps those ids;
* stage level: each event that qualifies for a stage becomes its earliest stage (in
  (user, time) order), other events drop out.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import journeymap
from journeymap.errors import IngestError, QueryError
from journeymap.measure.paths.transitions import TransitionsResult

pytestmark = pytest.mark.filterwarnings("ignore:fetch_record_batch.. is deprecated:DeprecationWarning")

T0 = dt.datetime(2024, 3, 1)


def frame(rows) -> pd.DataFrame:
    """[(user, event, seconds after T0, {props}?)] -> events DataFrame (naive = UTC)."""
    out = []
    for r in rows:
        out.append({"user_id": r[0], "event": r[1], "ts": T0 + dt.timedelta(seconds=r[2]),
                    **(r[3] if len(r) > 3 else {})})
    return pd.DataFrame(out)


def edges(result: TransitionsResult) -> dict[tuple[str, str], dict]:
    return {(e["from"], e["to"]): e for e in result.edges}


def counts(result: TransitionsResult) -> dict[tuple[str, str], int]:
    return {k: e["count"] for k, e in edges(result).items()}


# a: view → cart → view → buy; b: view → cart → buy; c: cart (alone)
SHOP = [
    ("a", "view", 0), ("a", "cart", 60), ("a", "view", 180), ("a", "buy", 600),
    ("b", "view", 0), ("b", "cart", 120), ("b", "buy", 300),
    ("c", "cart", 0),
]


def test_counts_users_share_and_times():
    r = journeymap.transitions(frame(SHOP))
    assert r.users == 3
    assert r.level == "event"
    e = edges(r)
    assert counts(r) == {
        ("$start", "view"): 2, ("$start", "cart"): 1,
        ("view", "cart"): 2, ("view", "buy"): 1,
        ("cart", "view"): 1, ("cart", "buy"): 1, ("cart", "$end"): 1,
        ("buy", "$end"): 2,
    }
    assert {k: v["users"] for k, v in e.items()} == counts(r)  # nobody repeats a pair here
    # shares of the source's outgoing transitions
    assert e[("$start", "view")]["share"] == pytest.approx(2 / 3)
    assert e[("$start", "cart")]["share"] == pytest.approx(1 / 3)
    assert e[("view", "cart")]["share"] == pytest.approx(2 / 3)
    assert e[("view", "buy")]["share"] == pytest.approx(1 / 3)
    for to in ("view", "buy", "$end"):
        assert e[("cart", to)]["share"] == pytest.approx(1 / 3)
    assert e[("buy", "$end")]["share"] == 1.0
    # seconds on the edge: view→cart took 60 s (a) and 120 s (b)
    assert e[("view", "cart")]["median_s"] == 90.0
    assert e[("view", "cart")]["p90_s"] == pytest.approx(114.0)  # 60 + 0.9 * 60
    assert e[("view", "buy")]["median_s"] == 420.0
    assert e[("cart", "view")]["median_s"] == 120.0
    assert e[("cart", "buy")]["median_s"] == 180.0
    assert e[("cart", "buy")]["p90_s"] == 180.0
    # no time on the virtual edges
    for k in [("$start", "view"), ("$start", "cart"), ("cart", "$end"), ("buy", "$end")]:
        assert e[k]["median_s"] is None and e[k]["p90_s"] is None


def test_start_end_views_and_order_of_rows():
    r = journeymap.transitions(frame(SHOP))
    assert r.starts == {"view": 2, "cart": 1}
    assert r.ends == {"cart": 1, "buy": 2}
    assert sum(r.starts.values()) == r.users == sum(r.ends.values())
    d = r.to_dict()
    assert d["starts"] == r.starts and d["ends"] == r.ends and d["users"] == 3
    # busiest first, ties by (from, to)
    assert [(e["from"], e["to"]) for e in r.edges] == [
        ("$start", "view"), ("buy", "$end"), ("view", "cart"),
        ("$start", "cart"), ("cart", "$end"), ("cart", "buy"), ("cart", "view"), ("view", "buy"),
    ]


def test_to_pandas_columns_and_graph():
    r = journeymap.transitions(frame(SHOP))
    df = r.to_pandas()
    assert {"from", "to", "count", "users", "share", "median_s", "p90_s"} <= set(df.columns)
    assert len(df) == 8
    assert df["count"].sum() == 3 + 5 + 3  # $start edges + real pairs + $end edges
    g = r.graph()
    assert {n["id"] for n in g["nodes"]} == {"$start", "$end", "view", "cart", "buy"}
    assert sum(x["weight"] for x in g["edges"]) == df["count"].sum()
    assert r.to_arrow().num_rows == 8
    assert '"$start"' in r.to_json()


def test_repeated_pair_counts_once_per_user_in_users():
    # e loops view → cart twice (10 s, then 30 s); f once (100 s)
    rows = [("e", "view", 0), ("e", "cart", 10), ("e", "view", 20), ("e", "cart", 50),
            ("f", "view", 0), ("f", "cart", 100)]
    e = edges(journeymap.transitions(frame(rows)))
    vc = e[("view", "cart")]
    assert (vc["count"], vc["users"]) == (3, 2)
    assert vc["median_s"] == 30.0
    assert vc["p90_s"] == pytest.approx(86.0)  # sorted 10, 30, 100: 30 + 0.8 * 70
    assert (e[("cart", "view")]["count"], e[("cart", "view")]["users"]) == (1, 1)
    assert e[("cart", "$end")]["count"] == 2
    assert vc["share"] == 1.0  # view is always followed by cart


def test_p90_interpolates_linearly():
    gaps = [10, 20, 30, 40, 100]
    rows = []
    for i, g in enumerate(gaps):
        rows += [(f"u{i}", "a", 0), (f"u{i}", "b", g)]
    e = edges(journeymap.transitions(frame(rows)))[("a", "b")]
    assert e["median_s"] == 30.0
    assert e["p90_s"] == pytest.approx(76.0)  # position 3.6: 40 + 0.6 * 60
    assert (e["count"], e["users"]) == (5, 5)


def test_sub_second_times():
    rows = [("u", "a", 0), ("u", "b", 0.25), ("u", "c", 0.250001)]
    e = edges(journeymap.transitions(frame(rows)))
    assert e[("a", "b")]["median_s"] == pytest.approx(0.25)
    assert e[("b", "c")]["median_s"] == pytest.approx(1e-6)


def test_ties_ordered_by_event_name():
    # same instant: "b" and "a" are ordered a, b whatever the row order
    for rows in ([("u", "b", 0), ("u", "a", 0)], [("u", "a", 0), ("u", "b", 0)]):
        r = journeymap.transitions(frame(rows))
        assert counts(r) == {("$start", "a"): 1, ("a", "b"): 1, ("b", "$end"): 1}
        assert edges(r)[("a", "b")]["median_s"] == 0.0
    # a later event is never moved before an earlier one by its name
    r = journeymap.transitions(frame([("u", "a", 1), ("u", "z", 0)]))
    assert counts(r) == {("$start", "z"): 1, ("z", "a"): 1, ("a", "$end"): 1}


def test_single_event_users():
    r = journeymap.transitions(frame([("x", "a", 0), ("y", "a", 5)]))
    assert counts(r) == {("$start", "a"): 2, ("a", "$end"): 2}
    assert r.users == 2


def test_include_and_exclude():
    inc = journeymap.transitions(frame(SHOP), include=["view", "buy"])
    exc = journeymap.transitions(frame(SHOP), exclude=["cart"])
    for r in (inc, exc):
        # c only did cart: gone; a: view → view → buy; b: view → buy
        assert r.users == 2
        assert counts(r) == {("$start", "view"): 2, ("view", "view"): 1, ("view", "buy"): 2,
                             ("buy", "$end"): 2}
        e = edges(r)
        assert e[("view", "view")]["median_s"] == 180.0
        assert e[("view", "buy")]["median_s"] == 360.0  # median of 420 (a) and 300 (b)
    assert inc.to_dict() == exc.to_dict()
    both = journeymap.transitions(frame(SHOP), include=["view", "cart"], exclude=["view"])
    assert counts(both) == {("$start", "cart"): 3, ("cart", "$end"): 3}
    nothing = journeymap.transitions(frame(SHOP), include=["nope"])
    assert nothing.users == 0 and nothing.edges == []


def test_fold_below_makes_other():
    # occurrences: view 3, cart 3, buy 2 of 8 -> shares .375 .375 .25
    r = journeymap.transitions(frame(SHOP), fold_below=0.3)
    assert counts(r) == {
        ("$start", "view"): 2, ("$start", "cart"): 1,
        ("view", "cart"): 2, ("view", "other"): 1,
        ("cart", "view"): 1, ("cart", "other"): 1, ("cart", "$end"): 1,
        ("other", "$end"): 2,
    }
    # exactly at the threshold is not rare
    assert counts(journeymap.transitions(frame(SHOP), fold_below=0.25)) == \
        counts(journeymap.transitions(frame(SHOP)))
    # everything rare: one node
    r = journeymap.transitions(frame(SHOP), fold_below=0.5)
    assert counts(r) == {("$start", "other"): 3, ("other", "other"): 5, ("other", "$end"): 3}
    assert edges(r)[("other", "other")]["users"] == 2


def test_fold_below_merges_into_an_existing_other_event():
    rows = [("u", "other", 0), ("u", "x", 1), ("u", "other", 2), ("u", "other", 3),
            ("v", "other", 0), ("v", "zz", 5), ("v", "x", 6), ("v", "x", 7),
            ("v", "x", 8), ("v", "other", 9)]
    # other 5, x 4, zz 1 of 10: zz folds into the real "other"
    r = journeymap.transitions(frame(rows), fold_below=0.15)
    assert counts(r) == {
        ("$start", "other"): 2, ("other", "x"): 2, ("x", "other"): 2, ("other", "other"): 2,
        ("x", "x"): 2, ("other", "$end"): 2,
    }


def test_users_subset():
    r = journeymap.transitions(frame(SHOP), users=["a", "c", "nobody"])
    assert r.users == 2
    assert counts(r) == {("$start", "view"): 1, ("$start", "cart"): 1, ("view", "cart"): 1,
                         ("cart", "view"): 1, ("view", "buy"): 1, ("buy", "$end"): 1,
                         ("cart", "$end"): 1}
    # share is within the selection: view goes to cart and buy once each
    assert edges(r)[("view", "cart")]["share"] == 0.5
    assert journeymap.transitions(frame(SHOP), users=iter(["b"])).users == 1
    assert journeymap.transitions(frame(SHOP), users=[]).users == 0


STAGE_JOURNEY = """\
name: shop
stages:
  - {id: zeta_visit, owner: m, enter: {event: [view, cart]}}
  - {id: alpha_basket, owner: m, enter: {event: cart}}
  - {id: purchase, owner: s, enter: {event: buy}}
"""


def test_stage_level_earliest_stage_and_dropped_events():
    rows = [("a", "view", 0), ("a", "help", 30), ("a", "cart", 60), ("a", "buy", 200),
            ("b", "help", 0), ("b", "buy", 50),
            ("c", "help", 0)]
    r = journeymap.transitions(frame(rows), level="stage", journey=STAGE_JOURNEY)
    assert r.level == "stage"
    # cart qualifies for zeta_visit and alpha_basket: it becomes zeta_visit ((user, time) order,
    # not name order); help qualifies for nothing; c has no stage event at all
    assert r.users == 2
    assert counts(r) == {("$start", "zeta_visit"): 1, ("zeta_visit", "zeta_visit"): 1,
                         ("zeta_visit", "purchase"): 1, ("$start", "purchase"): 1,
                         ("purchase", "$end"): 2}
    e = edges(r)
    assert e[("zeta_visit", "zeta_visit")]["median_s"] == 60.0  # view → cart, help dropped
    assert e[("zeta_visit", "purchase")]["median_s"] == 140.0
    assert "alpha_basket" not in {n["id"] for n in r.graph()["nodes"]}


def test_stage_level_property_conditions_pick_the_earliest_matching_stage():
    journey = """\
name: plans
stages:
  - {id: pro_signup, owner: g, enter: {event: signup, where: {plan: pro}}}
  - {id: any_signup, owner: g, enter: {event: signup}}
  - {id: paid, owner: s, enter: {event: pay}}
"""
    rows = [("p", "signup", 0, {"plan": "pro"}), ("p", "pay", 10, {"plan": "pro"}),
            ("f", "signup", 0, {"plan": "free"}), ("f", "pay", 20, {"plan": "free"})]
    r = journeymap.transitions(frame(rows), level="stage", journey=journeymap.load_journey(journey))
    assert counts(r) == {("$start", "pro_signup"): 1, ("$start", "any_signup"): 1,
                         ("pro_signup", "paid"): 1, ("any_signup", "paid"): 1, ("paid", "$end"): 2}


def test_event_level_ignores_the_journey():
    plain = journeymap.transitions(frame(SHOP))
    with_journey = journeymap.transitions(frame(SHOP), journey=STAGE_JOURNEY)
    assert plain.to_dict() == with_journey.to_dict()


def _forms():
    df = frame(SHOP)
    arrow = pa.Table.from_pandas(df, preserve_index=False)
    return {
        "pandas": df,
        "pandas-utc": df.assign(ts=df["ts"].dt.tz_localize("UTC")),
        "arrow": arrow,
        "arrow-batch": arrow.to_batches()[0],
        "polars": pl.from_pandas(df),
        "polars-us": pl.from_pandas(df).with_columns(pl.col("ts").dt.cast_time_unit("us")),
        "list": df.to_dict("records"),
        "ibis-memtable-pandas": ibis.memtable(df),
        "ibis-memtable-arrow": ibis.memtable(arrow),  # timestamp[ns] (pandas' unit)
        "ibis-memtable-arrow-us": ibis.memtable(arrow.set_column(
            2, "ts", arrow["ts"].cast(pa.timestamp("us", "UTC")))),
        "ibis-memtable-polars": ibis.memtable(pl.from_pandas(df)),
    }


@pytest.mark.parametrize("form", list(_forms()))
def test_every_input_form_gives_the_same_edges(form):
    expected = journeymap.transitions(frame(SHOP)).to_dict()
    got = journeymap.transitions(_forms()[form]).to_dict()
    assert got == expected
    assert edges(journeymap.transitions(_forms()[form]))[("view", "cart")]["median_s"] == 90.0


def test_text_timestamps():
    df = frame(SHOP)
    df["ts"] = df["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert journeymap.transitions(df).to_dict() == journeymap.transitions(frame(SHOP)).to_dict()


def test_unknown_level():
    with pytest.raises(QueryError, match="unknown level 'user'"):
        journeymap.transitions(frame(SHOP), level="user")


def test_stage_level_needs_a_journey():
    with pytest.raises(QueryError, match="need a journey"):
        journeymap.transitions(frame(SHOP), level="stage")


def test_missing_column():
    with pytest.raises(IngestError, match="no 'ts' column"):
        journeymap.transitions(frame(SHOP).rename(columns={"ts": "time"}))


def test_unreadable_input():
    with pytest.raises(IngestError, match="cannot read events"):
        journeymap.transitions(42)


def test_bad_journey_object():
    with pytest.raises(TypeError):
        journeymap.transitions(frame(SHOP), level="stage", journey=3.5)
