"""The `journeymap` command. Parses input, calls the API, renders results.

Every command reaches the numbers through the public surface only: a workspace
(`journeymap.workspace.Workspace`) or, for files given with `--events`, a scratch
workspace holding them, so a file gives the same numbers either way. Errors are
mapped in one place (`main`): `error: ...` on stderr and a non-zero exit; the
traceback only with `--debug`.
"""

from __future__ import annotations

import atexit
import json
import multiprocessing
import os
import sys
import traceback
from pathlib import Path

import click

from journeymap import settings
from journeymap.cache import ResultCache
from journeymap.cli.progressbar import progress_bar
from journeymap.cli.render import FORMATS, render
from journeymap.cli.startup import lean_numba
from journeymap.cli.step_syntax import parse_exclusion, parse_step
from journeymap.errors import JourneyError
from journeymap.results import clean

GLOBAL_OPTIONS = {"--debug": 0, "--engine": 1, "--spark-master": 1}  # name -> values it takes

FORMAT = click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                      help="Output: table, json or csv (default: the format setting, env "
                           "JOURNEYMAP_FORMAT or settings.json, else table).")
WORKSPACE = click.option("--workspace", "-w", type=click.Path(file_okay=False), default=None,
                         help="Workspace folder (default: the one containing the current folder).")
EVENTS = click.option("--events", "-e", "events", type=click.Path(exists=True, dir_okay=False),
                      multiple=True, help="Measure these event files directly, without a workspace "
                                          "(ingested as `journeymap ingest` would: de-duplicated, "
                                          "identities stitched). Repeatable.")
TABLE = click.option("--table", "tables", multiple=True, metavar="URL::TABLE",
                     help="Measure a database table directly, like --events: an Ibis URL or a "
                          "DuckDB/SQLite file, then :: and the table, e.g. "
                          "duckdb:///abs/shop.db::events. Repeatable.")
USERS = click.option("--users", "-u", "users", type=click.Path(exists=True, dir_okay=False),
                     multiple=True, help="Users file (user_id + traits), with --events. Repeatable.")
MAP = click.option("--map", "mapping", default=None,
                   help="Column mapping for --events, e.g. user_id=customer,ts=time.")
SECTION = click.option("--section", default=None,
                       help="With --format csv or json: the one table to write (e.g. stages, "
                            "personas, cohorts, leaks, findings; paths, exits; steps, breakdown). "
                            "CSV default: the main table.")
JOURNEY = click.option("--journey", "-j", type=click.Path(exists=True, dir_okay=False), default=None,
                       help="Journey file (default: the workspace's journey.yml).")


def data_options(command):
    """--journey, --events, --table, --users and --map: where a command's data come from."""
    for option in reversed((JOURNEY, EVENTS, TABLE, USERS, MAP)):
        command = option(command)
    return command


def _mapping(text: str | None) -> dict | None:
    """`user_id=customer,ts=time` -> {'user_id': 'customer', 'ts': 'time'}."""
    if not text:
        return None
    pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
    bad = [p for p in pairs if len(p) != 2 or not p[0].strip() or not p[1].strip()]
    if bad:
        raise click.BadParameter(f"expected canonical=source pairs, got {'='.join(bad[0])!r}",
                                 param_hint="--map")
    return {k.strip(): v.strip() for k, v in pairs}


def _engine_options() -> dict:
    opts = click.get_current_context().find_root().obj or {}
    return {"engine": opts.get("engine"), "master": opts.get("spark_master")}


def _open(workspace):
    """The workspace named by -w, or the one containing the current folder."""
    from journeymap.workspace import Workspace, find_workspace
    return Workspace(Path(workspace) if workspace else find_workspace(), **_engine_options())


