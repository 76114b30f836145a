"""The `journeymap` command. Parses input, calls the API, renders results.

Errors are mapped in one place (`main`): `error: ...` on stderr and a
non-zero exit; the traceback only with `--debug`.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import click

from journeymap import settings
from journeymap.cli.progressbar import progress_bar
from journeymap.cli.render import FORMATS, render
from journeymap.errors import JourneyError
from journeymap.results import clean

FORMAT = click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                      help="Output: table (default), json or csv. Env JOURNEYMAP_FORMAT.")
WORKSPACE = click.option("--workspace", "-w", type=click.Path(file_okay=False), default=None,
                         help="Workspace folder (default: the one containing the current folder).")


def _fmt(fmt):
    return settings.resolve("format", fmt)


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


def _project(workspace):
    from journeymap.store.folder import Workspace
    from journeymap.workspace import Project
    path = Path(workspace) if workspace else Workspace.find().path
    opts = click.get_current_context().find_root().obj or {}
    return Project(path, engine=opts.get("engine"), master=opts.get("spark_master"))


def _adhoc_tables(events, users, mapping, fmt_in):
    """(events, users) Ibis tables straight from files, without a workspace."""
    from journeymap.store.frames import as_events, as_table
    from journeymap.store.readers import load_events
    read = load_events(events, mapping=_mapping(mapping), format=fmt_in)
    traits = _read_users(users) if users else read.users
    return as_events(read.events), (as_table(traits) if traits is not None else None)


def _read_users(path):
    """A users table (user_id + traits) from CSV, Parquet or JSON Lines."""
    import duckdb
    from journeymap.errors import IngestError
    try:
        return duckdb.connect().sql(f"SELECT * FROM '{Path(path).as_posix()}'").to_arrow_table()
    except duckdb.Error as exc:
        raise IngestError(f"cannot read users file: {exc}", file=str(path)) from None


@click.group()
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default=None,
              help="Engine for workspace commands (default: workspace setting, env "
                   "JOURNEYMAP_ENGINE, else duckdb).")
@click.option("--spark-master", default=None,
              help="Spark master URL, e.g. local[4] or spark://host:7077 (env JOURNEYMAP_SPARK_MASTER).")
@click.version_option(package_name="journeymap")
@click.pass_context
def cli(ctx, debug, engine, spark_master):
    """journeymap: a customer journey map that measures itself."""
    ctx.obj = {"debug": debug, "engine": engine, "spark_master": spark_master}


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--journey", type=click.Path(exists=True, dir_okay=False),
              help="Start from this journey file instead of the template.")
def init(directory, journey):
    """Create a workspace: journey file, event store, settings."""
    from importlib.resources import files

    from journeymap.store.folder import Workspace
    text = Path(journey).read_text() if journey else \
        files("journeymap.demo").joinpath("journey.yaml").read_text()
    ws = Workspace.init(Path(directory), text)
    click.echo(f"workspace ready at {ws.path}: edit {ws.journey_path.name}, then "
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


@cli.command()
@click.option("--journey", "-j", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--events", "-e", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Also check event names and properties against this file.")
@click.option("--map", "mapping", default=None, help="Column mapping, e.g. user_id=customer,ts=time.")
@WORKSPACE
def validate(journey, events, mapping, workspace):
    """Check a journey file (and, with data, its event names and properties)."""
    from journeymap.api import as_journey
    from journeymap.workspace import validate_against
    if journey and not events and not workspace:
        j = as_journey(journey)
        click.echo(f"{journey}: valid ({len(j.stages)} stages); pass --events to check names")
        return
    if events:
        j = as_journey(journey) if journey else _project(workspace).journey
        validate_against(j, *_adhoc_tables(events, None, mapping, None))
    else:
        j = _project(workspace).validate()
    click.echo(f"{j.file or 'journey'}: valid ({len(j.stages)} stages) and matches the data")


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--map", "mapping", default=None, help="Column mapping, e.g. user_id=customer,ts=time.")
@click.option("--input-format", type=click.Choice(["csv", "parquet", "jsonl", "segment"]), default=None)
@click.option("--skip-bad-rows", type=click.Path(dir_okay=False), default=None,
              help="Load the good rows and write every rejected row with its reason here.")
@WORKSPACE
def ingest(files, mapping, input_format, skip_bad_rows, workspace):
    """Load event files into the workspace store (each file all or nothing)."""
    from journeymap.progress import report
    project = _project(workspace)
    for i, f in enumerate(files):
        report("files ingested", i, len(files))
        stats = project.ingest(f, mapping=_mapping(mapping), format=input_format,
                               skip_bad_rows=skip_bad_rows)
        click.echo(f"{f}: {stats.added:,} events added, {stats.duplicates:,} duplicates skipped")


@cli.command()
@click.option("--journey", "-j", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Journey file (default: the workspace's journey.yml).")
@click.option("--events", "-e", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Measure this file directly, without a workspace.")
@click.option("--users", "-u", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Users file (user_id + traits) for personas, with --events.")
@click.option("--map", "mapping", default=None, help="Column mapping for --events.")
@click.option("--persona", default=None, help="Only users of this persona.")
@click.option("--by", default=None, help="Split by a user trait, event property, or 'persona'.")
@click.option("--period", type=click.Choice(["week", "month"]), default=None,
              help="Entry cohorts; immature ones are left out of rates.")
@FORMAT
@WORKSPACE
def measure(journey, events, users, mapping, persona, by, period, fmt, workspace):
    """The measured map: stages, rates with intervals, leaks, findings."""
    from journeymap.api import as_journey
    from journeymap.insight.diagnose import diagnose
    from journeymap.measure.map.measured_map import measure_map
    if events:
        if not journey:
            raise click.UsageError("--events needs --journey (or use a workspace)")
        j = as_journey(journey)
        table, traits = _adhoc_tables(events, users, mapping, None)
        result = diagnose(j, measure_map(j, table, traits, persona=persona, by=by, period=period))
    else:
        result = _project(workspace).measure(journey=journey, persona=persona, by=by,
                                             period=period)
    render(result, _fmt(fmt))


@cli.command()
@click.argument("steps", nargs=-1, required=True)
@click.option("--events", "-e", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--map", "mapping", default=None)
@click.option("--window", default="14d", show_default=True)
@click.option("--order", type=click.Choice(["ordered", "strict", "unordered"]), default="ordered",
              show_default=True)
@click.option("--breakdown", default=None, help="Event property (first touch) to split by.")
@FORMAT
@WORKSPACE
def funnel(steps, events, mapping, window, order, breakdown, fmt, workspace):
    """A funnel over event names: persons per step, conversion, time to convert."""
    from journeymap.measure.funnel.funnel import funnel as run
    table = _adhoc_tables(events, None, mapping, None)[0] if events else \
        _project(workspace).tables()[0]
    render(run(table, list(steps), window=window, order=order, breakdown=breakdown), _fmt(fmt))


@cli.command()
@click.option("--journey", "-j", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Journey file (default: the workspace's journey.yml).")
@click.option("--events", "-e", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--users", "-u", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--map", "mapping", default=None)
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
@WORKSPACE
def paths(journey, events, users, mapping, persona, stage, start, end, depth, top, exclude,
          include, fmt, workspace):
    """The actual journey: transitions, top paths, loops, exits, conformance."""
    from journeymap.api import as_journey
    from journeymap.measure.paths.actual import actual_journey
    options = dict(persona=persona, stage=stage, start=start, end=end, depth=depth, top=top,
                   include=_names(include), exclude=_names(exclude))
    if events:
        if not journey:
            raise click.UsageError("--events needs --journey (or use a workspace)")
        table, traits = _adhoc_tables(events, users, mapping, None)
        result = actual_journey(as_journey(journey), table, traits, **options)
    else:
        result = _project(workspace).paths(journey=journey, **options)
    render(result, _fmt(fmt))


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


@cli.command()
def schema():
    """Print the JSON Schema of the journey file."""
    from journeymap.spec.schema import schema_json
    click.echo(schema_json())


def main(argv=None) -> int:
    """Entry point; the one place errors become messages and exit codes."""
    argv = sys.argv[1:] if argv is None else argv
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
    except JourneyError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        return 1
    except click.exceptions.Exit as exc:
        return exc.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
