"""The installed `journeymap` command on a real terminal (a pseudo-terminal).

Every other CLI test runs with stderr captured, so the progress bar (drawn only when
stderr is a terminal) never ran there: under rich 15 every command crashed on a TTY
with `TypeError: Progress.__init__() got an unexpected keyword argument 'stderr'`, and
no test saw it. Here each command runs as the console script, in a child process whose
stdin, stdout and stderr are a pty 200 columns wide, and the test checks: exit 0, no
traceback, the bar drawn while data is measured (its task name and "N/?" count in the
raw bytes, before the transient bar is erased), and the output on the final screen:
the bytes replayed through the few control sequences rich uses, so a bar left over on
an output line, or a redraw that erased a line of output, shows as the user sees it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

termios = pytest.importorskip("termios", reason="pseudo-terminals are POSIX only")
fcntl = pytest.importorskip("fcntl", reason="pseudo-terminals are POSIX only")

from journeymap.cli.main import cli  # noqa: E402

# The console script of [project.scripts] (journeymap = "journeymap.cli.main:main"),
# installed next to this interpreter: the command a user runs, not a function call.
EXE = Path(sys.executable).with_name("journeymap")
ROWS, COLS = 50, 200
TIMEOUT = 30  # seconds per command: a hang (e.g. a bar that never stops) fails, never blocks

# Environment that would change what a terminal gets, removed from the child's so the
# test is about the terminal alone: rich reads TTY_COMPATIBLE / TTY_INTERACTIVE /
# FORCE_COLOR / NO_COLOR (terminal and colour detection) and COLUMNS / LINES (which
# override the pty's size); JOURNEYMAP_* change the output format and engine. CI is not
# read by progressbar.py (the bar is on whenever stderr is a terminal) nor by rich today;
# it is removed too, so a CI runner's CI=true can never be what turns the bar off here.
UNSET = {"CI", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "FORCE_COLOR", "NO_COLOR", "COLUMNS", "LINES",
         "JUPYTER_COLUMNS", "JUPYTER_LINES"}
ENV = {k: v for k, v in os.environ.items() if k not in UNSET and not k.startswith("JOURNEYMAP_")}
ENV["TERM"] = "xterm-256color"

JOURNEY = """\
name: Shop
stages:
  - id: visit
    owner: marketing
    enter: {event: visit}
  - id: signup
    owner: growth
    enter: {event: signup}
    within: 7d
  - id: purchase
    owner: sales
    enter: {event: purchase}
    within: 14d
personas:
  - {id: pro, where: {plan: pro}}
  - {id: free, where: {plan: free}}
