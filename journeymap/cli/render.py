"""Render result objects for the terminal: a table, JSON or CSV."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from journeymap.results import Result, human_duration

if TYPE_CHECKING:  # printers are found by class name: rendering a funnel imports no other measure
    from journeymap.api import (
        ActivationResult,
        ActualJourney,
        CorrelationResult,
        CustomerJourney,
        DriversResult,
        FunnelResult,
        JourneyMap,
        KpiResult,
        RetentionResult,
        StuckCustomers,
    )

FORMATS = ("table", "json", "csv")


def _pct(x) -> str:
    return "–" if x is None else f"{x:.1%}"


_dur = human_duration


def _ci(ci) -> str:
    return "–" if not ci else f"{ci[0]:.1%}–{ci[1]:.1%}"


def _count(n) -> str:
    return "–" if n is None else f"{n:,}"


STAGE_HEADER = ("stage", "owner", "entered", "next stage", "advanced", "rate → next", "95% CI",
                "drop-off", "median → next", "p90 → next", "benchmark → next", "verdict")


def _stage_table(title: str, stages) -> Table:
    """One row per stage; the rate, times, benchmark and verdict are those of the move to
    the next stage (named in its own column); ↓ marks a rate to lower (into churn)."""
    t = Table(title=title, title_justify="left",
              caption="rate, times and benchmark: of the move to the next stage; ↓ lower is better",
              caption_justify="left")
    for col in STAGE_HEADER:
        t.add_column(col, justify="left" if col in ("stage", "owner", "next stage", "verdict") else "right")
    for s in stages:
        bm = s.benchmark
        t.add_row(escape(s.name), escape(s.owner or "–"), _count(s.entered), escape(s.next or "–"),
                  _count(s.advanced),
                  _pct(s.rate) + (" ↓" if s.lower_is_better else ""), _ci(s.rate_ci),
                  _count(s.drop_off), _dur(s.median_time_to_next_s), _dur(s.p90_time_to_next_s),
                  f"{bm['low']:.0%}–{bm['high']:.0%}" if bm else "–", s.verdict or "–")
    return t


def _described(stages) -> Table | None:
    """Each stage's goal, actions and touchpoints, when the journey file gives them."""
    rows = [s for s in stages if s.goal or s.actions or s.touchpoints or s.outcome]
    if not rows:
        return None
    t = Table(title="Stages as designed", title_justify="left")
    for col in ("stage", "goal", "actions", "touchpoints", "outcome"):
        t.add_column(col)
    for s in stages:
        t.add_row(*(escape(x) for x in (s.name, s.goal or "–", ", ".join(s.actions) or "–",
                                        ", ".join(s.touchpoints) or "–", s.outcome or "–")))
    return t


def _cohort_table(cohorts) -> Table:
    t = Table(title="Entry cohorts (immature: time limit not yet over, left out of rates)",
              title_justify="left")
    for col in ("stage", "cohort", "entered", "advanced", "rate → next", "95% CI", "immature"):
        t.add_column(col, justify="left" if col in ("stage", "cohort", "immature") else "right")
    for c in cohorts:
        t.add_row(escape(c.stage), c.cohort, _count(c.entered), _count(c.advanced), _pct(c.rate),
                  _ci(c.rate_ci), "immature — left out" if c.immature else "–")
    return t


def _print_map(console: Console, result: JourneyMap) -> None:
    on = result.computed_on
    scope = f"{on['users']:,} users" + (f", persona {on['persona']}" if on["persona"] else "")
    if on.get("period"):
        left_out = sum(c.immature for c in result.cohorts)
        scope += (f", {on['period']}ly entry cohorts: counts and rates of mature cohorts only"
                  + (f" ({left_out} immature left out, listed below)" if left_out else ""))
    console.print(_stage_table(f"{result.journey} — {scope}, data to {on['data_end'][:10]}",
                               result.stages))
    described = _described(result.stages)
    if described is not None:
        console.print(described)
    if result.by != "persona":  # with --by persona the groups below are the personas
        for pid, rows in result.personas.items():
            console.print(_stage_table(f"persona {pid}", rows))
    for g, rows in result.groups.items():
        console.print(_stage_table(f"{result.by} = {g}", rows))
    if result.cohorts:
        console.print(_cohort_table(result.cohorts))
    if result.experience is not None:
        _print_experience(console, result)
    if result.leaks:
        t = Table(title="Top leaks", title_justify="left")
        for col in ("transition", "lost", "rate", "value at stake", "owner", "90-day target"):
            t.add_column(col)
        for lk in result.leaks:
            arrow = " ↓" if lk.direction == "lower" else ""
            t.add_row(escape(f"{lk.from_stage} → {lk.to_stage}"), f"{lk.lost:,}", _pct(lk.rate) + arrow,
                      f"{lk.value_at_stake:,.0f} {lk.value_unit}", escape(lk.owner or "–"),
                      _pct(lk.target_rate) + arrow)
        console.print(t)
    if result.findings:
        console.print("[bold]Findings[/bold]")
        for f in result.findings:
            console.print(f"  • {escape(f)}")


