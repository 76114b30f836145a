"""journeymap.paths(): hand-computed top paths, advanced/dropped paths, repeats,
stage moves, exits and conformance on small tables.

Semantics (module docstrings of measure/variants.py, deviations.py, actual.py):

* a path is a user's events from an anchor, up to `depth`: from their first `start`
  event, ending at their first `end` event, or between the two (start to the first end
  after it); counted once per user; "…" marks a path cut at the depth; share = users /
  users who have the anchor; most users first, ties by path text;
* `stage=`: from entering that stage (stage rules of the measured map), the paths of
  users who advanced to the next stage vs those who dropped;
* on the stage trace: loop = same stage twice in a row; backtrack = a move to an
  earlier stage; skip = a forward jump over a non-optional stage never reached;
  out of order = a forward jump over a stage done later; conform = none of these;
* exit = the last event before a silence longer than the journey's `inactivity`, or
  before the data end when that is longer ago; ranked by users, with the furthest
  stage the user had entered by then.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import journeymap
from journeymap.errors import QueryError
from journeymap.measure.paths.top_paths import MORE

pytestmark = pytest.mark.filterwarnings("ignore:fetch_record_batch.. is deprecated:DeprecationWarning")

T0 = dt.datetime(2024, 3, 1)
HOUR, DAY = 3600, 86400


def frame(rows) -> pd.DataFrame:
    """[(user, event, seconds[, microseconds])] -> events DataFrame (naive = UTC)."""
    return pd.DataFrame([{"user_id": r[0], "event": r[1],
                          "ts": T0 + dt.timedelta(seconds=r[2], microseconds=r[3] if len(r) > 3 else 0)}
                         for r in rows])


def seq(user: str, *events: str, step: int = 60) -> list[tuple]:
    """One user's events, one every `step` seconds."""
    return [(user, e, i * step) for i, e in enumerate(events)]


def as_tuples(paths_result) -> list[tuple]:
    return [(tuple(p["path"]), p["users"], p["share"]) for p in paths_result.paths]


SITE = """\
name: site
stages:
  - {id: browse, owner: marketing, enter: {event: home}}
  - {id: interest, owner: marketing, enter: {event: item}}
  - {id: basket, owner: sales, enter: {event: cart}}
  - {id: purchase, owner: sales, enter: {event: buy}}
"""

CLICKS = (seq("u1", "home", "search", "item", "cart", "buy")
          + seq("u2", "home", "search", "item", "home", "search", "item", "cart")
          + seq("u3", "home", "item", "cart", "buy")
          + seq("u4", "search", "item", "cart", "buy")
          + seq("u5", "home", "search", "item", "cart", "buy")
          + seq("u6", "item"))


def test_top_paths_without_anchor_cut_at_depth():
    r = journeymap.paths(SITE, frame(CLICKS))
    assert r.users == 6
    assert r.paths.users == 6
    assert r.paths.anchor == {"start": None, "end": None, "depth": 6}
    assert as_tuples(r.paths) == [
        (("home", "search", "item", "cart", "buy"), 2, pytest.approx(2 / 6)),
        (("home", "item", "cart", "buy"), 1, pytest.approx(1 / 6)),
        (("home", "search", "item", "home", "search", "item", MORE), 1, pytest.approx(1 / 6)),
        (("item",), 1, pytest.approx(1 / 6)),
        (("search", "item", "cart", "buy"), 1, pytest.approx(1 / 6)),
    ]
    assert MORE == "…"


def test_top_paths_from_a_start_event():
    r = journeymap.paths(SITE, frame(CLICKS), start="search")
    # u3 and u6 never search: not considered; u2's path from search is exactly 6 long
    assert r.paths.users == 4
    assert as_tuples(r.paths) == [
        (("search", "item", "cart", "buy"), 3, 0.75),
        (("search", "item", "home", "search", "item", "cart"), 1, 0.25),
    ]
    cut = journeymap.paths(SITE, frame(CLICKS), start="search", depth=2)
    assert as_tuples(cut.paths) == [(("search", "item", MORE), 4, 1.0)]
    r = journeymap.paths(SITE, frame(CLICKS), start="search", depth=3)
    assert as_tuples(r.paths) == [(("search", "item", "cart", MORE), 3, 0.75),
                                  (("search", "item", "home", MORE), 1, 0.25)]
    # a path exactly `depth` long is not cut
    r = journeymap.paths(SITE, frame(CLICKS), start="cart", depth=2)
    assert as_tuples(r.paths) == [(("cart", "buy"), 4, 0.8), (("cart",), 1, 0.2)]


