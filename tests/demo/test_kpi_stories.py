"""The journey KPIs find what the demo generator planted: click-through rates per
channel, the channel whose customers cost the most, and an independent count of the
monthly churn."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

import journeymap
from journeymap.demo.stories import rate_tolerance


@pytest.fixture(scope="module")
def result(demo, tmp_path_factory):
    spend = tmp_path_factory.mktemp("demo-kpis") / "spend.parquet"
    pq.write_table(demo.spend, spend)
    return journeymap.api.kpis(demo.journey_text, demo.events, users=demo.users, spend=spend)


def test_click_through_rate_per_channel_as_planted(result, demo):
    planted = demo.stories["channels"]["click_through_rate"]
    for row in result.channels:
        if row["channel"] in planted:
            p = planted[row["channel"]]
            assert row["click_through_rate"] == pytest.approx(p, abs=rate_tolerance(p, row["impressions"]))


def test_the_costliest_channel(result, demo):
    """Conversion does not depend on the channel, so cost per lead and per conversion follow
    the cost per click: search costs 2.40 a click, partner 0.90."""
    channels = demo.stories["channels"]
    cpc = channels["cost_per_click"]
    assert channels["conversion_depends_on_channel"] is False
    rows = {r["channel"]: r for r in result.channels if r["channel"] in cpc}
    costliest = max(rows, key=lambda c: rows[c]["cost_per_conversion"])
    assert costliest == max(cpc, key=cpc.get) == "search"
    planted = cpc["search"] / cpc["partner"]
    ratio = rows["search"]["cost_per_lead"] / rows["partner"]["cost_per_lead"]
    assert ratio == pytest.approx(planted, rel=demo.stories["tolerance"]["ratio_rel"])
    assert rows["search"]["cost_per_conversion"] >= 1.8 * rows["partner"]["cost_per_conversion"]


def test_monthly_churn_equals_an_independent_count(result, demo):
    ev = demo.events.to_pandas()
    ev["ts"] = pd.to_datetime(ev["ts"], utc=True)
    paid = ev[ev["event"].isin(["subscription_started", "invoice_paid"])].groupby("user_id")["ts"].min()
    cancel = ev[ev["event"] == "subscription_cancelled"].groupby("user_id")["ts"].min()
    checked = 0
    for p in result.periods:
        if not p["complete"] or p["churn_rate"] is None:
            continue
        start = pd.Timestamp(p["period"] + "-01", tz="UTC")
        end = start + pd.offsets.MonthBegin(1)
        active = paid.index[(paid < start).to_numpy()]
        gone = cancel.reindex(active)
        active = active[~(gone < start).fillna(False).to_numpy()]
        churned = cancel.reindex(active)
        n = int(((churned >= start) & (churned < end)).sum())
        assert (p["active_at_start"], p["churned"]) == (len(active), n), p["period"]
        checked += 1
    assert checked >= 4
    assert 0.05 < result.kpi("churn_rate_per_month")["value"] < 0.4


def test_the_planted_monthly_churn(result, demo):
    """The generator records the churn its subscription story drew, month by month; the
    KPI counts the same customers and cancellations from the events alone."""
    planted = demo.stories["retention"]["monthly_churn"]
    ours = {p["period"]: p for p in result.periods}
    compared = 0
    for month in planted["by_month"]:
        p = ours.get(month["month"])
        if p is None or not (p["complete"] and month["complete"]):
            continue
        assert (p["active_at_start"], p["churned"]) == (month["active_at_start"], month["churned"]), month
        compared += 1
    assert compared >= 4
    assert result.kpi("churn_rate_per_month")["value"] == pytest.approx(planted["mean_rate"], abs=0.005)