def _data(*, journey, events, users, mapping, workspace, tables=(), needs_journey=True):
    """The workspace to ask: a scratch one holding --events / --table (and --users), else
    the workspace itself. Options that the chosen path would ignore are refused."""
    from journeymap.workspace import read_table, scratch_workspace
    if events or tables:
        if workspace:
            raise click.UsageError("give either --events/--table (data, no workspace) or --workspace, "
                                   "not both")
        if needs_journey and not journey:
            raise click.UsageError("--events and --table need --journey (or use a workspace)")
        return scratch_workspace(journey, [*events, *(read_table(t) for t in tables)], users=users,
                                 mapping=_mapping(mapping), **_engine_options())
    for given, name in ((users, "--users"), (mapping, "--map")):
        if given:
            raise click.UsageError(f"{name} goes with --events or --table; to give a workspace users, run "
                                   "`journeymap ingest --users FILE`" if name == "--users" else
                                   f"{name} goes with --events or --table; a workspace's events are mapped "
                                   "when ingested (`journeymap ingest --map ...`)")
    return _Opened(_open(workspace))


class _Opened:
    """An open workspace used like `scratch_workspace` (a context that cleans nothing)."""

    def __init__(self, ws):
        self.ws = ws

    def __enter__(self):
        return self.ws

    def __exit__(self, *exc):
        return None


def _fmt(fmt, ws=None) -> str:
    """The output format: flag > env > the workspace's settings.json > table."""
    return settings.resolve("format", fmt, ws.folder.settings if ws is not None else None)


def _render(result, fmt, section, ws) -> None:
    """Render in the resolved format; `--section` picks one table for csv or json."""
    fmt = _fmt(fmt, ws)
    if section is not None and fmt == "table":
        raise click.UsageError("--section picks one table to export: use it with --format csv or json")
    render(result, fmt, section=section)


@click.group()
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default=None,
              help="Engine (default: workspace setting, env JOURNEYMAP_ENGINE, else duckdb).")
@click.option("--spark-master", default=None,
              help="Spark master URL, e.g. local[4] or spark://host:7077 (env JOURNEYMAP_SPARK_MASTER).")
@click.version_option(package_name="journeymap")
@click.pass_context
def cli(ctx, debug, engine, spark_master):
    """journeymap: a customer journey map that measures itself.

    Global options (--engine, --spark-master, --debug) may come before or after the
    command."""
    ctx.obj = {"debug": debug, "engine": engine, "spark_master": spark_master}


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--journey", type=click.Path(exists=True, dir_okay=False),
              help="Start from this journey file instead of the template.")
def init(directory, journey):
    """Create a workspace: journey file, event store, settings."""
    from importlib.resources import files

    from journeymap.workspace import init_workspace
    text = Path(journey).read_text() if journey else \
        files("journeymap.demo").joinpath("journey.yaml").read_text()
    ws = init_workspace(directory, text)
    click.echo(f"workspace ready at {ws.path}: edit {ws.folder.journey_path.name}, then "
               f"`journeymap ingest FILE -w {directory}` and `journeymap measure -w {directory}`")


@cli.command()
@click.option("--users", "n_users", type=click.IntRange(min=100), default=200_000, show_default=True,
              help="How many users the demo company has.")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--dir", "directory", type=click.Path(file_okay=False), default="journeymap-demo",
              show_default=True, help="Where to write the demo workspace.")
@FORMAT
def demo(n_users, seed, directory, fmt):
    """Generate the demo company, write its workspace, print the measured map."""
    from journeymap.demo.run import run_demo
    measured, actual = run_demo(Path(directory), users=n_users, seed=seed,
                                say=lambda m: click.echo(m, err=True))
    if _fmt(fmt) == "json":
        click.echo(json.dumps(clean({"map": measured.to_dict(), "actual": actual.to_dict()})))
        return
    render(measured, _fmt(fmt))
    render(actual, _fmt(fmt))
    if _fmt(fmt) == "table":
        click.echo(f"\nOpen it as a dashboard: journeymap serve -w {directory}   "
                   "(then http://127.0.0.1:8000/)")
        click.echo(f"Share it as one file:   journeymap report -o map.html -w {directory}")
        click.echo(f"Its KPIs:               journeymap kpis -w {directory}")


