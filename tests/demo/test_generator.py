"""The demo generator: deterministic, canonical tables that carry every planted story at its size.

The checks are independent of journeymap's measures: plain pandas over the raw
tables (fixtures in conftest.py), on the 50k users the tolerances are stated for.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from importlib import resources

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from ruamel.yaml import YAML

from journeymap.demo.generator import DemoData, generate
from journeymap.demo.stories import STAGES, STORIES, mean_tolerance, rate_tolerance
from journeymap.store.schema import EVENT_CORE, TS_TYPE

DAY = pd.Timedelta(days=1)
NOISE = {"session_start", "$pageview", "help_article_view"}
EXPERIENCE = {"nps_answered", "csat_answered", "ces_answered", "ticket_opened"}
TOL = STORIES["tolerance"]


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _close(observed: float, planted: float, n: int) -> bool:
    return abs(observed - planted) <= rate_tolerance(planted, n)


def _mature(entries, stage, data_end, days):
    """Users who entered `stage` at least `days` before the data end."""
    return entries[stage].notna() & (entries[stage] + days * DAY <= data_end)


def _first(events, name):
    return events[events["event"] == name].groupby("user_id")["ts"].min()


# determinism and shape ------------------------------------------------------

def test_same_inputs_give_byte_identical_tables():
    a, b = generate(users=5_000, seed=3), generate(users=5_000, seed=3)
    for name in ("events", "users", "spend"):
        assert _ipc(getattr(a, name)) == _ipc(getattr(b, name))
    assert a.stories == b.stories
    assert not generate(users=5_000, seed=4).events.equals(a.events)


def test_events_table_is_canonical(demo):
    assert isinstance(demo, DemoData)
    schema = demo.events.schema
    assert schema.names[:4] == list(EVENT_CORE)
    assert all(schema.field(n).type == t for n, t in EVENT_CORE.items())
    assert schema.field("ts").type == TS_TYPE
    assert {n: str(schema.field(n).type) for n in schema.names[4:]} == {
        "channel": "string", "campaign": "string", "path": "string", "step": "int64", "plan": "string",
        "revenue": "double", "score": "int64", "comment": "string", "topic": "string",
        "resolution_hours": "double"}
    for name in EVENT_CORE:
        assert demo.events.column(name).null_count == 0


def test_event_ids_are_unique(demo):
    assert pc.count_distinct(demo.events.column("event_id")).as_py() == demo.events.num_rows


def test_users_spend_stories_and_journey_text(demo, events):
    assert demo.users.schema == pa.schema([
        ("user_id", pa.string()), ("team_size", pa.int64()), ("company_size", pa.string()),
        ("country", pa.string()), ("signup_channel", pa.string()), ("plan", pa.string())])
    assert demo.users.num_rows == TOL["users"]
    assert pc.count_distinct(demo.users.column("user_id")).as_py() == TOL["users"]
    assert set(events["user_id"]) <= set(demo.users.column("user_id").to_pylist())
    assert demo.spend.schema == pa.schema([
        ("date", pa.date32()), ("channel", pa.string()), ("campaign", pa.string()),
        ("cost", pa.float64()), ("impressions", pa.int64()), ("clicks", pa.int64())])
    assert json.loads(json.dumps(demo.stories)) == demo.stories
    text = resources.files("journeymap.demo").joinpath("journey.yaml").read_text(encoding="utf-8")
    assert demo.journey_text == text


def test_planted_limits_and_personas_match_the_journey_file(demo):
    journey = YAML(typ="safe").load(demo.journey_text)
    stages = journey["stages"]
    assert [s["id"] for s in stages] == list(STAGES)
    assert {s["id"]: s["enter"]["event"] for s in stages} == demo.stories["stage_events"]
    assert {s["id"]: int(s["within"][:-1]) for s in stages if "within" in s} == demo.stories["within_days"]
    rules = {p["id"]: p["where"]["team_size"] for p in journey["personas"]}
    sizes = demo.stories["team_size"]
    assert rules["solo"]["lte"] >= sizes["solo"][1]
    assert rules["team"]["gte"] <= sizes["team"][0] and sizes["team"][1] < rules["team"]["lt"]
    assert rules["enterprise"]["gte"] <= sizes["enterprise"][0]


# the journey ----------------------------------------------------------------

def test_stage_events_strictly_increase_per_user(events, demo):
    names = list(demo.stories["stage_events"].values())
    first = events[events["event"].isin(names)].groupby(["user_id", "event"])["ts"].min().unstack()[names]
    for earlier, later in zip(names, names[1:]):
        both = first[earlier].notna() & first[later].notna()
        assert both.sum() > 0
        assert (first.loc[both, later] > first.loc[both, earlier]).all(), later
        assert (first[earlier].notna() | first[later].isna()).all(), later


def test_stage_rates_at_planted_size(entries, data_end, demo):
    for prev, stage in zip(STAGES, STAGES[1:]):
        base = _mature(entries, prev, data_end, demo.stories["within_days"][stage])
        rate = entries.loc[base, stage].notna().mean()
        assert _close(rate, demo.stories["rates"][stage], base.sum()), (stage, rate)


def test_first_value_gap_per_persona(entries, users, data_end, demo):
    base = _mature(entries, "onboarding", data_end, 30)
    persona = users["persona"].reindex(entries.index)
    reached = entries["first_value"].notna()
    for name, planted in demo.stories["first_value_rate_by_persona"].items():
        sel = base & (persona == name)
        assert _close(reached[sel].mean(), planted, sel.sum()), name
    assert _close(reached[base].mean(), 0.35, base.sum())


def test_persona_mix(users, demo):
    share = users["persona"].value_counts(normalize=True)
    for name, planted in demo.stories["persona_mix"].items():
        assert _close(share[name], planted, len(users)), name


def test_setup_within_7_days_multiplies_paid_conversion(events, entries, data_end, demo):
    setup = _first(events, demo.stories["setup_event"]).reindex(entries.index)
    quick = (setup - entries["signup"]) <= 7 * DAY
    signed = entries["signup"].notna()
    assert _close(quick[signed].mean(), demo.stories["setup_share"], signed.sum())
    base = _mature(entries, "first_value", data_end, 30)
    paid = entries["purchase"].notna()
    planted = demo.stories["paid_rate_given_first_value"]
    with_, without = paid[base & quick], paid[base & ~quick]
    assert _close(with_.mean(), planted["setup_within_7d"], with_.size)
    assert _close(without.mean(), planted["no_setup_within_7d"], without.size)
    ratio = with_.mean() / without.mean()
    assert abs(ratio / demo.stories["setup_within_7d_paid_multiplier"] - 1) <= TOL["ratio_rel"]
    payers = paid & quick
    assert (setup[payers] < entries.loc[payers, "purchase"]).all()


def test_each_persona_has_its_own_activation_moment(events, entries, users, data_end, demo):
    M = demo.stories["activation_moments"]
    base = _mature(entries, "onboarding", data_end, 30)
    persona = users["persona"].reindex(entries.index)
    reached = entries["first_value"].notna()
    for name, event in M["event_by_persona"].items():
        t = _first(events, event).reindex(entries.index)
        did = t.notna()
        own = persona == name
        cases = ((own & reached, M["rate_own_persona_reaching_first_value"]),
                 (own & ~reached, M["rate_own_persona_otherwise"]), (~own, M["rate_other_personas"]))
        for sel, planted in cases:
            assert _close(did[base & sel].mean(), planted, (base & sel).sum()), (name, planted)
        early = own & reached & did
        assert (t[early] < entries.loc[early, "first_value"]).all()
        assert (t[did] - entries.loc[did, "onboarding"] <= M["within_days_of_onboarding"] * DAY).all()


def test_looping_checkout(events, data_end, demo):
    C = demo.stories["checkout_loop"]
    booked = _first(events, "first_booking")
    booked = booked[booked + 60 * DAY <= data_end]
    steps = events[events["event"] == C["event"]].groupby("user_id").size().reindex(booked.index, fill_value=0)
    paid = _first(events, "subscription_started").reindex(booked.index).notna()
    assert (steps[paid] >= 1).all()
    assert _close((steps[~paid] > 0).mean(), C["abandon_share"], (~paid).sum())
    started = steps[steps > 0]
    assert started.max() == 6
    assert _close((started >= 3).mean(), C["share_3_or_more"], started.size)
    for k, planted in C["count_distribution"].items():
        assert _close((started == int(k)).mean(), planted, started.size), k


def test_silent_exits(events, entries, data_end, demo):
    X = demo.stories["exits"]
    journey = events[~events["event"].isin(NOISE | EXPERIENCE)]
    last_journey = journey.groupby("user_id")["event"].last()
    last_any = events.groupby("user_id").agg(event=("event", "last"), ts=("ts", "last"))
    reached = {e: _first(events, e).reindex(entries.index).notna() for e in
               ("onboarding_completed", "subscription_started", "checkout_step")}
    early = _mature(entries, "signup", data_end, 90)
    dropouts = entries.index[early & ~reached["onboarding_completed"]]
    abandoners = entries.index[early & reached["checkout_step"] & ~reached["subscription_started"]]
    for who, event in ((dropouts, "onboarding_step"), (abandoners, "checkout_step")):
        assert len(who) > 100
        assert (last_journey[who] == event).all()
        silent = last_any.loc[who, "ts"] + X["silence_days"] * DAY <= data_end
        assert silent.mean() > 0.95
        quiet = (last_any.loc[who, "event"] == event).mean()
        assert _close(quiet, 1 - X["trailing_noise_share"], len(who)), event
    gone = last_any.index[(last_any["ts"] + X["silence_days"] * DAY <= data_end)]
    after_signup = last_journey[gone.intersection(entries.index[entries["signup"].notna()])]
    top = after_signup.value_counts().index[:3]
    assert set(top) == set(X["top_last_journey_events_after_signup"])


def test_noise_is_interleaved_with_the_journey(events, entries):
    both = entries.index[entries["onboarding"].notna()][:2000]
    sub = events[events["user_id"].isin(both)].merge(entries[["signup", "onboarding"]], left_on="user_id",
                                                     right_index=True)
    between = sub[(sub["ts"] > sub["signup"]) & (sub["ts"] < sub["onboarding"]) & sub["event"].isin(NOISE)]
    assert between["user_id"].nunique() / len(both) > 0.5
    assert {"session_start", "$pageview", "help_article_view"} <= set(events["event"])
    assert events.loc[events["event"] == "$pageview", "path"].notna().all()


def test_pricing_page_intervention_lifts_signups_and_help_refresh_does_not(entries, demo):
    for change in demo.stories["interventions"]:
        stage = STAGES[STAGES.index(change["stage"]) + 1]
        prev = change["stage"]
        since = pd.Timestamp(change["from"], tz="UTC")
        base = entries[prev].notna()
        before = entries.loc[base & (entries[prev] < since), stage].notna()
        after = entries.loc[base & (entries[prev] >= since), stage].notna()
        assert _close(before.mean(), change["rate_before"], before.size), change["name"]
        assert _close(after.mean(), change["rate_after"], after.size), change["name"]


def test_last_cohorts_are_immature(events, entries, data_end, demo):
    S = demo.stories
    assert data_end - DAY < events["ts"].max() < data_end
    last_arrival = entries["awareness"].max()
    assert data_end - last_arrival <= (S["observe_days_after_arrivals"] + 1) * DAY
    assert last_arrival + sum(S["within_days"].values()) * DAY > data_end
    for prev, stage in zip(STAGES[4:], STAGES[5:]):      # the latest entries are still pending
        assert entries[prev].max() + S["within_days"][stage] * DAY > data_end, stage
    recent = entries["regular_use"].notna() & ~_mature(entries, "regular_use", data_end, 60)
    assert recent.sum() > 30
    assert entries.loc[recent, "advocacy"].notna().mean() < 0.8 * S["rates"]["advocacy"]


# experience, revenue, spend -------------------------------------------------

def _stage_of(rows: pd.DataFrame, entries: pd.DataFrame) -> pd.Series:
    """The last stage each row's user entered at or before the row's time."""
    e = np.stack([entries[s].dt.tz_localize(None).reindex(rows["user_id"]).to_numpy() for s in STAGES], axis=1)
    t = rows["ts"].dt.tz_localize(None).to_numpy()[:, None]
    k = (e <= t).sum(axis=1) - 1
    return pd.Series(np.array(STAGES)[k], index=rows.index)


def test_survey_means_per_stage(events, entries, demo):
    for event, spec in demo.stories["experience"]["surveys"].items():
        a, b = spec["scale"]
        rows = events[events["event"] == event]
        assert rows["score"].between(a, b).all()
        stage = _stage_of(rows, entries)
        assert set(stage) == set(spec["mean_by_stage"])
        for name, planted in spec["mean_by_stage"].items():
            scores = rows.loc[stage == name, "score"]
            q = (planted - a) / (b - a)
            sd = math.sqrt((b - a) * q * (1 - q))
            assert abs(scores.mean() - planted) <= mean_tolerance(sd, scores.size), (event, name)


def test_comment_themes_per_stage(events, entries, demo):
    rows = events[(events["event"] == "nps_answered") & events["comment"].notna()]
    stage = _stage_of(rows, entries)
    for name, theme in demo.stories["experience"]["comment_theme_by_stage"].items():
        words = Counter(w for c in rows.loc[stage == name, "comment"] for w in c.replace(",", "").split()
                        if len(w) >= 5)
        assert words.most_common(1)[0][0].startswith(theme), name


def test_tickets_per_stage(events, entries, data_end, demo):
    T = demo.stories["experience"]["tickets"]
    rows = events[events["event"] == T["event"]]
    stage = _stage_of(rows, entries)
    for name, per_100 in T["per_100_by_stage"].items():
        early = entries.index[_mature(entries, name, data_end, 120)]
        n = rows[(stage == name) & rows["user_id"].isin(early)]
        lam = per_100 / 100
        assert abs(len(n) / len(early) - lam) <= TOL["z"] * math.sqrt(lam / len(early)) + 0.005, name
        hours = rows.loc[stage == name, "resolution_hours"]
        mean = T["mean_resolution_hours_by_stage"][name]
        assert abs(hours.mean() - mean) <= mean_tolerance(mean / math.sqrt(2), hours.size) + 0.05 * mean
    share = rows["channel"].value_counts(normalize=True)
    for channel, planted in T["channel_mix"].items():
        assert _close(share[channel], planted, len(rows)), channel


def test_revenue_is_the_monthly_price_of_the_plan(events, demo):
    prices = demo.stories["revenue"]["monthly_price"]
    rows = events[events["event"].isin(demo.stories["revenue"]["events"])]
    assert len(rows) > 0
    assert (rows["revenue"] == rows["plan"].map(prices)).all()
    others = ~events["event"].isin(demo.stories["revenue"]["events"])
    assert events.loc[others, "revenue"].isna().all()
    assert set(events.loc[others & events["plan"].notna(), "event"]) == {"subscription_cancelled"}


def test_spend_is_consistent_with_landings(events, demo):
    C = demo.stories["channels"]
    spend = demo.spend.to_pandas()
    landings = events[events["event"] == "landing_view"]
    share = landings["channel"].value_counts(normalize=True)
    for channel, planted in C["share"].items():
        assert _close(share[channel], planted, len(landings)), channel
    day = landings["ts"].dt.tz_convert("UTC").dt.date
    counted = landings.groupby([day, landings["channel"], landings["campaign"]]).size()
    clicks = spend.set_index(["date", "channel", "campaign"])["clicks"]
    assert (clicks.reindex(counted.index).to_numpy() >= counted.to_numpy()).all()
    assert _close(counted.sum() / spend["clicks"].sum(), C["click_to_landing"], spend["clicks"].sum())
    by_channel = spend.groupby("channel")[["cost", "clicks"]].sum()
    cpc = by_channel["cost"] / by_channel["clicks"]
    for channel, planted in C["cost_per_click"].items():
        assert abs(cpc[channel] / planted - 1) < 0.05, channel


def test_users_plan_reflects_the_data_end(events, users, demo):
    paying = set(events.loc[events["event"] == "subscription_started", "user_id"])
    gone = set(events.loc[events["event"] == "subscription_cancelled", "user_id"])
    paid_plans = set(demo.stories["revenue"]["monthly_price"])
    assert set(users.index[users["plan"].isin(paid_plans)]) == paying - gone
    signed = set(events.loc[events["event"] == "signup", "user_id"])
    assert set(users.index[users["plan"] == "visitor"]) == set(users.index) - signed
