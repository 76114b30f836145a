"""The store's users table as a measure reads it: one Parquet file of user_id and
traits, one row per user, in user_id order (as the store writes it).

Its column names come from the file, and its rows are read as Arrow without an
engine (`read`), so a measure that needs only traits (its personas' rules, see
`measure._feed.users.flags_of`) starts no engine for them. The Ibis view the engine
queries (`table`) is opened on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from journeymap._deferred import ir


class StoredUsers:
    """The users file of one state of the store; `open_table()` returns its Ibis view."""

    def __init__(self, path: str | Path, open_table: Callable[[], ir.Table]):
        self.path = Path(path)
        self._open_table = open_table

    def __repr__(self) -> str:
        return f"StoredUsers({str(self.path)!r})"

    @cached_property
    def columns(self) -> tuple[str, ...]:
        return tuple(pq.read_schema(self.path).names)

    @cached_property
    def table(self) -> ir.Table:
        """The Ibis view of the file (opened on first use)."""
        return self._open_table()

    def read(self, columns: Sequence[str]) -> pa.Table:
        """These columns of every row, in the file's order, as Arrow."""
        return pq.ParquetFile(self.path).read(columns=list(columns))


def ibis_users(users):
    """Users as the engine queries them: the Ibis view of stored users; any other
    form (an Ibis table, or None) as it is."""
    return users.table if isinstance(users, StoredUsers) else users