@cli.command()
@click.argument("journey_file", required=False, type=click.Path(exists=True, dir_okay=False))
@JOURNEY
@EVENTS
@TABLE
@USERS
@MAP
@WORKSPACE
def validate(journey_file, journey, events, tables, users, mapping, workspace):
    """Check a journey file (and, with data, its event names, properties and traits).

    JOURNEY_FILE (or --journey) alone checks the file; with --events (and --users)
    or a workspace, also against the data."""
    from journeymap.api import validate as check
    if journey_file and journey and Path(journey_file) != Path(journey):
        raise click.UsageError("give the journey file once: as JOURNEY_FILE or as --journey")
    journey = journey or journey_file
    if journey and not events and not tables and not workspace and not users and not mapping:
        j = check(journey)
        click.echo(f"{journey}: valid ({len(j.stages)} stages); pass --events or a workspace to "
                   "check names against the data")
        return
    with _data(journey=journey, events=events, tables=tables, users=users, mapping=mapping,
               workspace=workspace) as ws:
        j = ws.validate(journey=None if events or tables else journey)
    click.echo(f"{journey or j.file or 'journey'}: valid ({len(j.stages)} stages) and matches the data")


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--table", "tables", multiple=True, metavar="URL::TABLE",
              help="A database table of events to load, e.g. duckdb:///abs/shop.db::events or "
                   "sqlite:///abs/app.sqlite::events (any Ibis URL). Repeatable.")
@click.option("--users", "users", type=click.Path(exists=True, dir_okay=False), multiple=True,
              help="A users file (user_id + traits; CSV, Parquet or JSON Lines) to load: one row "
                   "per user, later values win. Repeatable.")
@click.option("--spend", "spends", type=click.Path(exists=True, dir_okay=False), multiple=True,
              help="A spend file (date, channel, campaign, cost, impressions, clicks) to merge into "
                   "the workspace's spend table: a later row for the same date, channel and "
                   "campaign wins. Repeatable.")
@click.option("--map", "mapping", default=None, help="Column mapping, e.g. user_id=customer,ts=time.")
@click.option("--input-format", type=click.Choice(["csv", "parquet", "jsonl", "segment"]), default=None)
@click.option("--skip-bad-rows", type=click.Path(dir_okay=False), default=None,
              help="Load the good rows and write every rejected row with its reason here.")
@WORKSPACE
def ingest(files, tables, users, spends, mapping, input_format, skip_bad_rows, workspace):
    """Load event files or tables (and users files) into the workspace store, each all or
    nothing."""
    from journeymap.progress import report
    from journeymap.workspace import read_table
    if not files and not tables and not users and not spends:
        raise click.UsageError("give event FILES or --table URL::TABLE to load, or --users / --spend FILE")
    if input_format == "segment" and users:
        raise click.UsageError("--input-format segment is for event files; a users file is "
                               "CSV, Parquet or JSON Lines")
    ws = _open(workspace)
    sources = [*files, *tables]
    for i, f in enumerate(sources):
        report("files ingested", i, len(sources))
        data = read_table(f) if f in tables else f
        stats = ws.ingest(data, mapping=_mapping(mapping), format=input_format,
                          skip_bad_rows=skip_bad_rows)
        click.echo(f"{f}: {stats.added:,} events added, {stats.duplicates:,} duplicates skipped")
    for f in users:
        n = ws.ingest_users(f, mapping=_mapping(mapping), format=input_format)
        click.echo(f"{f}: {n:,} user rows loaded (later values win)")
    for f in spends:
        spend = ws.ingest_spend(f)
        left = sum(p["count"] for p in spend.problems)
        click.echo(f"{f}: spend table now {spend.rows.num_rows:,} rows"
                   + (f"; {left:,} rows left out: " + "; ".join(
                       f"{p['count']:,} with {p['problem']} (e.g. line {p['example']['line']})"
                       for p in spend.problems) if left else ""))


@cli.command()
@data_options
@click.option("--persona", default=None, help="Only users of this persona.")
@click.option("--by", default=None, help="Split by a user trait, event property, or 'persona'.")
@click.option("--period", type=click.Choice(["week", "month"]), default=None,
              help="Entry cohorts; immature ones are left out of rates.")
@FORMAT
@SECTION
@WORKSPACE
def measure(journey, events, tables, users, mapping, persona, by, period, fmt, section, workspace):
    """The measured map: stages, rates with intervals, leaks, findings."""
    with _data(journey=journey, events=events, tables=tables, users=users, mapping=mapping,
               workspace=workspace) as ws:
        result = ws.measure(journey=None if events or tables else journey, persona=persona, by=by,
                            period=period)
        _render(result, fmt, section, ws)


