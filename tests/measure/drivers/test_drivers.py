"""Drivers on events whose answers are worked out by hand: the 2×2 tables, no look-ahead,
the horizon and maturity rules, a Simpson's-paradox case caught by Mantel–Haenszel, the
interval, p-value and BH arithmetic against statsmodels, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from journeymap.api import activation, drivers
from journeymap.cli.main import main
from journeymap.measure.drivers.tables import benjamini_hochberg, mantel_haenszel, table_stats

T0 = pd.Timestamp("2024-01-01T00:00:00Z")
JOURNEY = """\
name: s
stages:
  - {id: signup, owner: growth, enter: {event: signup}}
  - {id: buy, owner: sales, enter: {event: buy}, within: 10d}
personas:
  - {id: big, where: {size: big}}
  - {id: small, where: {size: small}}
min_volume: 5
"""


def h(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


def events(groups, end_days: float = 30) -> pd.DataFrame:
    """groups: (n users, [(event, hours), ...], size) -> rows; one late event sets the data end."""
    rows, i = [], 0
    for n, evs, size in groups:
        for _ in range(n):
            rows.append({"user_id": f"u{i:04d}", "event": "signup", "ts": h(0), "size": size})
            rows += [{"user_id": f"u{i:04d}", "event": e, "ts": h(t), "size": None} for e, t in evs]
            i += 1
    rows.append({"user_id": "zz-end", "event": "ping", "ts": h(24 * end_days), "size": None})
    return pd.DataFrame(rows)


def by_name(result, name):
    return next(r for r in result.drivers + result.blockers if r["behaviour"] == name)


def test_the_two_by_two_table_by_hand():
    # 20 did "tour" (15 bought), 30 did not (5 bought)
    ev = events([(15, [("tour", 1), ("buy", 5)], "big"), (5, [("tour", 1)], "big"),
                 (5, [("buy", 5)], "small"), (25, [], "small")])
    r = drivers(JOURNEY, ev, from_stage="signup", horizon="1d")
    tour = by_name(r, "tour")
    assert (tour["a"], tour["b"], tour["c"], tour["d"]) == (15, 5, 5, 25)
    assert tour["did"] == 20 and tour["share"] == 20 / 50
    assert tour["rate_did"] == 0.75 and tour["rate_not"] == pytest.approx(5 / 30)
    assert tour["lift"] == pytest.approx(0.75 / (5 / 30)) and tour["difference"] == pytest.approx(0.75 - 5 / 30)
    assert tour["odds_ratio"] == pytest.approx(15 * 25 / (5 * 5))
    pop = r.horizons["1d"]
    assert (pop.entered, pop.eligible, pop.advanced) == (50, 50, 20)
    assert "buy" not in {x["event"] for x in r.drivers + r.blockers}  # the transition's own event


def test_a_behaviour_after_advancing_is_never_a_driver():
    """Every buyer writes a review right after buying, within the horizon: look-ahead would
    make "review" a perfect driver."""
    ev = events([(20, [("buy", 5), ("review", 6)], "big"), (30, [("browse", 1)], "small")])
    r = drivers(JOURNEY, ev, from_stage="signup", horizon="7d")
    assert all(x["event"] != "review" for x in r.drivers + r.blockers)
    # and a behaviour at the very instant of advancing is not before it either
    ev = events([(20, [("buy", 5), ("coupon", 5)], "big"), (30, [], "small")])
    assert all(x["event"] != "coupon" for x in drivers(JOURNEY, ev, from_stage="signup").drivers)


def test_the_horizon_bounds_the_window_and_immature_customers_are_left_out():
    ev = events([(20, [("tour", 30), ("buy", 40)], "big"), (20, [("tour", 2)], "small"), (10, [], "small")])
    day = drivers(JOURNEY, ev, from_stage="signup", horizon="1d")
    tour = by_name(day, "tour")  # only the 20 non-buyers toured within a day
    assert (tour["a"], tour["b"]) == (0, 20)
    week = drivers(JOURNEY, ev, from_stage="signup", horizon="7d")
    assert (by_name(week, "tour")["a"], by_name(week, "tour")["b"]) == (20, 20)
    # data ending 5 days after signup: the 10-day limit to buy is not over for anyone
    late = drivers(JOURNEY, events([(20, [("tour", 1), ("buy", 5)], "big"), (30, [], "small")], end_days=5),
                   from_stage="signup", horizon="1d")
    assert late.horizons["1d"].eligible == 0 and late.horizons["1d"].left_out == 50 and late.drivers == []


def test_at_least_n_times():
    ev = events([(10, [("tour", 1), ("tour", 2), ("buy", 5)], "big"), (10, [("tour", 1)], "big"),
                 (30, [], "small")])
    r = drivers(JOURNEY, ev, from_stage="signup", horizon="1d")
    once, twice = by_name(r, "tour"), by_name(r, "tour ×2+")
    assert (once["did"], once["a"]) == (20, 10) and (twice["did"], twice["a"]) == (10, 10)


def test_simpsons_paradox_is_caught_by_mantel_haenszel():
    """Big customers buy a lot and mostly do "demo"; small ones rarely buy. Within each
    persona, doing the demo lowers the chance to buy; pooled, it looks like a driver."""
    ev = events([
        (36, [("demo", 1), ("buy", 5)], "big"), (4, [("demo", 1)], "big"),       # big with demo: 90%
        (10, [("buy", 5)], "big"),                                                 # big without: 100%
        (1, [("demo", 1), ("buy", 5)], "small"), (9, [("demo", 1)], "small"),     # small with: 10%
        (8, [("buy", 5)], "small"), (32, [], "small")])                            # small without: 20%
    r = drivers(JOURNEY, ev, from_stage="signup", horizon="1d")
    demo = by_name(r, "demo")
    assert demo["odds_ratio"] > 1 and demo["lift"] > 1  # crude: a "driver"
    assert demo["mh_odds_ratio"] < 1  # within personas it is not
    a, b, c, d = np.array([36, 1]), np.array([4, 9]), np.array([10, 8]), np.array([0, 32])
    assert demo["mh_odds_ratio"] == pytest.approx(mantel_haenszel(a, b, c, d))


def test_interval_p_value_and_bh_match_statsmodels():
    ct = pytest.importorskip("statsmodels.stats.contingency_tables")
    mt = pytest.importorskip("statsmodels.stats.multitest")
    tables = [(15, 5, 5, 25), (3, 40, 7, 50), (0, 12, 9, 30), (120, 80, 60, 140)]
    got = table_stats(*(np.array(x) for x in zip(*tables)))
    for i, (a, b, c, d) in enumerate(tables):
        cells = np.array([[a, b], [c, d]], float)
        # an empty cell: Haldane-Anscombe, 0.5 added to every cell (statsmodels' shift_zeros only
        # lifts the empty ones), so statsmodels gets the shifted table
        t = ct.Table2x2(cells + 0.5 if (cells == 0).any() else cells, shift_zeros=False)
        assert got["odds_ratio"][i] == pytest.approx(t.oddsratio)
        assert [got["low"][i], got["high"][i]] == pytest.approx(list(t.oddsratio_confint()))
        assert got["p"][i] == pytest.approx(t.oddsratio_pvalue())
    p = np.array([0.001, 0.04, 0.03, 0.2, 0.012, 0.9])
    assert benjamini_hochberg(p) == pytest.approx(mt.multipletests(p, method="fdr_bh")[1])
    strata = [np.array([[36, 4], [10, 0]]), np.array([[1, 9], [8, 32]])]
    pooled = ct.StratifiedTable(strata).oddsratio_pooled
    assert mantel_haenszel(*(np.array([s[i][j] for s in strata]) for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))) \
        == pytest.approx(pooled)


def test_activation_moments_per_persona():
    ev = events([(15, [("invite", 1), ("buy", 5)], "big"), (15, [], "big"),
                 (15, [("connect", 1), ("buy", 5)], "small"), (15, [("invite", 1)], "small"), (10, [], "small")])
    r = activation(JOURNEY, ev, from_stage="signup", to_stage="buy", horizon="1d")
    moments = {m["persona"]: m["behaviour"] for m in r.moments}
    assert moments == {"big": "invite", "small": "connect"}
    assert "Associations, not causes" in r.caution


def test_cli(tmp_path, capsys):
    ev = events([(20, [("tour", 1), ("buy", 5)], "big"), (30, [("browse", 1)], "small")])
    ev.to_csv(tmp_path / "events.csv", index=False)
    (tmp_path / "journey.yml").write_text(JOURNEY)
    code = main(["drivers", "--from", "signup", "-j", str(tmp_path / "journey.yml"), "-e",
                 str(tmp_path / "events.csv"), "--horizon", "1d", "--horizon", "7d", "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and set(out["population"]) == {"1d", "7d"}
    assert out["drivers"][0]["behaviour"] == "tour" and "not causes" in out["caution"]
    assert out["worth_an_experiment"][0].startswith("tour within")
    code = main(["drivers", "--from", "buy", "-j", str(tmp_path / "journey.yml"), "-e", str(tmp_path / "events.csv")])
    assert code == 1 and "is not after 'buy'" in capsys.readouterr().err


def test_drivers_between_funnel_steps():
    from journeymap.api import funnel_drivers
    ev = events([(15, [("tour", 1), ("buy", 5)], "big"), (5, [("tour", 1)], "big"),
                 (5, [("buy", 5)], "small"), (25, [("browse", 2)], "small")])
    ev = ev.assign(event=ev["event"].replace({"buy": "pay"}))
    r = funnel_drivers(ev, ["signup", "pay"], window="10d", horizon="1d", min_support=5)
    tour = next(x for x in r.drivers if x["behaviour"] == "tour")
    assert (tour["a"], tour["b"], tour["c"], tour["d"]) == (15, 5, 5, 25)
    assert all(x["event"] not in ("signup", "pay") for x in r.drivers + r.blockers)
    assert r.computed_on["steps"] == ["signup", "pay"] and r.horizons["1d"].eligible == 50
    # look-ahead: a behaviour only after paying is never a driver
    late = events([(20, [("pay", 5), ("review", 6)], "big"), (30, [("browse", 1)], "small")])
    assert all(x["event"] != "review" for x in funnel_drivers(late, ["signup", "pay"], min_support=5).drivers)


def test_property_values_and_traits_on_request():
    ev = events([(15, [("tour", 1), ("buy", 5)], "big"), (5, [("tour", 1)], "big"),
                 (5, [("buy", 5)], "small"), (25, [("tour", 2)], "small")])
    ev["kind"] = None
    ev.loc[(ev["event"] == "tour") & (ev["user_id"] < "u0020"), "kind"] = "guided"
    r = drivers(JOURNEY, ev, from_stage="signup", horizon="1d", properties=["kind"], traits=["size"])
    names = {x["behaviour"]: x for x in r.drivers + r.blockers}
    guided = names["tour[kind=guided]"]
    assert (guided["a"], guided["b"], guided["c"], guided["d"]) == (15, 5, 5, 25)
    big = names["size=big (trait)"]  # size is read on the first event: 20 big (15 bought), 30 small (5)
    assert (big["a"], big["b"], big["c"], big["d"]) == (15, 5, 5, 25)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_measures_leak_drivers_count_what_the_drivers_query_counts(seed):
    """The measure's leak drivers count events as read, without putting same-instant rows
    in stage order (counting inside time windows does not depend on that order); on
    data where many events share an instant with entering or advancing, every candidate
    equals the drivers query's, which reads the stage-ordered stream."""
    from journeymap.measure._feed.traces import event_pieces
    from journeymap.measure.drivers import drivers as D
    from journeymap.measure.map.measured_map import measure_map_pass
    from journeymap.spec.load import as_journey
    from journeymap.store.sources import as_source
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(400):
        u, size = f"u{i:04d}", ("big", "small", None)[i % 3]
        rows.append({"user_id": u, "event": "signup", "ts": h(int(rng.integers(0, 3))), "size": size})
        for _ in range(int(rng.integers(0, 8))):  # whole hours: ties with signup, buy and each other
            rows.append({"user_id": u, "event": str(rng.choice(["tour", "invite", "buy", "coupon", "signup"])),
                         "ts": h(int(rng.integers(0, 30))), "size": None})
    rows.append({"user_id": "zz-end", "event": "ping", "ts": h(24 * 40), "size": None})
    ev = pd.DataFrame(rows).sample(frac=1, random_state=seed)  # rows in no order
    journey = as_journey(JOURNEY.replace("min_volume: 5", "min_volume: 3"))
    source = as_source(ev)
    expected = D.transition_drivers(journey, source, None, from_stage="signup", horizons=("6h", "1d")).to_dict()
    _, done = measure_map_pass(journey, source, None)
    strata = D._strata(journey, source, None, done.entries.users, done.personas)
    ctx = D._Pass.of(event_pieces(source), done.entries.users, strata, done.entries)
    got = D._drivers(journey, ctx, 0, 1, None, ("6h", "1d"), None, 25).to_dict()
    assert len(expected["drivers"]) + len(expected["blockers"]) >= 3
    assert json.dumps(got, sort_keys=True, default=str) == json.dumps(expected, sort_keys=True, default=str)
