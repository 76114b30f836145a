"""Heavy libraries imported on first use, not when journeymap is imported.

Ibis with its DuckDB backend and SQL compilers takes about 0.5 s to import and
connect, pandas about 0.25 s, more than a funnel on ten million events takes to
answer from the workspace's clustered copy, which needs neither. Modules name
them through these stand-ins, so a command that never touches them does not pay
for them:

>>> from journeymap._deferred import ibis
>>> ibis.literal(1).type()
Int8(nullable=True)
"""

from __future__ import annotations

import importlib
import sys


class Deferred:
    """A module, imported the first time one of its attributes is read."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<deferred module {self._name!r}>"


ibis = Deferred("ibis")
duckdb = Deferred("duckdb")
pd = Deferred("pandas")
ir = Deferred("ibis.expr.types")
dt = Deferred("ibis.expr.datatypes")
ibis_errors = Deferred("ibis.common.exceptions")
ibis_backends = Deferred("ibis.backends")


def is_ibis_table(obj) -> bool:
    """Whether `obj` is an Ibis table, without importing Ibis to ask (no Ibis table can
    exist before Ibis is imported)."""
    return "ibis" in sys.modules and isinstance(obj, ir.Table)
