"""The installed `journeymap` command leaves without Python's tear-down: everything a
finished command owes (its whole output, its exit code, the cache entry being written)
is there when the process has ended."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from journeymap.cli.main import main

EXE = Path(sys.executable).with_name("journeymap")  # the console script, as a user runs it
pytestmark = pytest.mark.skipif(not EXE.exists(), reason="the console script is not installed")

JOURNEY = """\
name: Exit
stages:
  - {id: visit, owner: marketing, enter: {event: visit}}
  - {id: signup, owner: growth, enter: {event: signup}, within: 7d}
min_volume: 1
"""


def command(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture()
def ws(tmp_path):
    (tmp_path / "journey.yml").write_text(JOURNEY)
    rows = ["user_id,event,ts"] + [f"u{i},visit,2024-01-01T00:00:{i % 60:02d}Z" for i in range(30000)] \
        + [f"u{i},signup,2024-01-02T00:00:00Z" for i in range(0, 30000, 3)]
    (tmp_path / "events.csv").write_text("\n".join(rows) + "\n")
    assert command("init", "ws", "--journey", "journey.yml", cwd=tmp_path).returncode == 0
    got = command("ingest", "events.csv", "-w", "ws", cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    return tmp_path / "ws"


def test_the_answer_and_its_cache_entry_are_whole_when_the_process_ends(ws):
    got = command("funnel", "visit", "signup", "--format", "json", cwd=ws)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["counts"] == [30000, 10000]
    entries = list((ws / ".cache").iterdir())
    assert [p.suffix for p in entries] == [".pickle"]  # written whole, no temporary file left
    again = command("funnel", "visit", "signup", "--format", "json", cwd=ws)
    assert again.returncode == 0 and again.stdout == got.stdout


def test_a_long_output_to_a_pipe_arrives_whole(ws, capsys):
    args = ["stuck", "--stage", "visit", "--format", "csv", "-w", ws]
    got = command(*args, cwd=ws)
    assert got.returncode == 0, got.stderr
    assert main([str(a) for a in args]) == 0
    assert got.stdout == capsys.readouterr().out  # the same list, in the same process
    assert len(got.stdout) > 200_000 and got.stdout.count("\n") > 2000


def test_an_error_keeps_its_exit_code_and_message(ws):
    got = command("funnel", "visit", "nosuchevent", cwd=ws)
    assert got.returncode == 1
    assert got.stderr.startswith("error:") and "nosuchevent" in got.stderr


def test_a_closed_output_is_no_failure(tmp_path):
    got = subprocess.run([str(EXE), "--version"], preexec_fn=lambda: os.close(1), capture_output=False,
                         stderr=subprocess.PIPE, timeout=120)
    assert got.returncode == 0, got.stderr


def test_processes_of_its_own_still_running_end_the_usual_way(tmp_path):
    """As `serve` stopped by a second Ctrl+C leaves its collector's worker process: the
    command ends the usual way (Python stops the worker), it does not hang."""
    script = textwrap.dedent("""
        import sys
        from concurrent.futures import ProcessPoolExecutor
        from journeymap.cli.main import run
        if __name__ == "__main__":
            pool = ProcessPoolExecutor(1)
            pool.submit(abs, 1).result()  # a worker process is up, never shut down
            sys.argv = ["journeymap", "--version"]
            run()
    """)
    (tmp_path / "serve_like.py").write_text(script)
    got = subprocess.run([sys.executable, str(tmp_path / "serve_like.py")], capture_output=True,
                         text=True, timeout=60)
    assert got.returncode == 0 and got.stdout.startswith("journeymap"), got.stderr
