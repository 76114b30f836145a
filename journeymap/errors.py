"""One error root for journeymap, with a shallow tree.

    JourneyError            anything journeymap raises on purpose (never raised itself)
    ├── SpecError           the journey file: bad YAML, a missing owner, an unknown name
    ├── IngestError         input data: unreadable, a required column missing, bad rows
    ├── QueryError          a measure asked something it cannot answer (bad step, option)
    ├── EngineError         the engine: missing, misconfigured, or failing underneath
    └── WorkspaceError      the workspace folder, its store or its settings

Every error carries the context a user needs to fix the input: the file, the
line and column, the offending value, and the closest valid name. Each
interface turns them into messages in one place (the CLI's `main`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "JourneyError",
    "SpecError",
    "IngestError",
    "QueryError",
    "EngineError",
    "WorkspaceError",
    "did_you_mean",
]


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """Return ` — did you mean 'x'?` for the closest choice, or an empty string.

    >>> did_you_mean("sigup", ["signup", "login"])
    " — did you mean 'signup'?"
    """
    close = difflib.get_close_matches(str(value), sorted(set(map(str, choices))), n=1, cutoff=0.6)
    return f" — did you mean '{close[0]}'?" if close else ""


class JourneyError(Exception):
    """Root of every error journeymap raises on purpose."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 column: int | None = None, value: object = None):
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.value = value
        super().__init__(self.__str__())

    @property
    def location(self) -> str:
        """`file:line:column`, as much of it as is known."""
        parts = [str(p) for p in (self.file, self.line, self.column) if p is not None]
        return ":".join(parts)

    def __str__(self) -> str:
        loc = self.location
        return f"{loc}: {self.message}" if loc else self.message

    def to_dict(self) -> dict:
        return {"error": type(self).__name__, "message": self.message, "file": self.file,
                "line": self.line, "column": self.column}


class SpecError(JourneyError):
    """The journey file is wrong: bad YAML, a missing owner, an unknown name."""

    def __init__(self, message: str, *, problems: list[JourneyError] | None = None, **kw):
        self.problems = problems or []
        super().__init__(message, **kw)


class IngestError(JourneyError):
    """Input data could not be read or would be loaded only in part."""

    def __init__(self, message: str, *, rejected: list[tuple[str, str]] | None = None, **kw):
        #: (location, reason) pairs of the first rejected rows
        self.rejected = rejected or []
        super().__init__(message, **kw)


class QueryError(JourneyError):
    """A measure was asked something it cannot answer (bad step, bad option)."""


class EngineError(JourneyError):
    """The engine is missing, misconfigured, or failed underneath us."""


class WorkspaceError(JourneyError):
    """The workspace folder, its event store or its settings are missing or wrong."""
