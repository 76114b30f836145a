"""Render result objects for the terminal: a table, JSON or CSV."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from journeymap.api import ActualJourney, FunnelResult, JourneyMap
from journeymap.results import Result

FORMATS = ("table", "json", "csv")


def _pct(x) -> str:
    return "–" if x is None else f"{x:.1%}"


def _dur(s) -> str:
    if s is None:
        return "–"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s / size:.1f}{unit}"
    return f"{s:.0f}s"


def _ci(ci) -> str:
    return "–" if not ci else f"{ci[0]:.1%}–{ci[1]:.1%}"


def _stage_table(title: str, stages) -> Table:
    t = Table(title=title, title_justify="left")
    for col in ("stage", "owner", "entered", "advanced", "rate", "95% CI", "drop-off",
                "median → next", "p90 → next", "benchmark", "verdict"):
        t.add_column(col, justify="left" if col in ("stage", "owner", "verdict") else "right")
    for s in stages:
        bm = s.benchmark
        t.add_row(s.name, s.owner or "–", f"{s.entered:,}",
                  "–" if s.advanced is None else f"{s.advanced:,}", _pct(s.rate), _ci(s.rate_ci),
                  "–" if s.drop_off is None else f"{s.drop_off:,}",
                  _dur(s.median_time_to_next_s), _dur(s.p90_time_to_next_s),
                  f"{bm['low']:.0%}–{bm['high']:.0%}" if bm else "–", s.verdict or "–")
    return t


def _print_map(console: Console, result: JourneyMap) -> None:
    on = result.computed_on
    scope = f"{on['users']:,} users" + (f", persona {on['persona']}" if on["persona"] else "")
    console.print(_stage_table(f"{result.journey} — {scope}, data to {on['data_end'][:10]}",
                               result.stages))
    for pid, rows in result.personas.items():
        console.print(_stage_table(f"persona {pid}", rows))
    for g, rows in result.groups.items():
        console.print(_stage_table(f"{result.by} = {g}", rows))
    if result.leaks:
        t = Table(title="Top leaks", title_justify="left")
        for col in ("transition", "lost", "rate", "value at stake", "owner", "90-day target"):
            t.add_column(col)
        for lk in result.leaks:
            t.add_row(f"{lk.from_stage} → {lk.to_stage}", f"{lk.lost:,}", _pct(lk.rate),
                      f"{lk.value_at_stake:,.0f} {lk.value_unit}", lk.owner or "–",
                      _pct(lk.target_rate))
        console.print(t)
    if result.findings:
        console.print("[bold]Findings[/bold]")
        for f in result.findings:
            console.print(f"  • {f}")


def _print_funnel(console: Console, result: FunnelResult) -> None:
    t = Table(title=f"funnel ({result.order}, window {_dur(result.window_s)})", title_justify="left")
    for col in ("step", "event", "persons", "conversion", "95% CI", "from previous",
                "median time", "p90 time"):
        t.add_column(col)
    for r in result.rows():
        t.add_row(str(r["step"]), r["event"], f"{r['count']:,}", _pct(r["conversion"]),
                  _ci(r["conversion_ci"]), _pct(r["from_previous"]), _dur(r["median_time_s"]),
                  _dur(r["p90_time_s"]))
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
        return " → ".join(map(str, v))
    return f"{v:,}" if isinstance(v, int) else str(v)


def _print_actual(console: Console, result: ActualJourney, top: int = 12) -> None:
    edges = [dict(e, median=_dur(e["median_s"])) for e in result.stage_transitions.edges]
    console.print(_rows_table(f"{result.journey} — stage transitions ({result.users:,} users)",
                              edges[:top * 2], ["from", "to", "count", "users", "share", "median"]))
    console.print(_rows_table("Top paths", result.paths.paths[:top], ["path", "users", "share"]))
    console.print(_rows_table("Repeated events (loops)", result.repeats[:top],
                              ["name", "users", "repeat_users", "repeat_share",
                               "mean_times_when_repeated", "max_times"]))
    console.print(_rows_table("Backtracks, loops and skips by stage", result.stage_moves,
                              ["stage", "loop_users", "backtrack_users", "skip_users"]))
    console.print(_rows_table("Exits: last event before going silent", result.exits,
                              ["event", "stage", "users"]))
    c = result.conformance.to_dict()
    console.print(f"[bold]Conformance[/bold]: {c['conforming']:,} of {c['users']:,} users "
                  f"({_pct(c['conforming_share'])}) follow the designed order; "
                  + ", ".join(f"{k.replace('_', ' ')} {n:,}" for k, n in c["kinds"].items()))
    for name, paths in result.at_stage.items():
        console.print(_rows_table(f"Paths of users who {name} from stage {result.at_stage_name}",
                                  paths.paths[:top], ["path", "users", "share"]))


def render(result: Result, fmt: str = "table", out=None) -> None:
    """Write a result to `out` (stdout) in the chosen format."""
    out = out or sys.stdout
    if fmt == "json":
        out.write(result.to_json() + "\n")
    elif fmt == "csv":
        out.write(result.to_pandas().to_csv(index=False))
    else:
        console = Console(file=out, width=160)
        if isinstance(result, JourneyMap):
            _print_map(console, result)
        elif isinstance(result, FunnelResult):
            _print_funnel(console, result)
        elif isinstance(result, ActualJourney):
            _print_actual(console, result)
        else:
            console.print(result.to_pandas().to_string(index=False))