def test_top_paths_ending_at_an_event():
    r = journeymap.paths(SITE, frame(CLICKS), end="cart", depth=10)
    # u6 never reaches cart; each path stops at the user's first cart
    assert r.paths.users == 5
    assert as_tuples(r.paths) == [
        (("home", "search", "item", "cart"), 2, 0.4),
        (("home", "item", "cart"), 1, 0.2),
        (("home", "search", "item", "home", "search", "item", "cart"), 1, 0.2),
        (("search", "item", "cart"), 1, 0.2),
    ]
    assert all(p["path"][-1] == "cart" for p in r.paths.paths)


def test_end_anchored_path_marks_a_cut_at_its_front():
    """Cut paths are marked with "…" so that they are not read as whole journeys. From a
    start event the cut is at the end; ending at an event it is at the front. Without the
    mark, u1 (home → search → item → cart) and u4 (exactly search → item → cart) would be
    counted as one and the same path."""
    r = journeymap.paths(SITE, frame(CLICKS), end="cart", depth=3)
    assert r.paths.users == 5
    assert as_tuples(r.paths) == [
        ((MORE, "search", "item", "cart"), 3, 0.6),    # u1, u2, u5: more came before
        (("home", "item", "cart"), 1, 0.2),            # u3: the whole journey
        (("search", "item", "cart"), 1, 0.2),          # u4: the whole journey
    ]


def test_top_paths_between_two_events():
    r = journeymap.paths(SITE, frame(CLICKS), start="search", end="buy")
    # u2 searches but never buys after it: out; u3, u6 never search
    assert r.paths.users == 3
    assert as_tuples(r.paths) == [(("search", "item", "cart", "buy"), 3, 1.0)]
    r = journeymap.paths(SITE, frame(CLICKS), start="search", end="buy", depth=2)
    assert as_tuples(r.paths) == [(("search", "item", MORE), 3, 1.0)]
    # the end must come after the start: from an item to the next item (only u2)
    r = journeymap.paths(SITE, frame(CLICKS), start="item", end="item")
    assert as_tuples(r.paths) == [(("item", "home", "search", "item"), 1, 1.0)]
    # an end only before the start does not count
    rows = seq("x", "home", "buy", "search", "item")
    r = journeymap.paths(SITE, frame(rows), start="search", end="buy")
    assert r.paths.paths == [] and r.paths.users == 0


def test_nobody_entering_the_journey_is_no_error():
    """Users whose events never enter the first stage still have paths and transitions;
    they simply have no stage (and exits without a stage)."""
    rows = seq("x", "buy", "search", "item")
    r = journeymap.paths(SITE, frame(rows))
    assert r.users == 1
    assert as_tuples(r.paths) == [(("buy", "search", "item"), 1, 1.0)]
    assert r.exits == []  # x's last event is the data end
    # stage trace purchase → interest: skips browse and basket, interest out of order,
    # then back to interest
    assert r.conformance.users == 1
    assert r.conformance.kinds == {"loop": 0, "backtrack": 1, "skip": 1, "out_of_order": 1}
    late = journeymap.paths(SITE, frame(rows + [("z", "item", 31 * DAY)]))  # > 30-day default
    assert late.exits == [{"event": "item", "stage": None, "users": 1}]


def test_between_starts_at_the_first_start_event():
    rows = seq("x", "search", "home", "search", "buy") + seq("y", "search", "buy")
    r = journeymap.paths(SITE, frame(rows), start="search", end="buy")
    assert as_tuples(r.paths) == [(("search", "buy"), 1, 0.5),
                                  (("search", "home", "search", "buy"), 1, 0.5)]