def _signed(x, digits=0) -> str:
    return "–" if x is None else f"{x:+.{digits}f}"


def _ci_of(ci, fmt) -> str:
    return "–" if not ci else f"{fmt(ci[0])} to {fmt(ci[1])}"


def _print_experience(console: Console, result: JourneyMap) -> None:
    """How each stage feels: surveys and tickets attributed to the stage of the moment."""
    exp = result.experience
    hurt = {r.stage for r in result.diagnosis.resented}
    kinds = [k for k in ("nps", "csat", "ces") if any(k in s.surveys for s in exp.stages)]
    t = Table(title="How each stage feels (answers and tickets in the stage the customer was in)",
              title_justify="left", caption="NPS in points (95% CI); CSAT: share of 4–5 (Wilson 95% CI); "
              "CES: mean effort, higher is easier (95% CI); ⚠ resented: progression fine, experience poor",
              caption_justify="left")
    for col in ["stage", *(f"{k.upper()} (n)" for k in kinds), "95% CIs", "tickets/100", "median resolve",
                "top topic", "distinctive terms"]:
        t.add_column(col)
    fmts = {"nps": lambda x: f"{x:+.0f}", "csat": lambda x: f"{x:.0%}", "ces": lambda x: f"{x:.2f}"}
    for s in exp.stages:
        cells = [escape(s.stage) + (" ⚠" if s.stage in hurt else "")]
        cis = []
        for k in kinds:
            stat = s.surveys.get(k) or {}
            cells.append("–" if stat.get(k) is None else f"{fmts[k](stat[k])} ({stat['n']:,})")
            cis.append(_ci_of(stat.get(f"{k}_ci"), fmts[k]))
        tk = s.tickets or {}
        topic = next(iter(tk.get("by_topic") or {}), None)
        cells += [" · ".join(cis), "–" if tk.get("per_100") is None else f"{tk['per_100']:.1f}",
                  "–" if tk.get("median_resolution_h") is None else f"{tk['median_resolution_h']:.1f}h",
                  escape(topic or "–"), escape(", ".join(x["term"] for x in s.terms[:4]) or "–")]
        t.add_row(*cells)
    console.print(t)
    for p in exp.problems:
        ex = p["example"]
        console.print(f"[bold]signal data left out[/bold]: {p['count'] if p['count'] is not None else 'all'} "
                      f"{escape(str(p['signal']))} rows: {escape(p['problem'])}"
                      + (f" (e.g. user {escape(str(ex['user_id']))} at {ex['ts']}: {escape(repr(ex['value']))})"
                         if ex else ""))


def _funnel_rows(t: Table, rows, label=None) -> None:
    for r in rows:
        cells = [str(r["step"]), escape(r["event"]), f"{r['count']:,}", _pct(r["conversion"]),
                 _ci(r["conversion_ci"]), _pct(r["from_previous"]), _dur(r["median_time_s"]),
                 _dur(r["p90_time_s"])]
        t.add_row(*([] if label is False else ["(all)" if label is None else escape(str(label))]), *cells)


def _print_funnel(console: Console, result: FunnelResult) -> None:
    split = result.breakdown is not None
    t = Table(title=f"funnel ({result.order}, window {_dur(result.window_s)})"
              + (f", by {result.breakdown} (read on the counted attempt's first step)" if split else ""),
              title_justify="left")
    for col in (["breakdown"] if split else []) + ["step", "event", "persons", "conversion", "95% CI",
                                                   "from previous", "median time", "p90 time"]:
        t.add_column(col)
    _funnel_rows(t, result.rows(), None if split else False)
    for value, part in result.by_breakdown.items():
        _funnel_rows(t, part.rows(), "(none)" if value is None else value)
    console.print(t)


def _rows_table(title: str, rows: list[dict], columns: list[str]) -> Table:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[_cell(r.get(c)) for c in columns])
    return t