@cli.command()
@click.argument("steps", nargs=-1, required=True)
@EVENTS
@TABLE
@MAP
@click.option("--window", default="14d", show_default=True)
@click.option("--order", type=click.Choice(["ordered", "strict", "unordered"]), default="ordered",
              show_default=True)
@click.option("--exclude", "exclusions", multiple=True,
              help="Leave out persons whose counted attempt has this event between two steps: "
                   "EVENT (first to last step) or EVENT:FROM-TO (1-based steps). Repeatable.")
@click.option("--breakdown", default=None, help="Event property, read on the counted attempt's "
                                                "first step, to split by.")
@FORMAT
@SECTION
@WORKSPACE
def funnel(steps, events, tables, mapping, window, order, exclusions, breakdown, fmt, section, workspace):
    """A funnel: persons per step, conversion, time to convert.

    A step is EVENT, 'A|B' (either event), 'EVENT[prop=value,amount>=10]'
    (conditions: = != > >= < <=) or 'EVENT?' (optional, not the first), e.g.

        journeymap funnel signup 'tour?' 'purchase[plan=pro]' --exclude cancel:2-3
    """
    steps = [parse_step(s) for s in steps]
    options = dict(window=window, order=order, breakdown=breakdown,
                   exclusions=[parse_exclusion(x, len(steps)) for x in exclusions])
    with _data(journey=None, events=events, tables=tables, users=(), mapping=mapping, workspace=workspace,
               needs_journey=False) as ws:
        _render(ws.funnel(steps, **options), fmt, section, ws)


@cli.command()
@data_options
@click.option("--persona", default=None, help="Only users of this persona.")
@click.option("--stage", default=None, help="Compare paths of users who advanced from this stage "
                                            "with those who dropped.")