min_volume: 1
"""

EVENTS = """\
user_id,event,ts,plan
u1,visit,2024-01-01T00:00:00Z,pro
u1,signup,2024-01-02T00:00:00Z,pro
u1,purchase,2024-01-03T00:00:00Z,pro
u2,visit,2024-01-01T00:00:00Z,free
u2,signup,2024-01-05T00:00:00Z,free
u3,visit,2024-01-02T00:00:00Z,free
u4,visit,2024-01-02T00:00:00Z,pro
u4,signup,2024-01-20T00:00:00Z,pro
"""

# A frame of the bar: BarColumn, MofNCompleteColumn ("8/?": total unknown, or "0/2") and
# TimeElapsedColumn, e.g. "stage entries ━━━━━━━━ 8/? 0:00:00".
FRAME = re.compile(r"[━╺╸]{10,} +\d+/(?:\d+|\?) +\d+:\d\d:\d\d")
CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")


@dataclass
class Run:
    code: int
    raw: str  # everything the terminal received, control sequences included
    stdout: str | None  # the stdout pipe, when stdout was not the terminal

    @property
    def text(self) -> str:
        """The terminal bytes without control sequences (what went by, bar frames included)."""
        return CSI.sub("", self.raw).replace("\r\n", "\n")

    @property
    def screen(self) -> list[str]:
        return screen(self.raw)

    def check(self) -> Run:
        assert "Traceback" not in self.raw, self.raw
        assert self.code == 0, self.text
        return self

    def assert_bar_drawn(self, task: str) -> None:
        """The bar was on the terminal while `task` ran: a frame with its name, bar and count."""
        frames = [f for f in re.split(r"[\r\n]", CSI.sub("", self.raw)) if task in f]
        assert any(f.startswith(task) and FRAME.search(f) for f in frames), (task, frames or self.text)

    def assert_bar_gone(self) -> None:
        """Transient: no frame of the bar left anywhere on the final screen."""
        left = [line for line in self.screen if FRAME.search(line)]
        assert not left, left


def screen(raw: str, width: int = COLS) -> list[str]:
    """The final screen: `raw` replayed through CR, LF, cursor up (CSI A), erase in line
    (CSI K) and line wrap at `width`, the moves rich makes; colours and other sequences
    draw nothing. Trailing spaces dropped."""
    lines: list[list[str]] = [[]]
    row = col = i = 0
    while i < len(raw):
        m = CSI.match(raw, i)
        if m:
            arg, cmd = m.groups()
            if cmd == "A":
                row = max(0, row - int(arg or 1))
            elif cmd == "K":
                del lines[row][0 if arg == "2" else col:]
            i = m.end()
            continue
        ch, i = raw[i], i + 1
        if ch == "\r":
            col = 0
        elif ch == "\n":
            row, col = row + 1, 0
        elif ch >= " ":
            if col >= width:
                row, col = row + 1, 0
            while len(lines) <= row:
                lines.append([])
            line = lines[row]
            line.extend(" " * (col - len(line)))
            line[col:col + 1] = [ch]
            col += 1
        while len(lines) <= row:
            lines.append([])
    out = ["".join(line).rstrip() for line in lines]
    while out and not out[-1]:
        out.pop()
    return out


def on_terminal(*args, cwd: Path, stdout_on_terminal: bool = True, timeout: float = TIMEOUT) -> Run:
    """Run `journeymap ARGS` with stdin and stderr (and stdout, unless told) on a fresh pty."""
    assert EXE.exists(), f"console script {EXE} not installed (pip install -e .)"
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    proc = subprocess.Popen([str(EXE), *map(str, args)], cwd=cwd, env=ENV, stdin=slave,
                            stdout=slave if stdout_on_terminal else subprocess.PIPE, stderr=slave,
                            close_fds=True, start_new_session=True)
    os.close(slave)
    out = None if proc.stdout is None else proc.stdout.fileno()
    chunks: dict[int, list[bytes]] = {master: []} if out is None else {master: [], out: []}
    open_fds, deadline = set(chunks), time.monotonic() + timeout
    try:
        while open_fds:
            left = deadline - time.monotonic()
            if left <= 0:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                so_far = b"".join(chunks[master]).decode("utf-8", "replace")
                pytest.fail(f"journeymap {' '.join(map(str, args))} still running after "
                            f"{timeout}s; terminal so far:\n{CSI.sub('', so_far)}")
            for fd in select.select(list(open_fds), [], [], left)[0]:
                try:
                    data = os.read(fd, 65536)
                except OSError:  # Linux: EIO once every slave end is closed
                    data = b""
                if data:
                    chunks[fd].append(data)
                else:
                    open_fds.discard(fd)
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return Run(code, b"".join(chunks[master]).decode("utf-8", "replace"),
               None if out is None else b"".join(chunks[out]).decode("utf-8"))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("terminal")
    (folder / "journey.yml").write_text(JOURNEY)
    (folder / "events.csv").write_text(EVENTS)
    return folder


@pytest.fixture(scope="module")
def workspace(files):
    """A workspace holding the events, made in-process (the terminal runs test init and ingest);
    nothing measured yet, so the first measure, funnel and paths compute and draw the bar."""
    from journeymap.workspace import init_workspace
    ws = init_workspace(files / "ws", JOURNEY)
    ws.ingest(files / "events.csv")
    return files / "ws"


# Every command of `journeymap --help` has a test here; test_help fails when one is added.
COVERED = {"schema", "init", "validate", "ingest", "measure", "funnel", "paths", "demo", "customer",
           "stuck", "report", "serve", "retention", "kpis", "drivers", "activation", "correlation",
           "keys"}


def test_help_lists_every_command_and_each_is_covered(tmp_path):
    run = on_terminal("--help", cwd=tmp_path).check()
    listed = set(cli.commands)
    assert listed == COVERED, f"commands without a terminal test: {sorted(listed - COVERED)}, " \
                              f"tests of commands gone: {sorted(COVERED - listed)}"
    for name in listed:
        assert re.search(rf"^\s+{name}\s", run.text, re.M), (name, run.text)
    assert run.screen[0].startswith("Usage: journeymap")


def test_schema(tmp_path):
    run = on_terminal("schema", cwd=tmp_path).check()
    assert json.loads(run.text)["type"] == "object"
    assert not FRAME.search(run.text)  # nothing measured: no bar


def test_init(files, tmp_path):
    run = on_terminal("init", tmp_path / "new", "--journey", files / "journey.yml", cwd=tmp_path).check()
    assert run.screen[0].startswith(f"workspace ready at {tmp_path / 'new'}")
    assert (tmp_path / "new" / "journey.yml").read_text() == JOURNEY


def test_validate_a_file_and_against_a_workspace(files, workspace):
    run = on_terminal("validate", "journey.yml", cwd=files).check()
    assert run.screen == ["journey.yml: valid (3 stages); pass --events or a workspace to check names "
                          "against the data"]
    run = on_terminal("validate", "-w", workspace, cwd=files).check()
    assert run.screen[-1].endswith("valid (3 stages) and matches the data")


def test_ingest_draws_the_bar_between_files(files, tmp_path):
    from journeymap.workspace import init_workspace
    init_workspace(tmp_path / "ws", JOURNEY)
    (tmp_path / "again.csv").write_text(EVENTS)
    run = on_terminal("ingest", files / "events.csv", tmp_path / "again.csv", "-w", tmp_path / "ws",
                      cwd=tmp_path).check()
    run.assert_bar_drawn("files ingested")
    assert "0/2" in run.text and "1/2" in run.text
    assert run.screen == [f"{files / 'events.csv'}: 8 events added, 0 duplicates skipped",
                          f"{tmp_path / 'again.csv'}: 0 events added, 8 duplicates skipped"]


def _table_intact(run: Run, title: str, last: str) -> None:
    """The output starts at the top of the screen with `title` (no bar glued before it)
    and ends with `last` (no line erased by a redraw of the bar)."""
    run.assert_bar_gone()
    assert run.screen[0].startswith(title), run.screen[:3]
    assert run.screen[-1].startswith(last), run.screen[-3:]


def test_measure(workspace):
    run = on_terminal("measure", "-w", workspace, cwd=workspace).check()
    run.assert_bar_drawn("stage entries")
    _table_intact(run, "Shop — 4 users, data to 2024-01-20", "  • Of the 2 customers who reached signup")
    header = next(line for line in run.screen if "stage" in line and "entered" in line)
    assert "rate → next" in header and "verdict" in header
    assert any(re.match(r"│ visit\s+│ marketing\s+│\s+4 │ signup", line) for line in run.screen)


def test_funnel(workspace):
    run = on_terminal("funnel", "visit", "signup", "purchase", "-w", workspace, cwd=workspace).check()
    run.assert_bar_drawn("funnel")
    _table_intact(run, "funnel (ordered, window 14.0d)", "└")
    assert any(re.match(r"│ 3\s+│ purchase\s+│ 1\s+│ 25\.0%", line) for line in run.screen), run.screen


def test_paths(workspace):
    run = on_terminal("paths", "-w", workspace, cwd=workspace).check()
    run.assert_bar_drawn("sequences")
    _table_intact(run, "Shop — stage transitions (4 users)", "Conformance: 4 of 4 users")
    assert any(line.startswith("Top paths") for line in run.screen)


def test_demo(tmp_path):
    run = on_terminal("demo", "--users", 100, "--dir", tmp_path / "demo", cwd=tmp_path,
                      timeout=2 * TIMEOUT).check()
    run.assert_bar_drawn("stage entries")
    run.assert_bar_gone()
    assert run.screen[0] == "generating the demo company: 100 users (seed 7)…"
    assert re.fullmatch(rf"storing [\d,]+ events in {re.escape(str(tmp_path / 'demo'))}…", run.screen[1])
    assert run.screen[2] == "measuring the journey…"
    assert run.screen[3].startswith("Tempo self-serve SaaS — 100 users")
    assert run.screen[-5].startswith("└"), run.screen[-6:]  # the last table's bottom border
    assert run.screen[-3].startswith(f"Open it as a dashboard: journeymap serve -w {tmp_path / 'demo'}")
    assert run.screen[-2] == f"Share it as one file:   journeymap report -o map.html -w {tmp_path / 'demo'}"
    assert run.screen[-1] == f"Its KPIs:               journeymap kpis -w {tmp_path / 'demo'}"
    assert any(line.startswith("Top paths") for line in run.screen)


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_output_redirected_stays_on_stdout(files, fmt):
    """`journeymap measure --format json > out.json` at a terminal: the bar on the terminal,
    every byte of the result in the file (rich's stdout redirection once sent it to the
    terminal instead)."""
    run = on_terminal("measure", "-j", "journey.yml", "-e", "events.csv", "--format", fmt, cwd=files,
                      stdout_on_terminal=False).check()
    run.assert_bar_drawn("stage entries")
    run.assert_bar_gone()
    assert run.screen == []
    if fmt == "json":
        assert [s["entered"] for s in json.loads(run.stdout)["stages"]] == [4, 2, 1]
    else:
        rows = list(csv.DictReader(io.StringIO(run.stdout)))
        assert [(r["id"], r["entered"]) for r in rows] == [("visit", "4"), ("signup", "2"),
                                                          ("purchase", "1")]


def test_retention(workspace):
    run = on_terminal("retention", "visit", "--period", "day", "--intervals", "3", "--date-to", "2024-01-03",
                      "-w", workspace, cwd=workspace).check()
    run.assert_bar_gone()
    assert run.screen[0].startswith("retention: visit → any event (recurring, by day)")
    # by hand: day 1 u1, u2 visit; u1 comes back on days 2 and 3 (signup, purchase); day 2: u3, u4
    assert any(re.match(r"│ 2024-01-01 │\s+2 │\s+100\.0% │\s+50\.0% │\s+50\.0% │", line)
               for line in run.screen), run.screen
    assert any(re.match(r"│ 2024-01-02 │\s+2 │\s+100\.0% │\s+0\.0% │\s+– │", line) for line in run.screen)


def test_kpis(workspace):
    run = on_terminal("kpis", "-w", workspace, cwd=workspace).check()
    run.assert_bar_drawn("stage entries")
    _table_intact(run, "Journey KPIs — 4 users, data to 2024-01-20", "└")
    # by hand: 1 of the 4 who visited purchased
    assert any(re.match(r"│ conversion rate\s+│\s+25\.0% │", line) for line in run.screen), run.screen


def test_drivers_and_activation(workspace):
    run = on_terminal("drivers", "--from", "visit", "--horizon", "1d", "-w", workspace, cwd=workspace).check()
    run.assert_bar_drawn("sequences")
    assert run.screen[0].startswith("visit → signup, behaviours within 1d:")
    assert run.screen[-1].startswith("Associations, not causes")
    run = on_terminal("activation", "--from", "visit", "--to", "purchase", "-w", workspace, cwd=workspace).check()
    assert run.screen[0].startswith("Activation moments: visit → purchase, behaviours within 7d")


def test_correlation(workspace):
    run = on_terminal("correlation", "visit", "purchase", "--kind", "properties", "--property", "plan",
                      "-w", workspace, cwd=workspace).check()
    assert run.screen[0].startswith("Funnel correlation (properties): 4 persons, 1 converted, 3 did not")


def test_customer(workspace):
    run = on_terminal("customer", "u2", "-w", workspace, cwd=workspace).check()
    run.assert_bar_gone()
    assert run.screen[0] == "u2 in signup since 2024-01-05 (15.0d), owner growth"
    assert run.screen[1].startswith("status: stuck — past the 14.0d limit to reach purchase")
    assert any(line.startswith("Timeline (2 events)") for line in run.screen)


def test_stuck(workspace):
    run = on_terminal("stuck", "--stage", "signup", "-w", workspace, cwd=workspace).check()
    run.assert_bar_gone()
    # u4 signs up 18 days after the visit: past the 7-day limit, so u2 is alone in signup
    assert run.screen[0].startswith("1 of 1 customers in signup are stuck, 0 of them can still advance")
    assert any(re.match(r"│ u2\s+│ 2024-01-05", line) for line in run.screen), run.screen


def test_report(workspace, tmp_path):
    run = on_terminal("report", "-o", tmp_path / "map.html", "-w", workspace, cwd=workspace).check()
    run.assert_bar_gone()
    assert run.screen[-1] == f"{tmp_path / 'map.html'}: html report of {workspace}"
    assert (tmp_path / "map.html").read_text().startswith("<!doctype html>")


def test_keys(workspace):
    made = on_terminal("keys", "create", "--name", "web app", "-w", workspace, cwd=workspace).check()
    secret = made.screen[0]
    assert secret.startswith("jmw_") and made.screen[1].endswith("shown this once; journeymap keeps only its hash")
    listed = on_terminal("keys", "list", "-w", workspace, cwd=workspace).check()
    row = next(line for line in listed.screen if "web app" in line)
    assert "live" in row and secret not in listed.text and secret[:8] in row
    gone = on_terminal("keys", "revoke", row.split()[0], "-w", workspace, cwd=workspace).check()
    assert gone.screen[0].startswith(f"{row.split()[0]} revoked ")


def test_serve_answers_until_interrupted(workspace):
    """`journeymap serve` at a terminal: it says where it listens, answers, and stops cleanly
    on Ctrl+C (SIGINT)."""
    import socket
    import urllib.request
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    proc = subprocess.Popen([str(EXE), "serve", "-w", str(workspace), "--port", str(port)], cwd=workspace,
                            env=ENV, stdin=slave, stdout=slave, stderr=slave, close_fds=True,
                            start_new_session=True)
    os.close(slave)
    raw = b""
    try:
        deadline = time.monotonic() + TIMEOUT
        body = None
        while time.monotonic() < deadline and body is None:
            if select.select([master], [], [], 0.2)[0]:
                raw += os.read(master, 65536)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/meta", timeout=5) as res:
                    body = json.loads(res.read())
                    if res.status == 202:  # still working: the API says to ask again shortly
                        body = None
            except OSError:
                continue
        assert body is not None and body["journey"] == "Shop", CSI.sub("", raw.decode())
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=TIMEOUT)
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            raw += chunk
    finally:
        os.close(master)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = CSI.sub("", raw.decode("utf-8", "replace"))
    assert "Traceback" not in text and code == 0, text
    assert f"journeymap dashboard for {workspace} on http://127.0.0.1:{port}/" in text
