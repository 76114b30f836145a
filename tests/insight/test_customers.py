"""One customer's journey and the customers stuck in a stage, on events whose answers are
worked out by hand; the same answers ad hoc, in a workspace (anonymous ids resolved) and
from the CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import journeymap
from journeymap.api import customer, measure, stuck
from journeymap.cli.main import main
from journeymap.errors import QueryError

JOURNEY = """\
name: shop
stages:
  - {id: visit, owner: marketing, enter: {event: visit}}
  - {id: signup, owner: growth, enter: {event: signup}, within: 7d}
  - {id: buy, owner: sales, enter: {event: buy, where: {plan: pro}}, within: 14d}
personas:
  - {id: ads, where: {source: ads}}
"""
D = pd.Timestamp("2024-01-01T00:00:00Z")


def day(n: float) -> pd.Timestamp:
    return D + pd.Timedelta(days=n)


ROWS = [  # user, event, day, plan, source
    ("a", "visit", 1, None, "ads"), ("a", "signup", 2, None, None), ("a", "buy", 3, "pro", None),
    ("b", "visit", 1, None, "seo"), ("b", "signup", 2, None, None),
    ("c", "visit", 1, None, "ads"), ("c", "signup", 6, None, None), ("c", "buy", 8, "free", None),
    ("c", "ping", 9, None, None),
    ("d", "visit", 10, None, "seo"), ("d", "signup", 11, None, None), ("d", "buy", 13, "pro", None),
    ("e", "visit", 19, None, "ads"), ("e", "signup", 20, None, None),
    ("f", "browse", 5, None, "ads"),
]


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return pd.DataFrame([{"user_id": u, "event": e, "ts": day(n), "plan": p, "source": s}
                         for u, e, n, p, s in ROWS])


# By hand. The data end (now) is day 20. From signup, a took 1 day and d 2 days to buy
# (c's buy is a free plan: it does not qualify), so the p90 time is 1.9 days.
#   a, d: completed.  b: in signup since day 2, 18 days > the 14-day limit: stuck, can
#   no longer advance.  c: in signup since day 6, 14 days: not past the limit (inclusive),
#   but > 1.9 days: stuck, can still advance.  e: since day 20: in progress.  f: never
#   visited: not started.
def test_each_customer_where_they_are_and_why(events):
    got = {u: customer(JOURNEY, events, u) for u in "abcdef"}
    assert {u: (c.stage, c.status) for u, c in got.items()} == {
        "a": ("buy", "completed"), "b": ("signup", "stuck"), "c": ("signup", "stuck"),
        "d": ("buy", "completed"), "e": ("signup", "in progress"), "f": (None, "not started")}
    assert got["b"].reason == "past the 14.0d limit to reach buy: can no longer advance"
    assert got["c"].reason == ("longer than 1.9d, the time in which 90% of the 2 who advanced "
                               "reached buy")
    assert got["c"].since == day(6).isoformat() and got["c"].time_in_stage_s == 14 * 86400
    assert got["c"].next_stage == "buy" and got["c"].owner == "growth"
    assert [s["entered_at"] for s in got["c"].stages] == [day(1).isoformat(), day(6).isoformat(), None]
    assert got["c"].personas == ["ads"] and got["b"].personas == []
    assert got["f"].first_seen == day(5).isoformat() and got["c"].last_seen == day(9).isoformat()


def test_the_timeline_marks_the_events_that_entered_a_stage(events):
    c = customer(JOURNEY, events, "c")
    assert [(e["event"], e["entered"]) for e in c.timeline] == [
        ("visit", ["visit"]), ("signup", ["signup"]), ("buy", []), ("ping", [])]
    assert c.timeline[2]["properties"] == {"plan": "free"}  # only the values it has
    assert c.events_total == 4
    recent = customer(JOURNEY, events, "c", limit=2)
    assert [e["event"] for e in recent.timeline] == ["buy", "ping"] and recent.events_total == 4
    assert [r["event"] for r in c.section("timeline")] == ["visit", "signup", "buy", "ping"]
    assert c.section("timeline")[2]["property.plan"] == "free"


def test_stuck_lists_who_can_still_advance_first(events):
    s = stuck(JOURNEY, events, "signup")
    assert [(c["user_id"], c["can_still_advance"]) for c in s.customers] == [("c", True), ("b", False)]
    assert s.in_stage == 3 and s.to_dict()["stuck"] == 2 and s.to_dict()["can_still_advance"] == 1
    assert s.p90_time_to_next_s == pytest.approx(1.9 * 86400) and s.within_s == 14 * 86400
    assert s.customers[1]["silent_s"] == 18 * 86400 and s.customers[0]["silent_s"] == 11 * 86400
    assert s.customers[0]["personas"] == ["ads"]
    assert stuck(JOURNEY, events, "visit").customers == []  # nobody stays in visit
    assert stuck(JOURNEY, events, "buy").customers == []  # the last stage: completed


def test_the_map_and_the_stuck_list_agree(events):
    m = measure(JOURNEY, events)
    signup = m.stage("signup")
    s = stuck(JOURNEY, events, "signup", measured=m)
    assert s.in_stage == signup.entered - signup.advanced  # in signup now = did not go on


def test_a_bad_outcome_stage_is_churned():
    j = JOURNEY.replace("personas:", "  - {id: gone, owner: cs, enter: {event: cancel}, outcome: churn}\n"
                                     "personas:")
    ev = pd.DataFrame([{"user_id": "z", "event": e, "ts": day(n), "plan": "pro", "source": "ads"}
                       for e, n in (("visit", 1), ("signup", 2), ("buy", 3), ("cancel", 4))])
    assert customer(j, ev, "z").status == "churned"


def test_unknown_customer_and_stage_are_named(events):
    with pytest.raises(QueryError, match="no customer 'zz'"):
        customer(JOURNEY, events, "zz")
    with pytest.raises(QueryError, match="unknown stage 'sigup' — did you mean 'signup'"):
        stuck(JOURNEY, events, "sigup")


SEGMENT = [  # anon-9 browses, then identifies as c2; c2 is then stuck like c
    {"type": "track", "anonymousId": "anon-9", "event": "visit", "messageId": "m1",
     "timestamp": day(1).isoformat(), "properties": {"source": "ads"}},
    {"type": "identify", "anonymousId": "anon-9", "userId": "c2", "messageId": "m2",
     "timestamp": day(1.1).isoformat()},
    {"type": "track", "userId": "c2", "event": "signup", "messageId": "m3",
     "timestamp": day(6).isoformat()},
    {"type": "track", "userId": "late", "event": "ping", "messageId": "m4",
     "timestamp": day(20).isoformat()},
]


def test_in_a_workspace_an_anonymous_id_finds_its_customer(events, tmp_path, capsys):
    (tmp_path / "journey.yml").write_text(JOURNEY)
    events.to_csv(tmp_path / "events.csv", index=False)
    (tmp_path / "seg.json").write_text(json.dumps({"batch": SEGMENT}))
    assert main(["init", str(tmp_path / "ws"), "--journey", str(tmp_path / "journey.yml")]) == 0
    for f in ("events.csv", "seg.json"):
        assert main(["ingest", str(tmp_path / f), "-w", str(tmp_path / "ws")]) == 0
    capsys.readouterr()
    ws = journeymap.open(tmp_path / "ws")
    c2 = ws.customer("anon-9")
    assert (c2.user_id, c2.looked_up, c2.stage, c2.status) == ("c2", "anon-9", "signup", "stuck")
    assert [e["event"] for e in c2.timeline] == ["visit", "signup"]
    assert ws.customer("c").to_dict() == {**customer(JOURNEY, events, "c").to_dict(),
                                          "data_end": day(20).isoformat()}
    assert [c["user_id"] for c in ws.stuck("signup").customers] == ["c", "c2", "b"]
    code = main(["customer", "anon-9", "-w", str(tmp_path / "ws"), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out)["user_id"] == "c2", err
    code = main(["stuck", "--stage", "signup", "-w", str(tmp_path / "ws"), "--format", "csv"])
    out, err = capsys.readouterr()
    assert code == 0 and out.splitlines()[0].startswith("user_id,entered_at,time_in_stage_s")
    assert [line.split(",")[0] for line in out.splitlines()[1:]] == ["c", "c2", "b"]
    code = main(["customer", "nobody", "-w", str(tmp_path / "ws")])
    assert code == 1 and "error: no customer 'nobody'" in capsys.readouterr().err
    code = main(["customer", "c", "-w", str(tmp_path / "ws")])
    out = capsys.readouterr().out
    assert code == 0 and "c in signup since 2024-01-07 (14.0d), owner growth" in out
    assert "status: stuck — longer than" in out and "Timeline (4 events)" in out