@click.option("--start", default=None, help="Top paths from this event.")
@click.option("--end", default=None, help="Top paths ending at this event (or between --start and it).")
@click.option("--depth", type=click.IntRange(1, 50), default=6, show_default=True)
@click.option("--top", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--exclude", default=None, help="Comma-separated event names to leave out.")
@click.option("--include", default=None, help="Comma-separated event names to keep (only those).")
@FORMAT
@SECTION
@WORKSPACE
def paths(journey, events, tables, users, mapping, persona, stage, start, end, depth, top, exclude,
          include, fmt, section, workspace):
    """The actual journey: transitions, top paths, loops, exits, conformance."""
    options = dict(persona=persona, stage=stage, start=start, end=end, depth=depth, top=top,
                   include=_names(include), exclude=_names(exclude))
    with _data(journey=journey, events=events, tables=tables, users=users, mapping=mapping,
               workspace=workspace) as ws:
        _render(ws.paths(journey=None if events or tables else journey, **options), fmt, section, ws)


@cli.command()
@data_options
@click.option("--spend", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Spend file (date, channel, campaign, cost, impressions, clicks); default: the "
                   "journey's `spend`, else the workspace's (journeymap ingest --spend).")
@click.option("--lead", default=None, help="The stage whose entry is a lead (default: kpis.lead).")
@click.option("--conversion", default=None, help="The stage whose entry is a conversion "
                                                 "(default: kpis.conversion, else the last stage).")
@click.option("--first-value", default=None, metavar="FROM:TO",
              help="Time to first value between two stages (default: kpis.first_value).")
@FORMAT
@SECTION
@WORKSPACE
def kpis(journey, events, tables, users, mapping, spend, lead, conversion, first_value, fmt, section,
         workspace):
    """Journey KPIs: spend, CTR, cost per lead and conversion by channel and campaign,
    conversion, churn, revenue, NRR, CLV, referral, time to first value, help content,
    tickets; each with its definition."""
    pair = None
    if first_value:
        pair = tuple(p.strip() for p in first_value.split(":"))
        if len(pair) != 2 or not all(pair):
            raise click.BadParameter("expected FROM:TO stage ids, e.g. signup:first_value",
                                     param_hint="--first-value")
    options = {k: v for k, v in (("lead", lead), ("conversion", conversion), ("first_value", pair)) if v}
    with _data(journey=journey, events=events, tables=tables, users=users, mapping=mapping,
               workspace=workspace) as ws:
        _render(ws.kpis(journey=None if events or tables else journey, spend=spend, **options), fmt,
                section, ws)


@cli.command()
@data_options
@click.option("--from", "from_stage", required=True, help="The stage the customers entered.")
@click.option("--to", "to_stage", default=None, help="The stage to advance to (default: the next one).")
@click.option("--persona", default=None, help="Only customers of this persona.")
@click.option("--horizon", "horizons", multiple=True,
              help="Behaviours within this long after entering --from (default: drivers.horizon, 7d). "
                   "Repeat to compare horizons.")
@click.option("--property", "properties", multiple=True,
              help="Also an event with each value of this property, as a behaviour. Repeatable.")
@click.option("--trait", "traits", multiple=True, help="Also each value of this user trait. Repeatable.")
@FORMAT
@SECTION
@WORKSPACE
def drivers(journey, events, tables, users, mapping, from_stage, to_stage, persona, horizons, properties,
            traits, fmt, section, workspace):
    """What customers who advanced did that the others did not: drivers and blockers of a
    transition, with lift, odds ratio and interval, adjusted p-values, and the odds ratio
    within personas (Mantel-Haenszel). Associations, not causes."""
    options = {"persona": persona, "properties": list(properties), "traits": list(traits)}
    if horizons:
        options["horizon"] = horizons[0] if len(horizons) == 1 else list(horizons)
    with _data(journey=journey, events=events, tables=tables, users=users, mapping=mapping,
               workspace=workspace) as ws:
        _render(ws.drivers(from_stage, to_stage, journey=None if events or tables else journey, **options),
                fmt, section, ws)


@cli.command()
@click.argument("steps", nargs=-1, required=True)
@EVENTS
@TABLE
@USERS
@MAP
@click.option("--window", default="14d", show_default=True)
@click.option("--order", type=click.Choice(["ordered", "strict", "unordered"]), default="ordered",
              show_default=True)
@click.option("--kind", type=click.Choice(["events", "event_properties", "properties"]), default="events",
              show_default=True, help="Dimensions: events, (event, property, value) or person properties.")
@click.option("--property", "properties", multiple=True, help="Property keys for the property kinds "
                                                                "($all: every one). Repeatable.")
@click.option("--exclude-event", "exclude_events", multiple=True, help="An event to leave out. Repeatable.")
@click.option("--exclude-property", "exclude_properties", multiple=True,
              help="A property key to leave out. Repeatable.")
@FORMAT
@SECTION
@WORKSPACE
def correlation(steps, events, tables, users, mapping, window, order, kind, properties, exclude_events,
                exclude_properties, fmt, section, workspace):
    """Funnel correlation as PostHog computes it: what converting persons did (or are)
    more or less than the others, with +1-prior odds ratios. Steps as for `funnel`."""
    options = dict(window=window, order=order, kind=kind, properties=list(properties) or None,
                   exclude_events=list(exclude_events), exclude_properties=list(exclude_properties))
    with _data(journey=None, events=events, tables=tables, users=users, mapping=mapping, workspace=workspace,
               needs_journey=False) as ws:
        _render(ws.correlation([parse_step(x) for x in steps], **options), fmt, section, ws)


@cli.command()
@data_options
@click.option("--from", "from_stage", required=True, help="The stage the moment is counted from.")
@click.option("--to", "to_stage", required=True, help="The stage that shows activation, e.g. regular_use.")
@click.option("--horizon", default=None, help="Behaviours within this long after entering --from (7d).")
@FORMAT
@SECTION
@WORKSPACE
def activation(journey, events, tables, users, mapping, from_stage, to_stage, horizon, fmt, section,
               workspace):
    """Each persona's activation moment: the behaviour that best separates who reached
    --to from who did not, with lift and coverage, side by side."""
    with _data(journey=journey, events=events, tables=tables, users=users, mapping=mapping,
               workspace=workspace) as ws:
        _render(ws.activation(from_stage, to_stage, journey=None if events or tables else journey,
                              horizon=horizon), fmt, section, ws)


@cli.command()
@click.argument("start")
@click.argument("returning", required=False)
@EVENTS
@TABLE
@MAP
@click.option("--period", type=click.Choice(["day", "week", "month"]), default="week", show_default=True)
@click.option("--intervals", type=click.IntRange(1, 400), default=8, show_default=True,
              help="Periods in the range, and intervals per cohort (0..N-1).")
@click.option("--kind", type=click.Choice(["recurring", "first_time"]), default="recurring",
              show_default=True, help="recurring: a cohort for every period with START; first_time: "
                                      "only the period of a person's first START ever.")
@click.option("--cumulative", is_flag=True, help="Rolling: retained at k counts at every interval up to k.")
@click.option("--min-occurrences", type=click.IntRange(1), default=1, show_default=True,
              help="Returning events a period needs to count.")
@click.option("--week-start", type=click.Choice(["monday", "sunday"]), default="monday", show_default=True)
@click.option("--date-to", default=None, help="End of the range, e.g. 2024-03-31 (default: the last event).")
@FORMAT
@SECTION
@WORKSPACE
def retention(start, returning, events, tables, mapping, period, intervals, kind, cumulative,
              min_occurrences, week_start, date_to, fmt, section, workspace):
    """Retention cohorts (PostHog's semantics): of those who did START in a period, who
    came back (did RETURNING, default any event) in each later period.

    START and RETURNING take the funnel's step syntax, e.g. 'purchase[plan=pro]' or 'a|b'."""
    options = dict(period=period, intervals=intervals, kind=kind, cumulative=cumulative,
                   min_occurrences=min_occurrences, week_start=week_start, date_to=date_to)
    back = parse_step(returning) if returning else None
    with _data(journey=None, events=events, tables=tables, users=(), mapping=mapping, workspace=workspace,
               needs_journey=False) as ws:
        _render(ws.retention(parse_step(start), back, **options), fmt, section, ws)


@cli.command()
@click.argument("user_id")
@JOURNEY
@click.option("--limit", type=click.IntRange(1, 100_000), default=500, show_default=True,
              help="How many of the most recent events to show.")
@FORMAT
@SECTION
@WORKSPACE
def customer(user_id, journey, limit, fmt, section, workspace):
    """One customer: current stage, since when, stuck or not, their timeline.

    USER_ID is a user id, or an anonymous / device id (resolved through the identities
    that alias and identify messages recorded)."""
    ws = _open(workspace)
    _render(ws.customer(user_id, journey=journey, limit=limit), fmt, section, ws)


@cli.command()
@click.option("--stage", required=True, help="The stage to list stuck customers of.")
@JOURNEY
@FORMAT
@SECTION
@WORKSPACE
def stuck(stage, journey, fmt, section, workspace):
    """The customers stuck in a stage now, longest first (--format csv for a list to act on).

    Stuck: longer in the stage than 90% of those who advanced took to reach the next
    stage, or past the next stage's time limit (`within`)."""
    ws = _open(workspace)
    _render(ws.stuck(stage, journey=journey), fmt, section, ws)


@cli.command()
@click.option("--host", default=None, help="Address to bind (default: the host setting, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port (default: the port setting, 8000).")
@click.option("--token", default=None,
              help="Access token readers need (required beyond loopback; better: JOURNEYMAP_TOKEN).")
@WORKSPACE
def serve(host, port, token, workspace):
    """The dashboard, the JSON API and the Segment collector on a workspace (open
    http://HOST:PORT/; events in at /v1/batch with a write key)."""
    import uvicorn

    from journeymap.web.access import check_bind
    from journeymap.web.app import create_app
    ws = _open(workspace)
    host = settings.resolve("host", host, ws.folder.settings)
    port = settings.resolve("port", port, ws.folder.settings)
    token = settings.resolve("token", token, ws.folder.settings)
    check_bind(host, token)
    click.echo(f"journeymap dashboard for {ws.path} on http://{host}:{port}/ "
               f"(API: /api/…, OpenAPI: /openapi.json; collector: /v1/batch"
               f"{'; readers need the access token' if token else ''}); Ctrl+C stops it", err=True)
    uvicorn.run(create_app(ws, token=token), host=host, port=port, log_level="warning")


@cli.group()
def keys():
    """Write keys for the collector (/v1/…): create, list, revoke. Kept as hashes."""


@keys.command("create")
@click.option("--name", default="", help="What the key is for, e.g. the app sending with it.")
@WORKSPACE
def keys_create(name, workspace):
    """A new write key, printed once: store it in the sending app's configuration."""
    key, secret = _open(workspace).keys.create(name)
    click.echo(secret)
    click.echo(f"{key.id}{' (' + name + ')' if name else ''}: shown this once; journeymap keeps "
               "only its hash", err=True)


@keys.command("list")
@WORKSPACE
def keys_list(workspace):
    """The write keys: id, name, prefix, created, revoked."""
    rows = _open(workspace).keys.list()
    if not rows:
        click.echo("no write keys yet: `journeymap keys create --name APP`", err=True)
    for k in rows:
        state = f"revoked {k.revoked}" if k.revoked else "live"
        click.echo(f"{k.id}  {k.prefix}…  created {k.created}  {state}  {k.name}".rstrip())


@keys.command("revoke")
@click.argument("key_id")
@WORKSPACE
def keys_revoke(key_id, workspace):
    """Revoke a key (by id or prefix): the collector refuses it from its next request."""
    key = _open(workspace).keys.revoke(key_id)
    click.echo(f"{key.id} revoked {key.revoked}")


@cli.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True,
              help="The file to write, e.g. map.html or map.pdf.")