def _cell(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.1%}" if 0 <= v <= 1 else f"{v:,.1f}"
    if isinstance(v, list):
        return escape(" → ".join(map(str, v)))
    return f"{v:,}" if isinstance(v, int) else escape(str(v))


def _print_actual(console: Console, result: ActualJourney, top: int = 12) -> None:
    edges = [dict(e, median=_dur(e["median_s"])) for e in result.stage_transitions.edges]
    console.print(_rows_table(f"{result.journey} — stage transitions ({result.users:,} users)",
                              edges[:top * 2], ["from", "to", "count", "users", "share", "median"]))
    console.print(_rows_table("Top paths", result.paths.paths[:top], ["path", "users", "share"]))
    console.print(_rows_table("Repeated events (loops)", result.repeats[:top],
                              ["name", "users", "repeat_users", "repeat_share",
                               "mean_times_when_repeated", "max_times"]))
    console.print(_rows_table("Backtracks, loops and skips by stage", result.stage_moves,
                              ["stage", "loop_users", "backtrack_users", "skip_users", "win_back_users"]))
    console.print(_rows_table("Exits: last event before going silent", result.exits,
                              ["event", "stage", "users"]))
    c = result.conformance.to_dict()
    console.print(f"[bold]Conformance[/bold]: {c['conforming']:,} of {c['users']:,} users "
                  f"({_pct(c['conforming_share'])}) follow the designed order; "
                  + ", ".join(f"{k.replace('_', ' ')} {n:,}" for k, n in c["kinds"].items())
                  + (f"; {c['win_backs']:,} won back from a bad outcome" if c["win_backs"] else ""))
    for name, paths in result.at_stage.items():
        console.print(_rows_table(f"Paths of users who {name} from stage {result.at_stage_name}",
                                  paths.paths[:top], ["path", "users", "share"]))


def _props(props: dict, width: int = 90) -> str | None:
    text = ", ".join(f"{k}={v}" for k, v in props.items())
    return (text if len(text) <= width else text[:width - 1] + "…") or None


def _print_customer(console: Console, c: CustomerJourney) -> None:
    who = c.user_id + (f" (looked up as {c.looked_up})" if c.looked_up != c.user_id else "")
    where = (f"in [bold]{escape(c.stage_name)}[/bold] since {c.since[:10]} "
             f"({_dur(c.time_in_stage_s)}), owner {escape(c.owner or '–')}" if c.stage else
             "has not entered the journey")
    console.print(f"[bold]{escape(who)}[/bold] {where}")
    console.print(f"status: [bold]{c.status}[/bold]" + (f" — {escape(c.reason)}" if c.reason else "")
                  + (f"; personas: {escape(', '.join(c.personas))}" if c.personas else "")
                  + f"; last seen {(c.last_seen or '–')[:10]}, data to {(c.data_end or '–')[:10]}")
    console.print(_rows_table("Stages", [dict(s, entered_at=(s["entered_at"] or "–")[:19])
                                         for s in c.stages], ["name", "entered_at", "skipped"]))
    shown = len(c.timeline)
    title = (f"Timeline ({shown:,} most recent of {c.events_total:,} events)"
             if shown < c.events_total else f"Timeline ({shown:,} events)")
    console.print(_rows_table(title, [dict(e, ts=e["ts"][:19], entered=", ".join(e["entered"]) or None,
                                           properties=_props(e["properties"])) for e in c.timeline],
                              ["ts", "event", "entered", "properties"]))


def _print_stuck(console: Console, s: StuckCustomers) -> None:
    rule = [f"p90 time to {s.next_stage} of those who advanced: {_dur(s.p90_time_to_next_s)}"] \
        if s.p90_time_to_next_s is not None else []
    rule += [f"time limit: {_dur(s.within_s)}"] if s.within_s is not None else []
    can = s.can_still_advance
    console.print(f"[bold]{s.stuck:,}[/bold] of {s.in_stage:,} customers in "
                  f"{escape(s.stage_name)} are stuck, [bold]{can:,}[/bold] of them can still advance "
                  f"(owner {escape(s.owner or '–')}; {escape('; '.join(rule) or 'no next stage')}; "
                  f"data to {(s.data_end or '–')[:10]})")
    rows = [dict(c, entered_at=c["entered_at"][:10], in_stage=_dur(c["time_in_stage_s"]),
                 last_seen=(c["last_seen"] or "–")[:10], silent=_dur(c["silent_s"]),
                 personas=", ".join(c["personas"]) or None) for c in s.page(0, 50)]
    title = "Stuck customers: those who can still advance first, longest in the stage first"
    console.print(_rows_table(title + (" (first 50: --format csv for all)" if s.stuck > 50 else ""),
                              rows, ["user_id", "entered_at", "in_stage", "can_still_advance",
                                     "last_seen", "silent", "personas", "reason"]))


