"""`journeymap report`: the map, leaks, findings and the actual journey in one HTML file.

Everything is inline (styles, plotly.js from the installed package, the dashboard's
renderers, the data as JSON), so the file opens from disk with no network and shows
exactly what the dashboard shows for the same persona and period.
"""

from __future__ import annotations

import datetime as dt
import json

from journeymap._version import __version__
from journeymap.results import clean
from journeymap.web.pages import plotly_js_path, shell, static_text


def _inline_json(data) -> str:
    """JSON safe inside <script>: no '<' can close the tag or open a comment."""
    return json.dumps(clean(data)).replace("<", "\\u003c").replace(">", "\\u003e") \
        .replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _inline_script(text: str) -> str:
    return "<script>" + text.replace("</script", "<\\/script") + "</script>"


def report_data(ws, *, persona: str | None = None, period: str | None = None) -> dict:
    """What the report shows: the measured map and the actual journey (workspace results)."""
    return {"version": __version__, "generated": dt.datetime.now(dt.timezone.utc).isoformat(),
            "persona": persona, "period": period,
            "map": ws.measure(persona=persona, period=period).to_dict(),
            "actual": ws.paths(persona=persona).to_dict()}


def report_html(ws, *, persona: str | None = None, period: str | None = None) -> str:
    """The whole report as one HTML document."""
    data = report_data(ws, persona=persona, period=period)
    title = f"{data['map']['journey']} — journey map"
    head = f"<style>{static_text('journeymap.css')}</style>"
    scripts = (f'<script type="application/json" id="jm-data">{_inline_json(data)}</script>'
               + _inline_script(plotly_js_path().read_text(encoding="utf-8"))
               + _inline_script(static_text("journeymap.js")))
    return shell("report", head=head, scripts=scripts, title=title)
