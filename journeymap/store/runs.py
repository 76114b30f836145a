"""The store's events clustered by user and time as sorted runs, kept current as data arrive.

Every per-user measure reads the events in (user_id, ts, event, event_id)
order. Rather than one copy rewritten whole after each ingest, the workspace
keeps *runs* (LSM-style): each a clustered copy (`store.clustered`) of some of
the store's event files, stitched through the identities. A refresh

- adds one run for the event files no run holds yet (an ingest's new files:
  the cost follows the new events, not the whole store);
- merges runs as they pile up, tiered like a binary counter: while the newest
  run holds at least as many events as the one before it, the two become one
  (rebuilt from their files). Each event is rewritten about log2(store / batch)
  times over the store's life, and a store holds about that many runs;
- starts again from one run when the identities changed (stitching may move
  old events to other users) or a run is missing.

`runs.json` lists the runs and the identities they were stitched with; it is
written to a temporary file, fsynced and renamed (the commit), after the run
folders it names are complete (each written as `build_clustered` writes: a
temporary folder, fsync, rename). A crash at any point leaves the previous list
and its runs; folders no list names are swept at the next refresh. One writer
at a time (an advisory lock on `.lock`); readers need no lock.

Reads: one run is a `ClusteredEvents`, several a `MergedEvents` (merged as read).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from journeymap.progress import report
from journeymap.store._durable import exclusive, fsync
from journeymap.store.clustered import ClusteredEvents, build_clustered
from journeymap.store.eventstore import Snapshot
from journeymap.store.merged import MergedEvents

STATE = "runs.json"
LOCK = ".lock"
#: superseded runs stay this long after a merge, for readers that opened them before
GRACE_S = 600.0


@dataclass
class Runs:
    """The committed list of runs (oldest first) and what they were stitched with."""

    runs: list[dict] = field(default_factory=list)  # {"name", "files", "rows"}
    identities: str | None = None
    retired: list[dict] = field(default_factory=list)  # {"name", "at"}: superseded runs

    @property
    def files(self) -> set[str]:
        return {f for run in self.runs for f in run["files"]}


def _read(folder: Path) -> Runs | None:
    try:
        data = json.loads((folder / STATE).read_text())
        return Runs(data["runs"], data["identities"], data.get("retired", []))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _commit(folder: Path, runs: Runs) -> None:
    tmp = folder / f".{STATE}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "w") as fh:
        json.dump({"runs": runs.runs, "identities": runs.identities, "retired": runs.retired}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, folder / STATE)
    fsync(folder)


def _usable(runs: Runs | None, snapshot: Snapshot, folder: Path) -> bool:
    """Whether the runs can be kept: stitched with today's identities, holding only
    committed files, every run folder complete."""
    stored = set(snapshot.manifest["events"])
    return runs is not None and runs.identities == snapshot.manifest["identities"] and \
        runs.files <= stored and all(_complete(folder / run["name"]) for run in runs.runs)


def _complete(run: Path) -> bool:
    try:
        ClusteredEvents.open(run)
        return True
    except Exception:  # noqa: BLE001 - any reason it cannot be read: build it again
        return False


def refresh(folder: Path, snapshot: Snapshot, con, events_of: Callable[[Snapshot], object]) -> Runs:
    """Bring the runs in `folder` up to `snapshot` (see the module doc) and return them.

    `events_of(snapshot)`: the stitched events of a snapshot (here: of some of its
    files), as `build_clustered` takes them (an Ibis table, or DuckDB SQL); `con`: the
    connection that sorts them, or a function returning it. A store
    the runs already cover costs one read of `runs.json`.
    """
    folder = Path(folder)
    runs = _read(folder)
    if _usable(runs, snapshot, folder) and runs.files == set(snapshot.manifest["events"]):
        return runs
    folder.mkdir(parents=True, exist_ok=True)
    with exclusive(folder / LOCK):
        runs = _read(folder)
        if not _usable(runs, snapshot, folder):
            runs = Runs([], snapshot.manifest["identities"], (runs.retired if runs else []))
            runs.retired += [{"name": n, "at": time.time()} for n in _run_folders(folder)]
        new = [f for f in snapshot.manifest["events"] if f not in runs.files]
        if new:
            con = con() if callable(con) else con
            runs.runs.append(_build(folder, snapshot, new, con, events_of))
            while len(runs.runs) > 1 and runs.runs[-1]["rows"] >= runs.runs[-2]["rows"]:
                older, newer = runs.runs[-2], runs.runs[-1]
                merged = _build(folder, snapshot, older["files"] + newer["files"], con, events_of)
                runs.runs[-2:] = [merged]
                runs.retired += [{"name": r["name"], "at": time.time()} for r in (older, newer)]
            _commit(folder, runs)
        _sweep(folder, runs)
        return runs


def _build(folder: Path, snapshot: Snapshot, files: list[str], con, events_of) -> dict:
    """A new run of these event files; its description for `runs.json`."""
    name = f"run-{uuid.uuid4().hex}"
    part = Snapshot(snapshot.root, {**snapshot.manifest, "events": files})
    task = "clustering the new events by customer and time"
    report(task, 0, 1)
    build_clustered(con, events_of(part), folder / name)
    report(task, 1, 1)
    return {"name": name, "files": files, "rows": ClusteredEvents.open(folder / name).n_rows}


def _run_folders(folder: Path) -> list[str]:
    return [p.name for p in folder.glob("run-*") if p.is_dir() and not p.name.endswith((".tmp", ".old"))]


def _sweep(folder: Path, runs: Runs) -> None:
    """Remove what no committed list needs: superseded runs past their grace time,
    unfinished builds, a copy in the layout before runs."""
    live = {r["name"] for r in runs.runs}
    now = time.time()
    keep = live | {r["name"] for r in runs.retired if now - r["at"] < GRACE_S}
    for path in folder.iterdir():
        if path.name in keep or path.name in (STATE, LOCK):
            continue
        if path.name.startswith(f".{STATE}.") or path.name.startswith("run-") or \
                path.name in ("part-0.parquet", "core.arrow", "users.arrow", "clustered.json"):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    kept = [r for r in runs.retired if r["name"] in keep]
    if len(kept) != len(runs.retired):
        runs.retired = kept
        _commit(folder, runs)


def open_runs(folder: Path, runs: Runs, con=None) -> ClusteredEvents | MergedEvents:
    """The runs as one clustered event source."""
    opened = tuple(ClusteredEvents.open(Path(folder) / run["name"], con) for run in runs.runs)
    return opened[0] if len(opened) == 1 else MergedEvents(opened, con)
