"""`journeymap demo`: make the demo company, write its workspace, measure it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq

from journeymap.api import ActualJourney, JourneyMap
from journeymap.errors import WorkspaceError
from journeymap.results import clean
from journeymap.workspace import init_workspace

MARKER = "demo.json"


def _fresh(directory: Path) -> None:
    """Empty the folder if it holds an earlier demo; refuse any other non-empty folder."""
    if directory.exists() and any(directory.iterdir()):
        if not (directory / MARKER).exists():
            raise WorkspaceError(f"{directory} is not empty and is not a demo workspace: "
                               "pass --dir with a new folder")
        shutil.rmtree(directory)


def run_demo(directory: Path, *, users: int = 200_000, seed: int = 7,
             say: Callable[[str], None] = lambda m: None) -> tuple[JourneyMap, ActualJourney]:
    """Generate, store and measure the demo company: its measured map and actual journey."""
    from journeymap.demo.generator import generate

    _fresh(directory)
    say(f"generating the demo company: {users:,} users (seed {seed})…")
    data = generate(users=users, seed=seed)
    ws = init_workspace(directory, data.journey_text)
    say(f"storing {data.events.num_rows:,} events in {directory}…")
    ws.folder.store.append(data.events, users=data.users)
    pq.write_table(data.spend, directory / "spend.parquet")
    (directory / MARKER).write_text(json.dumps(clean({"users": users, "seed": seed,
                                                      "stories": data.stories}), indent=2))
    say("measuring the journey…")
    noise = data.stories["exits"]["noise_events"]
    return ws.measure(), ws.paths(exclude=noise, stage="first_value")