@click.option("--persona", default=None, help="Only customers of this persona.")
@click.option("--period", type=click.Choice(["week", "month"]), default=None,
              help="Entry cohorts (immature ones left out of rates).")
@click.option("--format", "fmt", type=click.Choice(["html", "pdf"]), default=None,
              help="html (one self-contained file) or pdf (printed by headless Chromium); "
                   "default: from the file name, else html.")
@WORKSPACE
def report(output, persona, period, fmt, workspace):
    """A shareable report: one self-contained HTML file (or PDF) with the map, leaks,
    findings and the actual journey; opens offline."""
    from journeymap.web.report import report_html
    ws = _open(workspace)
    fmt = fmt or ("pdf" if output.lower().endswith(".pdf") else "html")
    page = report_html(ws, persona=persona, period=period)
    if fmt == "pdf":
        from journeymap.web.pdf import print_pdf
        print_pdf(page, Path(output))
    else:
        Path(output).write_text(page, encoding="utf-8")
    click.echo(f"{output}: {fmt} report of {ws.path}" + (f", persona {persona}" if persona else ""))


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


@cli.command()
def schema():
    """Print the JSON Schema of the journey file."""
    from journeymap.api import journey_schema
    click.echo(journey_schema())


def global_options_first(argv: list[str]) -> list[str]:
    """Move global options written after the command to before it, so both work."""
    head, rest, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        name = arg.split("=", 1)[0]
        if arg == "--":
            rest += argv[i:]
            break
        if name in GLOBAL_OPTIONS:
            takes = 0 if "=" in arg else GLOBAL_OPTIONS[name]
            head += argv[i:i + 1 + takes]
            i += 1 + takes
            continue
        rest.append(arg)
        i += 1
    return head + rest


def main(argv=None) -> int:
    """Entry point; the one place errors become messages and exit codes."""
    argv = global_options_first(sys.argv[1:] if argv is None else list(argv))
    debug = "--debug" in argv
    try:
        with progress_bar():
            cli.main(args=argv, prog_name="journeymap", standalone_mode=False)
        return 0
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except JourneyError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        return 1


def run() -> None:
    """The `journeymap` command: main(), then out at once. Python's and the compiled
    kernels' tear-down takes 0.1-0.15 s after a measure (longer than some answers take)
    and does nothing a finished command needs; what must happen at exit happens first:
    the results being written to the cache, the atexit handlers, the buffered output.
    The process ends the usual way where the tear-down has work to do: with Spark
    loaded, with processes of its own still running (`serve`'s collector), or under a
    profiler or tracer."""
    ResultCache.background = True  # written while the answer is shown; waited for below
    lean_numba()
    code = main()
    if "pyspark" in sys.modules or multiprocessing.active_children() or sys.getprofile() \
            or sys.gettrace():
        sys.exit(code)
    ResultCache.wait()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # closed or gone: as Python itself ends then
            code = code or 120
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover - `python -m`: the usual exit (profilers, tracers)
    sys.exit(main())