def test_top_n_keeps_the_most_common_and_shares_stay_over_everyone():
    rows = []
    for i in range(5):
        rows += seq(f"a{i}", "home", "buy")
    for i in range(3):
        rows += seq(f"b{i}", "home", "item")
    for i in range(3):
        rows += seq(f"c{i}", "home", "cart")
    rows += seq("d0", "home")
    r = journeymap.paths(SITE, frame(rows), top=2)
    assert r.paths.users == 12
    # 3-3 tie broken by the path text: home → cart before home → item
    assert as_tuples(r.paths) == [(("home", "buy"), 5, 5 / 12), (("home", "cart"), 3, 3 / 12)]
    r = journeymap.paths(SITE, frame(rows), top=3)
    assert [p["path"] for p in r.paths.paths] == [["home", "buy"], ["home", "cart"], ["home", "item"]]
    assert sum(p["share"] for p in journeymap.paths(SITE, frame(rows)).paths.paths) == pytest.approx(1)


def test_paths_rows_and_sankey():
    r = journeymap.paths(SITE, frame(CLICKS), start="search")
    assert r.paths.rows()[0] == {"path": "search → item → cart → buy", "users": 3, "share": 0.75}
    sankey = r.to_dict()["sankey"]
    data = sankey["data"][0]
    assert data["type"] == "sankey"
    labels = data["node"]["label"]
    # links out of the first step carry every user considered
    first = [v for s, v in zip(data["link"]["source"], data["link"]["value"]) if s == 0]
    assert labels[0] == "search" and sum(first) == 4
    assert r.to_pandas().columns.tolist() == ["path", "users", "share"]


def test_unknown_anchor_and_bad_depth():
    with pytest.raises(QueryError, match="no event 'serch'.*search"):
        journeymap.paths(SITE, frame(CLICKS), start="serch")
    with pytest.raises(QueryError, match="no event 'nope'"):
        journeymap.paths(SITE, frame(CLICKS), end="nope")
    with pytest.raises(QueryError, match="at least 1"):
        journeymap.paths(SITE, frame(CLICKS), depth=0)
    with pytest.raises(QueryError, match="at least 1"):
        journeymap.paths(SITE, frame(CLICKS), top=0)
    with pytest.raises(QueryError, match="at least 1"):  # before the stage's paths are counted
        journeymap.paths(SITE, frame(CLICKS), top=-5, stage=journeymap.load_journey(SITE).stages[0].id)


def test_paths_transitions_match_journeymap_transitions():
    r = journeymap.paths(SITE, frame(CLICKS))
    assert r.event_transitions.to_dict() == journeymap.transitions(frame(CLICKS)).to_dict()
    assert r.stage_transitions.to_dict() == \
        journeymap.transitions(frame(CLICKS), level="stage", journey=SITE).to_dict()
    g = r.to_dict()["graph"]
    assert {n["id"] for n in g["nodes"]} == {"$start", "$end", "browse", "interest", "basket",
                                            "purchase"}


def test_include_and_exclude_reach_every_part():
    r = journeymap.paths(SITE, frame(CLICKS), exclude=["search"])
    assert "search" not in {e["from"] for e in r.event_transitions.edges}
    assert ("home", "item", "cart", "buy") == tuple(r.paths.paths[0]["path"])
    assert r.paths.paths[0]["users"] == 3  # u1, u3, u5
    assert "search" not in {x["name"] for x in r.repeats}
    only = journeymap.paths(SITE, frame(CLICKS), include=["home", "buy"])
    assert {x["name"] for x in only.repeats} == {"home", "buy"}
    assert only.users == 5  # u6 has neither


# --- advanced vs dropped from a stage ------------------------------------------------

FUNNEL = """\
name: funnel
stages:
  - {id: visit, owner: m, enter: {event: visit}}
  - {id: signup, owner: g, enter: {event: signup}}
  - {id: buy, owner: s, enter: {event: buy}, within: 2d}
"""


