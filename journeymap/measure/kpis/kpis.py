"""The journey KPIs, each with its definition and what it was computed on.

Marketing (from the spend table, by channel and campaign): impressions, clicks,
click-through rate (clicks ÷ impressions), cost, cost per lead and per conversion
(cost ÷ users whose lead / conversion stage entry came from that channel or
campaign). A user's channel and campaign are their first-touch properties: a
user trait when the users table has it, else the property on the event that put
them in the journey's first stage (as `measure --by` reads it).

Conversion: the rate of every stage (entered next ÷ entered) and end to end
(entered the conversion stage ÷ entered the first stage), Wilson 95% intervals.

Money and retention (`revenue`, `churn`; per calendar `period`, UTC): a customer
is a user with a revenue event. Churn rate of a period = customers who churned in
it ÷ customers active at its start (first revenue before it, no churn before it).
Revenue, paying customers and revenue per paying customer (ARPU) per period. Net
revenue retention of a period = revenue in it from the customers who paid in the
period before ÷ their revenue in that period. Customer lifetime value: historical =
revenue so far ÷ customers; projected = mean ARPU ÷ mean churn rate over complete
periods (a geometric lifetime: both assumed constant, no discounting, no margin).
The last period, which the data end cuts short, is marked incomplete and left out
of the means. Referral rate = customers who did the referral event ÷ customers.

Time to first value: from entering one stage to entering another (median, p90 and
the share who got there). Help content: see `sessions`. Tickets: distribution by
channel (the journey's `signals.tickets`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from journeymap._deferred import pd
from journeymap.errors import QueryError
from journeymap.measure._feed.predicates import rule
from journeymap.measure.kpis.sessions import help_sessions
from journeymap.measure.map.entries import StageEntries, stage_entries
from journeymap.measure.map.measured_map import entry_labels
from journeymap.measure.stats import median_p90, rate, wilson_ci
from journeymap.results import Result, clean, flat
from journeymap.spec.model import Journey
from journeymap.store.sources import as_source

PERIOD_FREQ = {"month": "M", "week": "W-SUN"}


@dataclass(frozen=True)
class KpiResult(Result):
    """The journey KPIs: `kpis` (one row per KPI, with its definition), and the tables
    behind them: channels, campaigns, stages, periods, tickets by channel; `problems`
    lists the data left out (e.g. negative costs) with an example."""

    kpis: list[dict]
    channels: list[dict]
    campaigns: list[dict]
    stages: list[dict]
    periods: list[dict]
    tickets: list[dict]
    problems: list[dict]
    computed_on: dict = field(default_factory=dict)
    title = "journey KPIs"

    def kpi(self, name: str) -> dict:
        for k in self.kpis:
            if k["name"] == name:
                return k
        raise QueryError(f"no KPI '{name}' (KPIs: {', '.join(k['name'] for k in self.kpis)})")

    def rows(self) -> list[dict]:
        return self.kpis

    def sections(self) -> dict[str, list[dict]]:
        return {"kpis": [flat(k) for k in self.kpis], "channels": [flat(r) for r in self.channels],
                "campaigns": [flat(r) for r in self.campaigns], "stages": [flat(r) for r in self.stages],
                "periods": [flat(r) for r in self.periods], "tickets": [flat(r) for r in self.tickets],
                "problems": [flat({**p, **{f"example_{k}": v for k, v in (p.get("example") or {}).items()}})
                             for p in self.problems]}

    def to_dict(self) -> dict:
        return clean({"computed_on": self.computed_on, "kpis": self.kpis, "channels": self.channels,
                      "campaigns": self.campaigns, "stages": self.stages, "periods": self.periods,
                      "tickets": self.tickets, "problems": self.problems})


def _kpi(name: str, value, unit: str, definition: str, ci=None, n=None, **extra) -> dict:
    return {"name": name, "value": value, "unit": unit, "ci": ci, "n": n, "definition": definition, **extra}


def _stage_index(journey: Journey, sid: str | None, what: str) -> int | None:
    if sid is None:
        return None
    try:
        return journey.stage_ids.index(journey.stage(sid).id)
    except QueryError as exc:
        raise QueryError(f"{what}: {exc}") from None


def _marketing(journey, entries: StageEntries, labels: dict, spend, lead: int | None, conv: int | None):
    """Per channel and per campaign: spend, leads, conversions and the costs per each."""
    entered = {k: entries.entry_t[:, k] >= 0 for k in (lead, conv) if k is not None}
    tables, problems = {}, []
    for key in ("channel", "campaign"):
        lab = labels.get(key)
        users = pd.DataFrame({"label": lab}) if lab is not None else pd.DataFrame({"label": []})
        for name, k in (("leads", lead), ("conversions", conv)):
            users[name] = entered[k] if k is not None and lab is not None else False
        per = users.groupby("label")[["leads", "conversions"]].sum() if len(users) else \
            pd.DataFrame(columns=["leads", "conversions"])
        money = None
        if spend is not None and spend.rows.num_rows:
            df = spend.rows.to_pandas()
            money = df.groupby(key)[["cost", "impressions", "clicks"]].sum(min_count=1)
        rows = []
        for value in sorted(set(per.index) | set(money.index if money is not None else []),
                            key=lambda v: (-(per.loc[v, "conversions"] if v in per.index else 0), str(v))):
            leads = int(per.loc[value, "leads"]) if value in per.index else 0
            convs = int(per.loc[value, "conversions"]) if value in per.index else 0
            m = money.loc[value] if money is not None and value in money.index else None
            cost = float(m["cost"]) if m is not None and pd.notna(m["cost"]) else None
            imp = int(m["impressions"]) if m is not None and pd.notna(m["impressions"]) else None
            clicks = int(m["clicks"]) if m is not None and pd.notna(m["clicks"]) else None
            rows.append({key: str(value), "impressions": imp, "clicks": clicks,
                         "click_through_rate": rate(clicks, imp) if imp else None,
                         "click_through_rate_ci": wilson_ci(clicks, imp) if imp and clicks is not None else None,
                         "cost": cost, "leads": leads, "conversions": convs,
                         "cost_per_lead": cost / leads if cost is not None and leads else None,
                         "cost_per_conversion": cost / convs if cost is not None and convs else None})
        tables[key] = rows
        if money is not None and lab is not None:
            unknown = sorted(set(map(str, money.index)) - set(map(str, per.index)))
            if unknown:
                problems.append({"problem": f"spend for {key}s no user came from: {', '.join(unknown[:5])}"
                                 + (" …" if len(unknown) > 5 else ""), "count": len(unknown), "example": None})
    return tables, problems


def _events_of(table, r, *cols) -> pd.DataFrame:
    """Rows of the events matching a rule: user_id, ts and `cols`."""
    present = [c for c in cols if c in table.columns]
    got = table.filter(rule(table, r)).select("user_id", "ts", *present).to_pandas()
    got["ts"] = pd.to_datetime(got["ts"], utc=True)
    for c in cols:
        if c not in present:
            got[c] = np.nan
    return got


def _periods(journey: Journey, table, data_end: pd.Timestamp, problems: list) -> tuple[list[dict], dict]:
    """Per period: revenue, paying customers, ARPU, churn rate, NRR; plus the totals."""
    freq = PERIOD_FREQ[journey.kpis.period]
    rev = journey.revenue
    if rev is None:
        return [], {}
    money = _events_of(table, rev.rule, rev.amount)
    amount = pd.to_numeric(money[rev.amount], errors="coerce")
    bad = amount.isna() & money[rev.amount].notna()
    if bad.any():
        problems.append({"problem": f"revenue amount '{rev.amount}' that is not a number", "count": int(bad.sum()),
                         "example": {"user_id": money.loc[bad].iloc[0]["user_id"],
                                     "value": str(money.loc[bad].iloc[0][rev.amount])}})
    money = money.assign(amount=amount.fillna(0.0))
    money["period"] = money["ts"].dt.tz_convert(None).dt.to_period(freq)
    first_paid = money.groupby("user_id")["ts"].min()
    churn = _events_of(table, journey.churn, ) if journey.churn is not None else None
    churned_at = churn.groupby("user_id")["ts"].min() if churn is not None and len(churn) else pd.Series(
        dtype="datetime64[ns, UTC]")
    if not len(money):
        return [], {"customers": 0, "revenue": 0.0}
    first = money["period"].min()
    last = pd.Timestamp(data_end).tz_convert(None).to_period(freq)
    by_period = money.groupby("period")
    paid = money.groupby(["period", "user_id"])["amount"].sum()
    rows = []
    for p in pd.period_range(first, last, freq=freq):
        start = pd.Timestamp(p.start_time, tz="UTC")
        end = pd.Timestamp(p.end_time, tz="UTC")
        active = first_paid.index[(first_paid < start).to_numpy()]
        gone_before = churned_at.reindex(active)
        active = active[~(gone_before < start).fillna(False).to_numpy()]
        churned = churned_at.reindex(active)
        n_churn = int(((churned >= start) & (churned <= end)).sum())
        revenue = float(by_period["amount"].sum().get(p, 0.0))
        paying = int(paid.loc[p].gt(0).sum()) if p in paid.index.get_level_values(0) else 0
        prev = p - 1
        nrr = None
        if prev in paid.index.get_level_values(0):
            base = paid.loc[prev]
            base = base[base > 0]
            now = paid.loc[p] if p in paid.index.get_level_values(0) else pd.Series(dtype=float)
            if base.sum() > 0:
                nrr = float(now.reindex(base.index).fillna(0.0).sum() / base.sum())
        rows.append({"period": str(p), "complete": bool(end < pd.Timestamp(data_end)), "revenue": revenue,
                     "paying_customers": paying, "arpu": revenue / paying if paying else None,
                     "active_at_start": int(len(active)), "churned": n_churn,
                     "churn_rate": rate(n_churn, len(active)) if len(active) else None,
                     "churn_rate_ci": wilson_ci(n_churn, len(active)),
                     "net_revenue_retention": nrr})
    totals = {"customers": int(first_paid.size), "revenue": float(money["amount"].sum()),
              "customer_ids": set(first_paid.index)}
    return rows, totals


def _time_between(entries: StageEntries, a: int, b: int) -> dict:
    t0, t1 = entries.entry_t[:, a], entries.entry_t[:, b]
    both = (t0 >= 0) & (t1 >= 0)
    secs = (t1[both] - t0[both]) / 1e6
    median, p90 = median_p90(secs) if secs.size else (None, None)
    return {"n": int(both.sum()), "from_n": int((t0 >= 0).sum()), "median_s": median, "p90_s": p90,
            "share": rate(int(both.sum()), int((t0 >= 0).sum())),
            "share_ci": wilson_ci(int(both.sum()), int((t0 >= 0).sum()))}


def _tickets(journey: Journey, table) -> list[dict]:
    t = journey.signals.tickets
    if t is None:
        return []
    got = _events_of(table, t.rule, *(c for c in (t.channel,) if c))
    col = t.channel
    if col is None or not len(got):
        return [{"channel": "(all)", "tickets": int(len(got)), "share": 1.0 if len(got) else None}]
    counts = got[col].fillna("(none)").astype(str).value_counts()
    total = int(counts.sum())
    return [{"channel": k, "tickets": int(v), "share": v / total, "share_ci": wilson_ci(int(v), total)}
            for k, v in counts.items()]


def journey_kpis(journey: Journey, source, users=None, spend=None, stages: list | None = None,
                 *, lead: str | None = None, conversion: str | None = None,
                 first_value: tuple[str, str] | None = None) -> KpiResult:
    """Every KPI the journey's declarations allow (see the module doc). `stages`: the
    measured map's stage rows (for the conversion rates); `spend`: a `store.spend.Spend`."""
    settings = journey.kpis
    lead_k = _stage_index(journey, lead or settings.lead, "lead")
    conv_k = _stage_index(journey, conversion or settings.conversion or journey.stage_ids[-1], "conversion")
    pair = first_value or settings.first_value
    source = as_source(source)
    table = source.table
    props = tuple(p for p in (settings.channel, settings.campaign) if p in table.columns and not (
        users is not None and p in users.columns))
    entries = stage_entries(journey, source, entry_props=props)
    labels = {key: entry_labels(entries, table, users, prop)
              for key, prop in (("channel", settings.channel), ("campaign", settings.campaign))
              if prop in table.columns or (users is not None and prop in users.columns)}
    problems = [{"problem": problem, "count": None, "example": None} for problem in
                [f"no '{prop}' property or trait: nothing is split by {key}"
                 for key, prop in (("channel", settings.channel), ("campaign", settings.campaign))
                 if key not in labels and spend is not None]]
    problems += list(spend.problems) if spend is not None else []
    marketing, more = _marketing(journey, entries, labels, spend, lead_k, conv_k)
    problems += more
    data_end = pd.Timestamp(entries.data_end, unit="us", tz="UTC")
    periods, totals = _periods(journey, table, data_end, problems)
    out = []
    spend_rows = spend.rows.to_pandas() if spend is not None else None
    if spend_rows is not None and len(spend_rows):
        imp, clicks, cost = (float(spend_rows[c].sum()) for c in ("impressions", "clicks", "cost"))
        leads = int(sum(r["leads"] for r in marketing["channel"])) if "channel" in marketing else None
        convs = int((entries.entry_t[:, conv_k] >= 0).sum())
        out += [_kpi("impressions", int(imp), "impressions", "sum of the spend table's impressions"),
                _kpi("click_through_rate", rate(int(clicks), int(imp)), "share", "clicks ÷ impressions",
                     wilson_ci(int(clicks), int(imp)), int(imp)),
                _kpi("cost", cost, "money", "sum of the spend table's cost (valid rows)"),
                _kpi("cost_per_lead", cost / leads if leads else None, "money",
                     f"cost ÷ users who entered '{journey.stage_ids[lead_k]}'" if lead_k is not None
                     else "needs kpis.lead (a stage)", n=leads),
                _kpi("cost_per_conversion", cost / convs if convs else None, "money",
                     f"cost ÷ users who entered '{journey.stage_ids[conv_k]}'", n=convs)]
    first_n = int((entries.entry_t[:, 0] >= 0).sum())
    conv_n = int((entries.entry_t[:, conv_k] >= 0).sum())
    out.append(_kpi("conversion_rate", rate(conv_n, first_n), "share",
                    f"entered '{journey.stage_ids[conv_k]}' ÷ entered '{journey.stage_ids[0]}'",
                    wilson_ci(conv_n, first_n), first_n))
    stage_rows = [{"stage": s.id, "entered": s.entered, "advanced": s.advanced, "rate": s.rate,
                   "rate_ci": s.rate_ci, "next": s.next} for s in (stages or [])]
    complete = [p for p in periods if p["complete"]]
    if periods:
        churn = [p["churn_rate"] for p in complete if p["churn_rate"] is not None]
        arpu = [p["arpu"] for p in complete if p["arpu"] is not None]
        nrr = [p["net_revenue_retention"] for p in complete if p["net_revenue_retention"] is not None]
        mean_churn = float(np.mean(churn)) if churn else None
        mean_arpu = float(np.mean(arpu)) if arpu else None
        per = settings.period
        out += [_kpi("customers", totals["customers"], "customers", "users with a revenue event"),
                _kpi("revenue", totals["revenue"], "money", "sum of the revenue events' amounts"),
                _kpi(f"churn_rate_per_{per}", mean_churn, "share",
                     f"mean over complete {per}s of churned ÷ active at the {per}'s start", n=len(churn)),
                _kpi(f"arpu_per_{per}", mean_arpu, "money",
                     f"mean over complete {per}s of revenue ÷ paying customers", n=len(arpu)),
                _kpi(f"net_revenue_retention_per_{per}", float(np.mean(nrr)) if nrr else None, "share",
                     f"mean over complete {per}s of revenue from the previous {per}'s payers ÷ "
                     "their revenue then", n=len(nrr)),
                _kpi("clv_historical", totals["revenue"] / totals["customers"] if totals["customers"] else None,
                     "money", "revenue so far ÷ customers (lifetimes still running: a lower bound)",
                     n=totals["customers"]),
                _kpi("clv_projected", mean_arpu / mean_churn if mean_arpu and mean_churn else None, "money",
                     f"ARPU per {per} ÷ churn rate per {per} (geometric lifetime; constant churn and "
                     "ARPU, no discounting, no margin)")]
        if journey.referral is not None:
            referrers = set(_events_of(table, journey.referral)["user_id"])
            ids = totals["customer_ids"]
            n = len(referrers & ids)
            out.append(_kpi("referral_rate", rate(n, len(ids)), "share", "customers who did the referral "
                            "event ÷ customers", wilson_ci(n, len(ids)), len(ids)))
    if pair is not None:
        a, b = (_stage_index(journey, x, "first_value") for x in pair)
        t = _time_between(entries, a, b)
        out.append(_kpi("time_to_first_value", t["median_s"], "seconds",
                        f"median time from entering '{pair[0]}' to entering '{pair[1]}' (p90 and the share "
                        "who got there alongside)", t["share_ci"], t["n"], p90_s=t["p90_s"], share=t["share"]))
    if journey.help is not None:
        h = help_sessions(source, journey.help, settings.session_gap)
        out += [_kpi("help_bounce_rate", h["bounce_rate"], "share", "help sessions with a single page ÷ help "
                     f"sessions (sessions split by {h['split_by']})", h["bounce_rate_ci"], h["help_sessions"]),
                _kpi("help_pages_per_session", h["pages_per_session"], "pages", "mean pages (page views and "
                     "help pages) per help session", n=h["help_sessions"])]
    tickets = _tickets(journey, table)
    computed_on = {"users": entries.n_users, "data_end": data_end.isoformat(), "period": settings.period,
                   "lead": journey.stage_ids[lead_k] if lead_k is not None else None,
                   "conversion": journey.stage_ids[conv_k], "channel": settings.channel,
                   "campaign": settings.campaign, "spend": spend.file if spend is not None else None}
    return KpiResult(out, marketing.get("channel", []), marketing.get("campaign", []), stage_rows, periods,
                     tickets, problems, computed_on)