def _kpi_value(k: dict) -> str:
    v, unit = k["value"], k["unit"]
    if v is None:
        return "–"
    if unit == "share":
        return f"{v:.1%}"
    if unit == "money":
        return f"{v:,.2f}"
    if unit == "seconds":
        return _dur(v)
    return f"{v:,.2f}" if isinstance(v, float) and not float(v).is_integer() else f"{v:,.0f}"


def _print_kpis(console: Console, r: KpiResult) -> None:
    on = r.computed_on
    t = Table(title=f"Journey KPIs — {on['users']:,} users, data to {on['data_end'][:10]}", title_justify="left")
    for col in ("KPI", "value", "95% CI", "n", "definition"):
        t.add_column(col, justify="right" if col in ("value", "n") else "left")
    for k in r.kpis:
        ci = k["ci"]
        t.add_row(escape(k["name"].replace("_", " ")), _kpi_value(k),
                  _ci(ci) if ci and k["unit"] == "share" else "–", _count(k["n"]), escape(k["definition"]))
    console.print(t)
    money = lambda x: "–" if x is None else f"{x:,.2f}"  # noqa: E731
    for key, rows in (("channel", r.channels), ("campaign", r.campaigns)):
        if not rows:
            continue
        tb = Table(title=f"By {key} (first touch)", title_justify="left")
        for col in (key, "impressions", "clicks", "CTR", "cost", "leads", "cost/lead", "conversions", "cost/conv."):
            tb.add_column(col, justify="left" if col == key else "right")
        for x in rows:
            tb.add_row(escape(x[key]), _count(x["impressions"]), _count(x["clicks"]), _pct(x["click_through_rate"]),
                       money(x["cost"]), _count(x["leads"]), money(x["cost_per_lead"]), _count(x["conversions"]),
                       money(x["cost_per_conversion"]))
        console.print(tb)
    if r.periods:
        tb = Table(title=f"By {on['period']} (incomplete: cut short by the end of the data)", title_justify="left")
        for col in ("period", "revenue", "paying", "ARPU", "active at start", "churned", "churn rate", "95% CI",
                    "NRR"):
            tb.add_column(col, justify="left" if col == "period" else "right")
        for p in r.periods:
            tb.add_row(p["period"] + ("" if p["complete"] else " (incomplete)"), money(p["revenue"]),
                       _count(p["paying_customers"]), money(p["arpu"]), _count(p["active_at_start"]),
                       _count(p["churned"]), _pct(p["churn_rate"]), _ci(p["churn_rate_ci"]),
                       _pct(p["net_revenue_retention"]))
        console.print(tb)
    if r.tickets:
        console.print("Tickets by channel: " + ", ".join(f"{escape(x['channel'])} {x['tickets']:,} "
                                                         f"({_pct(x['share'])})" for x in r.tickets))
    for p in r.problems:
        console.print(f"[bold]data left out[/bold]: {escape(p['problem'])}"
                      + (f" — {p['count']:,} rows" if p.get("count") else "")
                      + (f", e.g. {escape(str(p['example']))}" if p.get("example") else ""))


def _odds(x) -> str:
    return "–" if x is None else f"{x:.2f}" if x < 10 else f"{x:,.0f}"


def _print_drivers(console: Console, r: DriversResult) -> None:
    for h, p in r.horizons.items():
        console.print(f"[bold]{escape(r.from_stage)} → {escape(r.to_stage)}[/bold], behaviours within {h}"
                      + (f", persona {escape(r.persona)}" if r.persona else "")
                      + f": {p.eligible:,} customers ({p.left_out:,} left out: their horizon or time to "
                      f"advance not over), {_pct(p.base_rate)} advanced")
    for title, rows in (("Drivers (more likely to advance)", r.drivers),
                        ("Blockers (less likely to advance)", r.blockers)):
        t = Table(title=title, title_justify="left")
        for col in ("behaviour", "horizon", "did", "share", "advanced if did", "if not", "lift", "odds ratio",
                    "95% CI", "within personas (MH)", "q (BH)"):
            t.add_column(col, justify="left" if col in ("behaviour", "horizon") else "right")
        for d in rows[:15]:
            t.add_row(escape(d["behaviour"]), d["horizon"], _count(d["did"]), _pct(d["share"]),
                      _pct(d["rate_did"]), _pct(d["rate_not"]), "–" if d["lift"] is None else f"{d['lift']:.2f}×",
                      _odds(d["odds_ratio"]), f"{_odds(d['odds_ratio_ci'][0])}–{_odds(d['odds_ratio_ci'][1])}",
                      _odds(d["mh_odds_ratio"]), f"{d['q_value']:.2g}")
        console.print(t)
    console.print(escape(r.caution))