def test_stage_split_advanced_vs_dropped():
    rows = (seq("a", "visit", "signup", "help", "buy")
            + seq("b", "visit", "signup", "buy")
            + seq("c", "visit", "signup", "help")
            + seq("d", "visit", "signup")
            + seq("e", "visit", "help")               # never signed up: in neither
            + [("f", "visit", 0), ("f", "signup", 60), ("f", "buy", 60 + 3 * DAY)]  # too late
            + seq("g", "signup", "buy"))              # no visit: never entered the journey
    r = journeymap.paths(FUNNEL, frame(rows), stage="signup")
    assert r.at_stage_name == "signup"
    adv, drop = r.at_stage["advanced"], r.at_stage["dropped"]
    assert adv.users == 2 and drop.users == 3
    assert as_tuples(adv) == [(("signup", "buy"), 1, 0.5), (("signup", "help", "buy"), 1, 0.5)]
    assert as_tuples(drop) == [(("signup",), 1, pytest.approx(1 / 3)),
                               (("signup", "buy"), 1, pytest.approx(1 / 3)),    # f, after 3 days
                               (("signup", "help"), 1, pytest.approx(1 / 3))]
    d = r.to_dict()["at_stage"]
    assert set(d) == {"advanced", "dropped"} and d["dropped"]["users"] == 3
    # paths after the drop are cut at the depth like any other
    cut = journeymap.paths(FUNNEL, frame(rows), stage="signup", depth=1)
    assert as_tuples(cut.at_stage["dropped"]) == [(("signup", MORE), 2, pytest.approx(2 / 3)),
                                                  (("signup",), 1, pytest.approx(1 / 3))]


def test_stage_split_with_nobody_dropping_reports_zero_users():
    rows = seq("a", "visit", "signup", "buy") + seq("b", "visit", "signup", "buy")
    r = journeymap.paths(FUNNEL, frame(rows), stage="signup")
    assert r.at_stage["advanced"].users == 2
    assert r.at_stage["dropped"].paths == []
    assert r.at_stage["dropped"].users == 0


def test_stage_split_path_begins_at_the_stage_entry_event():
    """The path from a stage begins at its entry event: events before that instant are not
    in it; an event at the same instant is simultaneous with the entry, and follows it
    whatever its name (stage events come first at an instant, as in the stage engine)."""
    rows = [("x", "visit", 0), ("x", "aaa", 30), ("x", "aab", 60), ("x", "signup", 60),
            ("x", "buy", 120)]
    r = journeymap.paths(FUNNEL, frame(rows), stage="signup")
    assert as_tuples(r.at_stage["advanced"]) == [(("signup", "aab", "buy"), 1, 1.0)]


def test_stage_split_of_the_last_stage_and_unknown_stage():
    rows = seq("a", "visit", "signup", "buy")
    assert journeymap.paths(FUNNEL, frame(rows), stage="buy").at_stage == {}
    with pytest.raises(QueryError, match="unknown stage 'sigup'.*signup"):
        journeymap.paths(FUNNEL, frame(rows), stage="sigup")


# --- repeats and stage moves -----------------------------------------------------------


def test_repeats_per_event():
    rows = (seq("a", "visit", "checkout", "checkout", "buy")
            + seq("b", "visit", "checkout", "checkout", "checkout", "checkout")
            + seq("c", "visit", "checkout")
            + seq("d", "visit", "help", "visit"))
    reps = {x["name"]: x for x in journeymap.paths(FUNNEL, frame(rows)).repeats}
    assert reps["checkout"] == {"name": "checkout", "users": 3, "repeat_users": 2,
                                "repeat_share": pytest.approx(2 / 3),
                                "mean_times_when_repeated": 3.0, "max_times": 4,
                                "times": {"1": 1, "2": 1, "4": 1}}
    assert reps["visit"] == {"name": "visit", "users": 4, "repeat_users": 1, "repeat_share": 0.25,
                             "mean_times_when_repeated": 2.0, "max_times": 2,
                             "times": {"1": 3, "2": 1}}
    assert reps["buy"]["repeat_users"] == 0 and reps["buy"]["mean_times_when_repeated"] is None
    # most repeating first
    names = [x["name"] for x in journeymap.paths(FUNNEL, frame(rows)).repeats]
    assert names[:2] == ["checkout", "visit"]


