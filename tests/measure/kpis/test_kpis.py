"""Every journey KPI on events whose answers are worked out by hand; bad spend data is
reported, never dropped silently; spend in a workspace (ingest --spend) merges and a
change of it recomputes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import journeymap
from journeymap.api import kpis
from journeymap.cli.main import main
from journeymap.errors import IngestError, SpecError
from journeymap.spec.load import load_journey

JOURNEY = """\
name: shop
stages:
  - {id: visit, owner: web, enter: {event: visit}}
  - {id: signup, owner: growth, enter: {event: signup}}
  - {id: buy, owner: sales, enter: {event: buy}}
revenue: {event: invoice, amount: amount}
churn: {event: cancel}
help: {event: help_view}
referral: {event: refer}
kpis: {lead: signup, conversion: buy, first_value: [signup, buy]}
signals:
  tickets: {event: ticket, channel: via}
"""
D = pd.Timestamp("2024-01-01T00:00:00Z")


def at(days: float, minutes: float = 0) -> pd.Timestamp:
    return D + pd.Timedelta(days=days, minutes=minutes)


ROWS = [  # user, event, time, props
    ("u1", "visit", at(0), {"channel": "ads", "campaign": "a1"}), ("u1", "signup", at(1)), ("u1", "buy", at(3)),
    ("u1", "invoice", at(3), {"amount": 10}), ("u1", "invoice", at(33), {"amount": 10}),
    ("u1", "cancel", at(45)),
    ("u2", "visit", at(0), {"channel": "ads", "campaign": "a2"}), ("u2", "signup", at(2)),
    ("u2", "help_view", at(5)),  # a help session of one page: a bounce
    ("u3", "visit", at(0), {"channel": "search", "campaign": "s1"}), ("u3", "signup", at(2)), ("u3", "buy", at(7)),
    ("u3", "invoice", at(7), {"amount": 20}), ("u3", "invoice", at(37), {"amount": 30}),
    ("u3", "invoice", at(67), {"amount": 20}), ("u3", "refer", at(70)),
    ("u3", "ticket", at(8), {"via": "chat"}), ("u3", "ticket", at(9), {"via": "chat"}),
    ("u3", "ticket", at(10), {"via": "email"}),
    ("u4", "visit", at(1)),  # no channel
    ("u4", "$pageview", at(4)), ("u4", "help_view", at(4, 5)), ("u4", "$pageview", at(4, 15)),
    ("u4", "$pageview", at(4, 200)),  # a new session, without help
    ("u4", "visit", at(92)),  # data end: 2024-04-01, so March is complete and April is not
]

SPEND = """\
date,channel,campaign,cost,impressions,clicks
2024-01-01,ads,a1,60,600,30
2024-01-01,ads,a2,40,400,20
2024-01-01,search,s1,60,200,20
2024-01-02,search,s1,-5,10,1
2024-01-02,email,e1,7,100,3
"""


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame([{"user_id": u, "event": e, "ts": t, **(p[0] if p else {})} for u, e, t, *p in rows])


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    spend = tmp_path_factory.mktemp("kpis") / "spend.csv"
    spend.write_text(SPEND)
    return kpis(JOURNEY, frame(ROWS), spend=spend)


def value(result, name):
    return result.kpi(name)["value"]


def test_marketing_by_channel_and_campaign(result):
    ch = {r["channel"]: r for r in result.channels}
    # leads (signup): u1, u2 from ads, u3 from search; conversions (buy): u1 ads, u3 search
    assert (ch["ads"]["leads"], ch["ads"]["conversions"], ch["ads"]["cost"]) == (2, 1, 100.0)
    assert ch["ads"]["cost_per_lead"] == 50.0 and ch["ads"]["cost_per_conversion"] == 100.0
    assert ch["ads"]["click_through_rate"] == 0.05 and ch["search"]["cost_per_conversion"] == 60.0
    assert ch["(none)"]["cost"] is None and ch["(none)"]["leads"] == 0  # u4 came with no channel
    camp = {r["campaign"]: r for r in result.campaigns}
    assert camp["a2"]["leads"] == 1 and camp["a2"]["conversions"] == 0 and camp["a2"]["cost_per_conversion"] is None
    assert value(result, "impressions") == 1300 and value(result, "cost") == 167.0
    assert value(result, "click_through_rate") == pytest.approx(73 / 1300)
    assert value(result, "cost_per_lead") == pytest.approx(167 / 3)
    assert value(result, "cost_per_conversion") == pytest.approx(167 / 2)


def test_bad_spend_rows_and_unknown_channels_are_reported(result):
    problems = {p["problem"]: p for p in result.problems}
    neg = problems["negative cost"]
    assert neg["count"] == 1 and neg["example"]["line"] == 5 and neg["example"]["values"]["cost"] == "-5"
    assert any(p.startswith("spend for channels no user came from: email") for p in problems)


def test_conversion_churn_revenue_nrr_clv(result):
    assert value(result, "conversion_rate") == 0.5  # 2 of 4 who visited bought
    months = {p["period"]: p for p in result.periods}
    assert list(months) == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert months["2024-04"]["complete"] is False and months["2024-03"]["complete"] is True
    assert (months["2024-01"]["revenue"], months["2024-01"]["paying_customers"], months["2024-01"]["arpu"]) == (30, 2, 15)
    assert months["2024-01"]["churn_rate"] is None  # nobody active at its start
    assert (months["2024-02"]["active_at_start"], months["2024-02"]["churned"]) == (2, 1)  # u1 cancels 15 Feb
    assert months["2024-02"]["net_revenue_retention"] == pytest.approx(40 / 30)
    assert months["2024-03"]["active_at_start"] == 1 and months["2024-03"]["churn_rate"] == 0.0
    assert months["2024-03"]["net_revenue_retention"] == pytest.approx(20 / 40)
    assert value(result, "customers") == 2 and value(result, "revenue") == 90
    assert value(result, "churn_rate_per_month") == pytest.approx(0.25)  # mean of 50% and 0%
    assert value(result, "arpu_per_month") == pytest.approx((15 + 20 + 20) / 3)
    assert value(result, "net_revenue_retention_per_month") == pytest.approx((4 / 3 + 0.5) / 2)
    assert value(result, "clv_historical") == 45
    assert value(result, "clv_projected") == pytest.approx(((15 + 20 + 20) / 3) / 0.25)
    assert value(result, "referral_rate") == 0.5  # u3 of u1, u3


def test_time_to_first_value_help_content_and_tickets(result):
    ttfv = result.kpi("time_to_first_value")
    assert ttfv["value"] == pytest.approx(3.5 * 86400)  # u1: 2 days, u3: 5 days
    assert ttfv["p90_s"] == pytest.approx((2 + 0.9 * 3) * 86400) and ttfv["share"] == pytest.approx(2 / 3)
    assert value(result, "help_bounce_rate") == 0.5  # u2's one-page help session of two
    assert value(result, "help_pages_per_session") == 2.0  # (1 + 3) / 2
    assert [(t["channel"], t["tickets"]) for t in result.tickets] == [("chat", 2), ("email", 1)]


def test_each_kpi_says_what_it_is_and_the_sections_export(result):
    assert all(k["definition"] for k in result.kpis)
    assert set(result.sections()) == {"kpis", "channels", "campaigns", "stages", "periods", "tickets", "problems"}
    assert "cost_per_conversion" in result.to_csv("channels").splitlines()[0]
    assert json.loads(result.to_json())["computed_on"]["conversion"] == "buy"


def test_a_spend_file_without_cost_is_an_ingest_error(tmp_path):
    (tmp_path / "s.csv").write_text("date,channel,costs\n2024-01-01,ads,3\n")
    with pytest.raises(IngestError, match="spend file has no 'cost' column — did you mean 'costs'"):
        kpis(JOURNEY, frame(ROWS), spend=tmp_path / "s.csv")


@pytest.mark.parametrize("text, message", [
    ("kpis: {lead: sigup}", "'lead' of 'kpis' names unknown stage 'sigup' — did you mean 'signup'?"),
    ("kpis: {first_value: [buy, visit]}", "the first stage must come before the second"),
    ("kpis: {period: year}", "'period' of 'kpis' must be one of week, month"),
    ("revenue: {event: invoice}", "'revenue' has no 'amount'"),
    ("churn: {evnt: cancel}", "unknown key 'evnt' in 'churn' — did you mean 'event'?"),
])
def test_bad_kpi_settings_are_located_errors(text, message):
    base = JOURNEY.split("revenue:")[0]
    with pytest.raises(SpecError, match=message):
        load_journey(base + text + "\n")


def test_spend_in_a_workspace(tmp_path, capsys):
    (tmp_path / "journey.yml").write_text(JOURNEY)
    frame(ROWS).to_csv(tmp_path / "events.csv", index=False)
    (tmp_path / "spend.csv").write_text(SPEND)
    (tmp_path / "more.csv").write_text("date,channel,campaign,cost,impressions,clicks\n"
                                       "2024-01-01,ads,a1,160,600,30\n")
    ws_path = tmp_path / "ws"
    assert main(["init", str(ws_path), "--journey", str(tmp_path / "journey.yml")]) == 0
    assert main(["ingest", str(tmp_path / "events.csv"), "--spend", str(tmp_path / "spend.csv"),
                 "-w", str(ws_path)]) == 0
    out = capsys.readouterr().out
    assert "spend table now 4 rows; 1 rows left out: 1 with negative cost (e.g. line 5)" in out
    ws = journeymap.open(ws_path)
    assert ws.kpis().kpi("cost")["value"] == 167.0
    assert main(["ingest", "--spend", str(tmp_path / "more.csv"), "-w", str(ws_path)]) == 0
    assert ws.kpis().kpi("cost")["value"] == 267.0  # the later a1 row replaced the earlier; cache refreshed
    capsys.readouterr()
    assert main(["kpis", "-w", str(ws_path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["computed_on"]["lead"] == "signup"
