"""Settings as declared data: one table feeds CLI defaults, env vars, checks and docs.

Precedence: command-line flag > environment (`JOURNEYMAP_<NAME>`) >
workspace settings.json > default. A value outside a setting's choices, and a
key of settings.json that is no setting, are refused by name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from journeymap.errors import WorkspaceError, did_you_mean


@dataclass(frozen=True)
class Setting:
    name: str
    default: object
    type: type
    help: str
    choices: tuple[str, ...] = ()


SETTINGS = (
    Setting("engine", "duckdb", str, "Query engine: duckdb (embedded default) or spark."),
    Setting("format", "table", str, "Output format of the CLI: table, json or csv.",
            ("table", "json", "csv")),
    Setting("spark_master", "local[2]", str,
            "Spark master: local[N], spark://host:7077, yarn, k8s://… (engine spark only)."),
    Setting("host", "127.0.0.1", str, "Address `journeymap serve` binds (0.0.0.0: every interface)."),
    Setting("port", 8000, int, "Port `journeymap serve` listens on."),
    Setting("token", "", str, "Access token of the dashboard and JSON API (required when "
            "`serve` binds another address than loopback); best given as JOURNEYMAP_TOKEN."),
    Setting("flush_every", 1.0, float, "Seconds between the collector's moves of received "
            "events into the store (how soon they are visible to measures)."),
)
BY_NAME = {s.name: s for s in SETTINGS}


def env_name(name: str) -> str:
    return f"JOURNEYMAP_{name.upper()}"


def check_file(values: Mapping, file: str | None = None) -> dict:
    """settings.json's values: every key a known setting (else the closest one is named),
    every value of its type and among its choices."""
    if not isinstance(values, Mapping):
        raise WorkspaceError("settings must be a JSON object of setting: value", file=file)
    for key, value in values.items():
        if key not in BY_NAME:
            raise WorkspaceError(f"unknown setting '{key}'" + did_you_mean(key, BY_NAME)
                                 + f" (settings: {', '.join(BY_NAME)})", file=file)
        _typed(BY_NAME[key], value, file or "settings.json")
    return dict(values)


def _typed(s: Setting, raw, where: str):
    try:
        value = s.type(raw)
    except (TypeError, ValueError):
        raise WorkspaceError(f"setting {s.name}={raw!r} is not a valid {s.type.__name__} "
                             f"(from {where})") from None
    if s.choices and str(value).strip().lower() not in s.choices:
        raise WorkspaceError(f"setting {s.name}={raw!r} is not one of {', '.join(s.choices)} "
                             f"(from {where})" + did_you_mean(str(value), s.choices))
    return str(value).strip().lower() if s.choices else value


def resolve(name: str, flag=None, file_settings: Mapping | None = None):
    """The value of a setting by precedence: flag > env > file > default."""
    s = BY_NAME[name]
    if flag is not None:
        return _typed(s, flag, "command line")
    raw = os.environ.get(env_name(name))
    if raw is not None:
        return _typed(s, raw, f"environment {env_name(name)}")
    if file_settings and name in file_settings:
        return _typed(s, file_settings[name], "settings.json")
    return s.default


def describe() -> str:
    """Markdown table of every setting, for the README."""
    lines = ["| setting | env | default | meaning |", "|---|---|---|---|"]
    lines += [f"| {s.name} | `{env_name(s.name)}` | {s.default} | {s.help} |" for s in SETTINGS]
    return "\n".join(lines)