MOVES = """\
name: moves
stages:
  - {id: a, owner: x, enter: {event: a}}
  - {id: b, owner: x, enter: {event: b}, optional: true}
  - {id: c, owner: x, enter: {event: c}}
  - {id: d, owner: x, enter: {event: d}}
personas:
  - {id: pro, where: {plan: pro}}
  - {id: free, where: {plan: free}}
"""

TRACES = {
    "p1": "abcd",   # the design
    "p2": "acd",    # optional b left out: still conforming
    "p3": "ac",     # stops early: conforming
    "p4": "aac",    # loop on a
    "p5": "acac",   # backtrack c → a, then loop-free
    "p6": "ad",     # skips c (never done); b is optional
    "p7": "adc",    # out of order: d before c, then back to c
    "p8": "cd",     # starts at c: skips a
    "p9": "abbxd",  # loop on b (x is no stage), skips c
}
PLANS = {"p1": "pro", "p2": "free", "p3": "pro", "p4": "free", "p5": "pro", "p6": "free",
         "p7": "pro", "p8": "free", "p9": "pro"}


def moves_events() -> pd.DataFrame:
    rows = []
    for user, trace in TRACES.items():
        rows += seq(user, *trace)
    return frame(rows)


def moves_users() -> pd.DataFrame:
    return pd.DataFrame({"user_id": list(PLANS), "plan": list(PLANS.values())})


def test_stage_moves():
    r = journeymap.paths(MOVES, moves_events(), users=moves_users())
    moves = {m["stage"]: m for m in r.stage_moves}
    assert moves == {
        "a": {"stage": "a", "loop_users": 1, "backtrack_users": 1, "skip_users": 1, "win_back_users": 0},  # p4; p5; p8
        # p9 loops on b; p2-p8 all jump over b (optional, but they did jump over it)
        "b": {"stage": "b", "loop_users": 1, "backtrack_users": 0, "skip_users": 7, "win_back_users": 0},
        "c": {"stage": "c", "loop_users": 0, "backtrack_users": 1, "skip_users": 2, "win_back_users": 0},  # p7; p6, p9
        "d": {"stage": "d", "loop_users": 0, "backtrack_users": 0, "skip_users": 0, "win_back_users": 0},
    }


def test_conformance_kinds_and_share():
    c = journeymap.paths(MOVES, moves_events(), users=moves_users()).conformance
    assert c.users == 9
    assert c.conforming == 3  # p1, p2, p3
    assert c.to_dict()["conforming_share"] == pytest.approx(3 / 9)
    assert c.kinds == {"loop": 2,            # p4, p9
                       "backtrack": 2,       # p5, p7
                       "skip": 3,            # p6, p8, p9 (nobody for leaving out optional b)
                       "out_of_order": 1}    # p7
    rows = {r["kind"]: r for r in c.rows()}
    assert rows["conforms"]["users"] == 3 and rows["skip"]["share"] == pytest.approx(3 / 9)


def test_conformance_top_deviating_traces():
    c = journeymap.paths(MOVES, moves_events(), users=moves_users()).conformance
    traces = c.deviating_traces
    assert sum(t["users"] for t in traces) == 6
    assert {tuple(t["path"]) for t in traces} == {
        ("a", "a", "c"), ("a", "c", "a", "c"), ("a", "d"), ("a", "d", "c"), ("c", "d"),
        ("a", "b", "b", "d")}   # stage traces: x drops out
    assert all(t["share"] == pytest.approx(1 / 6) for t in traces)
    # ties by path text
    assert [t["path"] for t in traces] == sorted(t["path"] for t in traces)
    # the same trace shared by several users ranks first
    extra = moves_events()
    more = pd.concat([extra, frame(seq("q1", "a", "d") + seq("q2", "a", "d"))])
    users = pd.concat([moves_users(), pd.DataFrame({"user_id": ["q1", "q2"], "plan": "pro"})])
    top = journeymap.paths(MOVES, more, users=users).conformance.deviating_traces[0]
    assert (top["path"], top["users"], top["share"]) == (["a", "d"], 3, pytest.approx(3 / 8))


