"""A workspace folder: journey.yml, settings.json and the event store in store/."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from journeymap.errors import WorkspaceError
from journeymap.settings import check_file
from journeymap.store.eventstore import EventStore

__all__ = ["WorkspaceFolder"]

JOURNEY = "journey.yml"
SETTINGS = "settings.json"
STORE = "store"
DEFAULT_SETTINGS = {"engine": "duckdb"}


@dataclass(frozen=True)
class WorkspaceFolder:
    """A journeymap workspace folder."""

    path: Path

    @staticmethod
    def is_workspace(path: str | Path) -> bool:
        """True if `path` holds a journey file and settings."""
        path = Path(path)
        return (path / JOURNEY).is_file() and (path / SETTINGS).is_file()

    @classmethod
    def init(cls, path: str | Path, journey_text: str) -> WorkspaceFolder:
        """Create a workspace (an existing one is kept as is) in a new or empty folder."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise WorkspaceError("cannot create a workspace here: it is a file", file=str(path))
        if path.is_dir() and any(path.iterdir()) and not cls.is_workspace(path):
            raise WorkspaceError("the folder is not empty and is not a journeymap workspace; "
                               "choose a new or empty folder", file=str(path))
        (path / STORE).mkdir(parents=True, exist_ok=True)
        if not (path / JOURNEY).exists():
            (path / JOURNEY).write_text(journey_text, encoding="utf-8")
        if not (path / SETTINGS).exists():
            (path / SETTINGS).write_text(json.dumps(DEFAULT_SETTINGS, indent=2) + "\n")
        return cls(path)

    @classmethod
    def open(cls, path: str | Path) -> WorkspaceFolder:
        """Open an existing workspace; JourneyError if `path` is not one."""
        path = Path(path)
        if not cls.is_workspace(path):
            raise WorkspaceError("not a journeymap workspace (no journey.yml and settings.json): "
                               "run `journeymap init DIR` first, or pass the workspace folder",
                               file=str(path))
        return cls(path)

    @classmethod
    def find(cls, start: str | Path | None = None) -> WorkspaceFolder:
        """The workspace containing `start` (default: the current folder)."""
        here = Path(start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if cls.is_workspace(folder):
                return cls(folder)
        raise WorkspaceError(f"no journeymap workspace in {here} or its parents: run "
                           "`journeymap init DIR` or pass the workspace folder")

    @property
    def journey_path(self) -> Path:
        """The journey file."""
        return self.path / JOURNEY

    @property
    def store(self) -> EventStore:
        """The workspace's event store."""
        return EventStore(self.path / STORE)

    @property
    def settings(self) -> dict:
        """settings.json as a dict of known settings (an unknown key is refused by name)."""
        file = str(self.path / SETTINGS)
        try:
            values = json.loads((self.path / SETTINGS).read_text())
        except ValueError as exc:
            raise WorkspaceError(f"settings are not valid JSON: {exc}", file=file) from None
        return check_file(values, file)
