"""The dashboard's page shells: a header, a navigation and a place for the page's script.

The pages hold no data: `journeymap.js` reads the page name from `<body data-page>`,
fetches the JSON API and renders it. The shareable report is the same shell with
the styles, the scripts (plotly.js from the installed `plotly` package) and the data
inline (`journeymap.web.report`).
"""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path

from journeymap.errors import EngineError

NAV = (("map", "/", "Map"), ("paths", "/paths", "Paths"), ("kpis", "/kpis", "KPIs"),
       ("customers", "/customers", "Customers"))
TITLES = {"map": "Map", "stage": "Stage", "paths": "Actual journey", "kpis": "KPIs", "customers": "Customers",
          "report": "Report"}
STATIC = files("journeymap.web").joinpath("static")
# an inline icon: no request for /favicon.ico
ICON = ("<link rel=\"icon\" href=\"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' "
        "viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='3' fill='%231f2a44'/%3E%3Cpath "
        "d='M3 11h3V7h4v-2h3' stroke='%237fd6cc' stroke-width='2' fill='none'/%3E%3C/svg%3E\">")


def plotly_js_path() -> Path:
    """plotly.js as the installed `plotly` package ships it (never a CDN)."""
    try:
        import plotly
    except ImportError:  # pragma: no cover - plotly is a dependency
        raise EngineError('the dashboard needs plotly: pip install "journeymap"') from None
    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def static_text(name: str) -> str:
    return STATIC.joinpath(name).read_text(encoding="utf-8")


def shell(page: str, *, head: str, scripts: str, title: str | None = None, facts: str = "") -> str:
    """The HTML of a page: header, navigation, an empty `#app` the script fills."""
    current = "map" if page in ("stage", "report") else page
    here = ' aria-current="page"'
    links = "".join(f'<a href="{href}"{here if key == current else ""}>{label}</a>'
                    for key, href, label in NAV) if page != "report" else ""
    brand = ('<span class="brand">journey<span>map</span></span>' if page == "report" else
             '<a class="brand" href="/">journey<span>map</span></a>')
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title or 'journeymap — ' + TITLES[page])}</title>{ICON}{head}</head>"
        f'<body data-page="{page}"><a class="skip" href="#main">Skip to content</a>'
        f'<header class="top">{brand}'
        f'<nav aria-label="Main">{links}</nav><div class="facts" id="facts">{facts}</div></header>'
        '<main id="main" tabindex="-1"><div id="app" aria-live="polite" aria-busy="true">'
        '<p class="note">Loading…</p></div></main>'
        f"{scripts}</body></html>")


def page(name: str) -> str:
    """A dashboard page served by `journeymap serve`."""
    return shell(name, head='<link rel="stylesheet" href="/static/journeymap.css">',
                 scripts='<script src="/static/plotly.min.js"></script>'
                         '<script src="/static/journeymap.js"></script>')