def test_conformance_per_persona_sums_to_everyone():
    c = journeymap.paths(MOVES, moves_events(), users=moves_users()).conformance
    pro, free = c.personas["pro"], c.personas["free"]
    assert pro["users"] == 5 and free["users"] == 4
    assert pro["conforming"] == 2 and free["conforming"] == 1       # p1, p3 | p2
    assert pro["kinds"] == {"loop": 1, "backtrack": 2, "skip": 1, "out_of_order": 1}
    assert free["kinds"] == {"loop": 1, "backtrack": 0, "skip": 2, "out_of_order": 0}
    assert pro["users"] + free["users"] == c.users
    assert pro["conforming"] + free["conforming"] == c.conforming
    for k in c.kinds:
        assert pro["kinds"][k] + free["kinds"][k] == c.kinds[k]
    assert pro["conforming_share"] == pytest.approx(2 / 5)


def test_persona_filter_restricts_every_part():
    r = journeymap.paths(MOVES, moves_events(), users=moves_users(), persona="free")
    assert r.users == 4
    assert r.conformance.users == 4 and r.conformance.conforming == 1
    assert r.conformance.personas == {}
    assert r.paths.users == 4
    with pytest.raises(QueryError, match="unknown persona"):
        journeymap.paths(MOVES, moves_events(), users=moves_users(), persona="gold")


# --- exits -------------------------------------------------------------------------------

EXITS = """\
name: exits
inactivity: 1d
stages:
  - {id: visit, owner: m, enter: {event: visit}}
  - {id: signup, owner: g, enter: {event: signup}}
  - {id: buy, owner: s, enter: {event: buy}}
"""
END = 10 * DAY  # the last event in the data


def exit_rows():
    return [
        # x: help exactly 1 day after the visit (not a silence), then 1 day + 1 µs of
        # silence (exit at help, still in stage visit), then silent until the data end
        ("x", "visit", 0), ("x", "help", DAY), ("x", "signup", 2 * DAY, 1),
        # y: busy, last event exactly 1 day before the data end: no exit
        ("y", "visit", END - DAY - HOUR), ("y", "signup", END - DAY - 60), ("y", "buy", END - DAY),
        # w: last event 1 day + 1 µs before the data end: an exit, in stage signup
        ("w", "visit", END - DAY - HOUR), ("w", "signup", END - DAY - 1, 999_999),
        # v: never entered a stage
        ("v", "help", 0),
        # q: silent three times after help, counted once; went back to visit after signing
        # up, so the stage is the furthest entered (signup); then buys < 1 day before the end
        ("q", "visit", 0), ("q", "signup", 60), ("q", "visit", 120), ("q", "help", 180),
        ("q", "help", 180 + 2 * DAY), ("q", "help", 180 + 4 * DAY), ("q", "buy", 180 + 9 * DAY),
        # z: the data end
        ("z", "visit", END),
    ]


def test_exits_threshold_data_end_and_stage():
    r = journeymap.paths(EXITS, frame(exit_rows()))
    assert r.exits == [
        {"event": "signup", "stage": "signup", "users": 2},   # x (before the data end), w
        {"event": "help", "stage": None, "users": 1},         # v
        {"event": "help", "stage": "signup", "users": 1},     # q
        {"event": "help", "stage": "visit", "users": 1},      # x
    ]


def test_exits_one_microsecond_more_is_a_silence():
    # visit → help: 1 day + 1 µs (silence); help → signup: exactly 1 day (none)
    rows = [("x", "visit", 0), ("x", "help", DAY, 1), ("x", "signup", 2 * DAY, 1),
            ("z", "visit", END)]
    assert journeymap.paths(EXITS, frame(rows)).exits == [
        {"event": "signup", "stage": "signup", "users": 1},
        {"event": "visit", "stage": "visit", "users": 1}]
    # visit → help: exactly 1 day (none); help → signup: 1 day + 1 µs (silence)
    rows[1] = ("x", "help", DAY)
    assert journeymap.paths(EXITS, frame(rows)).exits == [
        {"event": "help", "stage": "visit", "users": 1},
        {"event": "signup", "stage": "signup", "users": 1}]
    # the last event: exactly the threshold before the data end is no exit
    rows = [("x", "visit", 0), ("z", "visit", DAY)]
    assert journeymap.paths(EXITS, frame(rows)).exits == []
    rows = [("x", "visit", 0), ("z", "visit", DAY, 1)]
    assert journeymap.paths(EXITS, frame(rows)).exits == [
        {"event": "visit", "stage": "visit", "users": 1}]


