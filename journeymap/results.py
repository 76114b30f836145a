"""What every result object offers: dict, pandas, Arrow and a Jupyter table.

A result implements `to_dict()` (the JSON form) and `rows()` (its main table as
a list of flat dicts); the conversions below derive from those, so the CLI,
notebooks and reports render the same numbers.
"""

from __future__ import annotations

import html
import json
import math


def _clean(value):
    """JSON-safe values: NaN and infinity become null, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Result:
    """Mixin for result objects."""

    title: str = "result"

    def to_dict(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def rows(self) -> list[dict]:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(_clean(self.to_dict()), indent=indent)

    def to_pandas(self):
        import pandas as pd
        return pd.DataFrame(self.rows())

    def to_arrow(self):
        import pyarrow as pa
        return pa.Table.from_pylist(_clean(self.rows()))

    def _repr_html_(self) -> str:
        body = self.to_pandas().to_html(index=False, na_rep="–", float_format=lambda x: f"{x:.4g}")
        return f"<h4>{html.escape(self.title)}</h4>{body}"


clean = _clean