def _print_correlation(console: Console, r: CorrelationResult) -> None:
    on = r.computed_on
    console.print(f"Funnel correlation ({escape(on['kind'])}): {on['persons']:,} persons, {on['successes']:,} "
                  f"converted, {on['failures']:,} did not" + (" — skewed: one side is over 10× the other"
                                                             if r.skewed else ""))
    t = Table(title="Dimensions by odds ratio (+1 prior on every cell); PostHog shows the first 10 of each",
              title_justify="left")
    for col in ("dimension", "type", "odds ratio", "converted with it", "did not", "conversion with",
                "without"):
        t.add_column(col, justify="left" if col in ("dimension", "type") else "right")
    for d in r.dimensions[:30]:
        t.add_row(escape(d.name), d.correlation_type, _odds(d.odds_ratio), _count(d.success_count),
                  _count(d.failure_count), _pct(d.with_conversion_rate), _pct(d.without_conversion_rate))
    console.print(t)


def _print_activation(console: Console, r: ActivationResult) -> None:
    t = Table(title=f"Activation moments: {r.from_stage} → {r.to_stage}, behaviours within {r.horizon}",
              title_justify="left")
    for col in ("persona", "customers", "reached", "moment", "coverage", "reached if did", "if not", "lift"):
        t.add_column(col, justify="left" if col in ("persona", "moment") else "right")
    for m in r.moments:
        t.add_row(escape(m["name"]), _count(m["customers"]), _pct(m["base_rate"]), escape(m["behaviour"] or "–"),
                  _pct(m["coverage"]), _pct(m["rate_did"]), _pct(m["rate_not"]),
                  "–" if m["lift"] is None else f"{m['lift']:.2f}×")
    console.print(t)
    console.print(escape(r.caution))


def _print_retention(console: Console, r: RetentionResult) -> None:
    on = r.computed_on
    n = r.n_intervals
    console.print(f"{escape(r.title)}: {on['date_from']} to {on['date_to']}, {on['persons']:,} persons")
    t = Table(caption="interval 0 = the cohort; then the share who came back in "
              "each later period" + (" or any after it (cumulative)" if on["cumulative"] else "")
              + "; – = not over yet", caption_justify="left")
    for col in ["cohort", "size", *(f"{on['period']} {k}" for k in range(n))]:
        t.add_column(col, justify="left" if col == "cohort" else "right")
    for c in r.cohorts:
        t.add_row(c.start, f"{c.size:,}", *(("–" if x is None else f"{x:.1%}") for x in c.rates))
    t.add_row("mean", "", *(_pct(row["rate"]) for row in r.interval_rows()))
    console.print(t)


def render(result: Result, fmt: str = "table", out=None, section: str | None = None) -> None:
    """Write a result to `out` (stdout) in the chosen format; CSV writes one `section`
    (the main table when None), JSON the whole result or that one section's rows."""
    out = out or sys.stdout
    if fmt == "json":
        out.write((result.to_json() if section is None else
                   json.dumps(result.section(section), indent=2)) + "\n")
    elif fmt == "csv":
        out.write(result.to_csv(section))
    else:
        console = Console(file=out, width=160)
        printer = next((PRINTERS[c.__name__] for c in type(result).__mro__ if c.__name__ in PRINTERS),
                       None)
        if printer is not None:
            printer(console, result)
        else:
            console.print(result.to_pandas().to_string(index=False))


#: The table printer of each result class (and its subclasses), by class name.
PRINTERS = {"JourneyMap": _print_map, "FunnelResult": _print_funnel, "ActualJourney": _print_actual,
            "CustomerJourney": _print_customer, "StuckCustomers": _print_stuck,
            "RetentionResult": _print_retention, "KpiResult": _print_kpis, "DriversResult": _print_drivers,
            "ActivationResult": _print_activation, "CorrelationResult": _print_correlation}
