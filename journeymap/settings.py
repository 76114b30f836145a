"""Settings as declared data: one table feeds CLI defaults, env vars and docs.

Precedence: command-line flag > environment (`JOURNEYMAP_<NAME>`) >
workspace settings.json > default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from journeymap.errors import JourneyError


@dataclass(frozen=True)
class Setting:
    name: str
    default: object
    type: type
    help: str


SETTINGS = (
    Setting("engine", "duckdb", str, "Query engine: duckdb (embedded default) or spark."),
    Setting("format", "table", str, "Output format of the CLI: table, json or csv."),
    Setting("spark_master", "local[2]", str,
            "Spark master: local[N], spark://host:7077, yarn, k8s://… (engine spark only)."),
)
BY_NAME = {s.name: s for s in SETTINGS}


def env_name(name: str) -> str:
    return f"JOURNEYMAP_{name.upper()}"


def resolve(name: str, flag=None, file_settings: dict | None = None):
    """The value of a setting by precedence: flag > env > file > default."""
    s = BY_NAME[name]
    if flag is not None:
        return flag
    raw = os.environ.get(env_name(name))
    if raw is None and file_settings and name in file_settings:
        raw = file_settings[name]
    if raw is None:
        return s.default
    try:
        return s.type(raw)
    except (TypeError, ValueError):
        raise JourneyError(f"setting {name}={raw!r} is not a valid {s.type.__name__}") from None


def describe() -> str:
    """Markdown table of every setting, for the README."""
    lines = ["| setting | env | default | meaning |", "|---|---|---|---|"]
    lines += [f"| {s.name} | `{env_name(s.name)}` | {s.default} | {s.help} |" for s in SETTINGS]
    return "\n".join(lines)
