"""Measure results are cached until data or journey change; long work reports progress."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

import journeymap
from journeymap.progress import reporting
from journeymap.store.folder import WorkspaceFolder

JOURNEY = """
name: cache
stages:
  - {id: a, owner: t1, enter: {event: a}}
  - {id: b, owner: t2, enter: {event: b}}
"""


def _events(users, offset=0):
    rows = [{"user_id": f"u{i}", "event": e, "ts": pd.Timestamp("2024-01-01", tz="UTC")
             + pd.Timedelta(hours=h), "event_id": f"{i}-{e}-{offset}"}
            for i in range(offset, offset + users) for e, h in (("a", 0), ("b", 1 + i % 2))]
    return pa.Table.from_pylist(rows)


def test_second_measure_comes_from_cache_until_something_changes(tmp_path):
    ws = WorkspaceFolder.init(tmp_path / "ws", JOURNEY)
    ws.store.append(_events(4))
    project = journeymap.open(tmp_path / "ws")
    first = project.measure()
    again = project.measure()
    assert again is not first and again.to_dict() == first.to_dict()
    assert list((tmp_path / "ws" / ".cache").glob("*.pickle"))  # answered from disk
    ws.store.append(_events(2, offset=10))  # new data invalidates
    assert project.measure().stage("a").entered == 6
    ws.journey_path.write_text(JOURNEY.replace("name: cache", "name: renamed"))
    assert project.measure().journey == "renamed"  # a journey edit invalidates
    assert project.measure(persona=None, by=None, period="week").computed_on["period"] == "week"


def test_measure_reports_progress_without_printing(capsys):
    seen = []
    with reporting(lambda task, done, total: seen.append((task, done))):
        journeymap.measure(JOURNEY, _events(50))
    assert seen and seen[-1][0] == "stage entries" and seen[-1][1] == 100
    assert capsys.readouterr() == ("", "")


def test_a_funnel_on_a_workspace_needs_no_ibis_pandas_or_duckdb(tmp_path):
    """Cold start: once the clustered copy is current, `journeymap funnel` (the command,
    its table included) reads it without importing Ibis or its SQL compilers, pandas or
    DuckDB, which together cost more than the funnel itself at 10M events. Checked in a
    fresh interpreter."""
    import subprocess
    import sys
    ws = WorkspaceFolder.init(tmp_path / "ws", JOURNEY)
    ws.store.append(_events(30))
    expected = journeymap.open(tmp_path / "ws").funnel(["a", "b"], cache=False).counts  # builds the copy
    script = (
        "import sys\nfrom journeymap.cli.main import main\n"
        f"code = main(['funnel', 'a', 'b', '-w', {str(tmp_path / 'ws')!r}])\n"
        "print(code, sorted(m for m in ('ibis', 'sqlglot', 'pandas', 'duckdb') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    table, last = out.stdout.strip().rsplit("\n", 1)
    assert last == "0 []"
    assert [int(line.split("│")[3].replace(",", "")) for line in table.splitlines()
            if line.startswith("│ ")] == expected
