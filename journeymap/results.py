"""What every result object offers: dict, pandas, Arrow, CSV sections and a Jupyter view.

A result implements `to_dict()` (the JSON form) and `sections()` (its tables, by
name, each a list of flat dicts; the first is its main table, `rows()`). The
conversions below derive from those, so the CLI, notebooks and reports render
the same numbers: intervals become `*_low` / `*_high` columns, a benchmark
`benchmark_low` / `benchmark_high`, counts stay whole numbers.
"""

from __future__ import annotations

import csv
import html
import io
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


clean = _clean


def flat(row: dict) -> dict:
    """One row with only scalar values: `x_ci: [lo, hi]` -> `x_low`, `x_high`; a
    `{low, high}` benchmark -> `benchmark_low`, `benchmark_high`; lists of names ->
    `a → b`; other nested values left out (they are in `to_dict()`)."""
    out = {}
    for key, value in row.items():
        if key.endswith("_ci"):
            base = key[:-3]
            out[f"{base}_low"], out[f"{base}_high"] = (value if value else (None, None))
        elif key == "benchmark":
            out["benchmark_low"] = value["low"] if value else None
            out["benchmark_high"] = value["high"] if value else None
        elif isinstance(value, (list, tuple)):
            if all(not isinstance(v, (dict, list, tuple)) for v in value):
                out[key] = " → ".join(map(str, value)) if key == "path" else ", ".join(map(str, value))
        elif not isinstance(value, dict):
            out[key] = value
    return _clean(out)


def human_duration(seconds) -> str:
    """A duration to read: 45s, 12.5m, 3.2h, 2.1d ('–' when there is none).

    >>> [human_duration(s) for s in (45, 750, 11520, 181440, None)]
    ['45s', '12.5m', '3.2h', '2.1d', '–']
    """
    if seconds is None or (isinstance(seconds, float) and not math.isfinite(seconds)):
        return "–"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _html_cell(key: str, value) -> str:
    if value is None:
        return "–"
    if key.endswith("_s") and isinstance(value, (int, float)):
        return html.escape(human_duration(value))
    if isinstance(value, float):
        rate_like = key in ("rate", "share", "conversion", "from_previous") or key.endswith(
            ("_low", "_high", "_rate", "_share"))
        return f"{value:.1%}" if rate_like and 0 <= value <= 1 else f"{value:,.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return html.escape(str(value))


def html_table(rows: list[dict]) -> str:
    """Flat rows as an HTML table: durations read as 3.2h, rates as 12.5%, text escaped."""
    if not rows:
        return "<p>–</p>"
    keys = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td>{_html_cell(k, r.get(k))}</td>" for k in keys) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Result:
    """Mixin for result objects."""

    title: str = "result"

    def to_dict(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def sections(self) -> dict[str, list[dict]]:
        """The result's tables by name, the main one first (flat rows)."""
        return {"rows": [flat(r) for r in self.rows()]}

    def rows(self) -> list[dict]:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(_clean(self.to_dict()), indent=indent)

    def to_pandas(self, section: str | None = None):
        import pandas as pd
        return pd.DataFrame(self.section(section))

    def to_arrow(self, section: str | None = None):
        import pyarrow as pa
        return pa.Table.from_pylist(self.section(section))

    def section(self, name: str | None = None) -> list[dict]:
        """One table by name (the main one when None); QueryError naming the others."""
        sections = self.sections()
        if name is None:
            return next(iter(sections.values()))
        if name not in sections:
            from journeymap.errors import QueryError, did_you_mean
            raise QueryError(f"no section '{name}' in {self.title}" + did_you_mean(name, sections)
                             + f" (sections: {', '.join(sections)})")
        return sections[name]

    def to_csv(self, section: str | None = None) -> str:
        """One section as CSV: whole numbers stay whole, missing values are empty."""
        rows = self.section(section)
        out = io.StringIO()
        keys = list(dict.fromkeys(k for r in rows for k in r))
        writer = csv.DictWriter(out, keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()

    def _repr_html_(self) -> str:
        parts = [f"<h4>{html.escape(self.title)}</h4>"]
        for i, (name, rows) in enumerate(self.sections().items()):
            if i:
                parts.append(f"<h5>{html.escape(name.replace('_', ' '))}</h5>")
            parts.append(html_table(rows))
        return "".join(parts)