def test_exits_with_noise_excluded_use_the_real_data_end():
    # z's late help (noise) still sets the data end when help is excluded
    rows = [("a", "visit", 0), ("a", "signup", HOUR), ("a", "help", 2 * HOUR),
            ("z", "visit", 0), ("z", "help", 3 * DAY)]
    r = journeymap.paths(EXITS, frame(rows), exclude=["help"])
    assert r.exits == [{"event": "signup", "stage": "signup", "users": 1},
                       {"event": "visit", "stage": "visit", "users": 1}]
    r = journeymap.paths(EXITS, frame(rows))
    assert r.exits == [{"event": "help", "stage": "signup", "users": 1},
                       {"event": "visit", "stage": "visit", "users": 1}]


def test_exits_default_inactivity_is_30_days():
    journey = SITE  # no inactivity: 30 days
    rows = [("a", "home", 0), ("b", "home", 0), ("b", "item", 30 * DAY, 1),
            ("c", "item", 60 * DAY, 2)]
    r = journeymap.paths(journey, frame(rows))
    # a: 60 days + 2 µs before the end; b: 30 days + 1 µs, then 30 days + 1 µs before the
    # end (in stage interest by then); c: at the end, never entered the journey
    assert r.exits == [{"event": "home", "stage": "browse", "users": 2},
                       {"event": "item", "stage": "interest", "users": 1}]


def test_exits_are_ranked_and_capped_at_ten():
    rows = [("z", "visit", END)]
    for k in range(12):
        for i in range(k + 1):
            rows.append((f"u{k}_{i}", f"e{k:02d}", 0))
    exits = journeymap.paths(EXITS, frame(rows)).exits
    assert [e["event"] for e in exits] == [f"e{k:02d}" for k in range(11, 1, -1)]
    assert [e["users"] for e in exits] == list(range(12, 2, -1))


def test_simultaneous_stage_events_never_read_as_a_deviation():
    """visit and signup at one instant: the map says the user advanced, so the paths say
    visit -> signup (not the alphabetical signup -> visit) and conformance sees no
    backtrack and no out-of-order move; the event order inside the tie is irrelevant."""
    rows = [("x", "visit", 0), ("x", "signup", 0), ("x", "buy", 60),
            ("y", "zzz", 0), ("y", "visit", 0), ("y", "signup", 0)]
    j = journeymap.measure(FUNNEL, frame(rows))
    assert j.stage("visit").advanced == 2 and j.stage("signup").advanced == 1
    for shuffled in (rows, rows[::-1]):
        r = journeymap.paths(FUNNEL, frame(shuffled))
        c = r.conformance.to_dict()
        assert c["conforming"] == 2 and c["kinds"] == {"loop": 0, "backtrack": 0, "skip": 0,
                                                       "out_of_order": 0}
        paths = {tuple(p["path"]): p["users"] for p in r.paths.paths}
        assert paths == {("visit", "signup", "buy"): 1, ("visit", "signup", "zzz"): 1}
        edges = {(e["from"], e["to"]) for e in r.event_transitions.edges}
        assert ("signup", "visit") not in edges and ("$start", "visit") in edges
        assert all(m["backtrack_users"] == 0 and m["skip_users"] == 0 for m in r.stage_moves)


def test_an_event_without_a_name_is_a_clear_error():
    """A sequence needs a name on every row: a missing one is named, with its user (was an
    IndexError deep in the coding)."""
    rows = frame([("a", "visit", 0), ("a", "search", 60), ("b", "visit", 0)])
    rows.loc[1, "event"] = None
    with pytest.raises(QueryError, match="without an event name .*user a"):
        journeymap.transitions(rows)
    with pytest.raises(QueryError, match="without an event name .*user a"):
        journeymap.paths(SITE, rows)
