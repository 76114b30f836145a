"""The dashboard's server: pages, static files and the JSON API over one workspace.

Every number comes from the workspace's result objects (`to_dict()`), exactly what
the CLI prints: the server composes nothing and computes nothing of its own. All
errors leave as one JSON shape (`{"error": {"status", "code", "message"}}`), from
one handler below; pages are shells whose scripts fetch the API and render the data
with the same renderers the shareable report uses.
"""

from __future__ import annotations

import contextlib
import re
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from journeymap import settings
from journeymap._version import __version__
from journeymap.errors import JourneyError, QueryError
from journeymap.results import clean as _clean
from journeymap.web import collect, pages
from journeymap.web.access import Access, error
from journeymap.web.jobs import Jobs

STATIC = files("journeymap.web").joinpath("static")
PERIODS = ("week", "month")


ERROR_SCHEMA = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["status", "code", "message"],
    "properties": {"status": {"type": "integer"}, "code": {"type": "string"}, "message": {"type": "string"}}}}}
#: every answer the API gives besides its 200, as documented in /openapi.json
ERRORS = {status: {"description": what, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
          for status, what in ((400, "A parameter is invalid"), (401, "The access token is needed"),
                               (403, "A write key cannot read"), (404, "No such stage, persona or customer"),
                               (422, "The workspace cannot answer (e.g. no events yet)"),
                               (500, "The engine failed"))}
API = {"responses": {**ERRORS, 202: {"description": "Still working: ask again shortly", "content": {
    "application/json": {"schema": {"type": "object", "properties": {
        "status": {"type": "string"}, "progress": {"type": "object"}}}}}}}}


class NotFound(Exception):
    """A stage, persona or customer the workspace does not have (HTTP 404)."""


def _code(exc: JourneyError) -> str:
    """QueryError -> query_error."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def _install_errors(app: FastAPI) -> None:
    """One JSON error shape for everything that goes wrong (pinned by a test)."""

    @app.exception_handler(NotFound)
    async def not_found(_, exc: NotFound):
        return error(404, "not_found", str(exc))

    @app.exception_handler(JourneyError)
    async def journeyerror(_, exc: JourneyError):
        status = 400 if isinstance(exc, QueryError) else 500 if _code(exc) == "engine_error" else 422
        return error(status, _code(exc), str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(_, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path"))
        return error(400, "invalid_parameter", f"{where}: {first.get('msg', 'invalid')}".strip(": "))

    @app.exception_handler(HTTPException)
    async def httperror(_, exc: HTTPException):
        code = "not_found" if exc.status_code == 404 else "http_error"
        return error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def internal(_, exc: Exception):
        return error(500, "internal_error", f"{type(exc).__name__}: {exc}")


class Server:
    """The workspace a server answers from, and its one worker."""

    def __init__(self, workspace):
        self.ws = workspace
        self.jobs = Jobs()

    def answer(self, key, work):
        """The answer, or a 202 telling the page how far the work has got."""
        ready, value = self.jobs.answer(key, work)
        if ready:  # dicts serialised as they are (FastAPI's encoder walks every value: slow)
            return JSONResponse(value) if isinstance(value, dict) else value
        return JSONResponse({"status": "working", "progress": value.progress()}, status_code=202)

    def check_stage(self, stage: str) -> None:
        try:
            self.ws.journey.stage(stage)
        except QueryError as exc:
            raise NotFound(str(exc)) from None

    def check_persona(self, persona: str | None) -> None:
        if persona:
            try:
                self.ws.journey.persona(persona)
            except QueryError as exc:
                raise NotFound(str(exc)) from None


def _dict(result):
    """A result as JSON-able data (what `--format json` prints)."""
    return _clean(result.to_dict())


def _names(text: str | None) -> list[str] | None:
    """'a, b' -> ['a', 'b'] (sorted, for one cache entry per set); None when empty."""
    names = sorted({n.strip() for n in text.split(",") if n.strip()}) if text else []
    return names or None


def stage_data(ws, stage: str, *, persona: str | None, by: str | None, period: str,
               exclude: list[str] | None = None) -> dict:
    """One stage's page: its numbers, cohort trend, a breakdown, the paths of those who
    advanced and dropped, and who is stuck there; each from the workspace's results."""
    base = ws.measure(persona=persona)
    k = [s.id for s in base.stages].index(stage)
    row = base.stages[k]
    out = {"stage": row.to_dict(), "index": k, "computed_on": base.computed_on, "period": period,
           "cohorts": [], "breakdown": None, "paths": None, "stuck": None,
           "experience": base.experience.stage(stage).to_dict() if base.experience else None,
           "resented": any(r.stage == stage for r in base.diagnosis.resented)}
    if row.next is None:
        return _clean(out)
    out["cohorts"] = [c.to_dict() for c in ws.measure(persona=persona, period=period).cohorts
                      if c.stage == stage]
    if by:
        split = ws.measure(persona=persona, by=by)
        out["breakdown"] = {"by": by, "groups": [{"group": g, **rows[k].to_dict()}
                                                 for g, rows in split.groups.items()]}
    at = ws.paths(persona=persona, stage=stage, exclude=exclude).at_stage
    out["paths"] = {name: p.to_dict() for name, p in at.items()}
    out["drivers"] = _clean(ws.drivers(stage, persona=persona).to_dict())
    stuck = ws.stuck(stage)
    out["stuck"] = {"in_stage": stuck.in_stage, "stuck": stuck.stuck,
                    "can_still_advance": stuck.can_still_advance}
    return _clean(out)


def _meta(ws) -> dict:
    """What the pages need to draw their controls: stages, personas, split options."""
    j = ws.journey
    return {"journey": j.name, "version": __version__, "workspace": str(ws.path),
            "stages": [{"id": s.id, "name": s.label, "owner": s.owner.team if s.owner else None}
                       for s in j.stages],
            "personas": [{"id": p.id, "name": p.label} for p in j.personas],
            "by": ["persona"] + ws.split_options(), "periods": list(PERIODS)}


def create_app(workspace, *, token: str = "", collecting: bool = True,
               flush_every: float | None = None) -> FastAPI:
    """The dashboard and API over an open `Workspace`; with `collecting`, the Segment
    collector (/v1/…) writing into it. `token`: readers need it (see `web.access`)."""
    server = Server(workspace)
    ws = workspace
    collector = None
    if collecting:
        every = settings.resolve("flush_every", flush_every, ws.folder.settings)
        collector = ws.collector(flush_every=every, separate_process=True)

    @contextlib.asynccontextmanager
    async def lifespan(_):
        if collector is not None:
            collector.start()
        yield
        server.jobs.close()
        if collector is not None:
            collector.close()

    # no /docs or /redoc: FastAPI's pages load their scripts from a CDN
    app = FastAPI(title="journeymap", version=__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None,
                  description="The measured customer journey: the map, stages, the actual "
                              "journey and customers, as JSON. Errors: "
                              '{"error": {"status", "code", "message"}}. A 202 answer '
                              '({"status": "working", "progress": …}) means: ask again shortly.')
    _install_errors(app)
    app.state.server = server
    app.state.collector = collector
    app.add_middleware(Access, token=token, keys=ws.keys)
    if collector is not None:
        collect.install(app, collector)

    # ---- the JSON API --------------------------------------------------------------
    @app.get(**API, path="/api/meta", tags=["api"], summary="Journey, stages, personas, split options")
    def meta():
        return server.answer(("meta",), lambda: _meta(ws))

    @app.get(**API, path="/api/map", tags=["api"], summary="The measured map with leaks, findings, handoffs")
    def measured_map(persona: str | None = None, period: str | None = Query(None, pattern="^(week|month)$"),
                     by: str | None = None):
        server.check_persona(persona)
        return server.answer(("map", persona, period, by),
                             lambda: _dict(ws.measure(persona=persona, period=period, by=by)))

    @app.get(**API, path="/api/stage/{stage}", tags=["api"],
             summary="One stage: cohort trend, time to next, a breakdown, paths advanced vs dropped")
    def stage_detail(stage: str, persona: str | None = None, by: str | None = None,
                     period: str = Query("week", pattern="^(week|month)$"), exclude: str | None = None):
        server.check_stage(stage)
        server.check_persona(persona)
        hide = _names(exclude)
        return server.answer(("stage", stage, persona, by, period, tuple(hide or ())),
                             lambda: stage_data(ws, stage, persona=persona, by=by, period=period,
                                                exclude=hide))

    @app.get(**API, path="/api/paths", tags=["api"], summary="The actual journey: Sankey, paths, loops, exits")
    def actual(persona: str | None = None, exclude: str | None = None, depth: int = Query(6, ge=1, le=20),
               top: int = Query(20, ge=1, le=200)):
        server.check_persona(persona)
        hide = _names(exclude)
        return server.answer(("paths", persona, tuple(hide or ()), depth, top),
                             lambda: _dict(ws.paths(persona=persona, exclude=hide, depth=depth,
                                                    top=top)))

    @app.get(**API, path="/api/kpis", tags=["api"], summary="The journey KPIs, each with its definition")
    def journey_kpis():
        return server.answer(("kpis",), lambda: _dict(ws.kpis()))

    @app.get(**API, path="/api/customer/{user_id}", tags=["api"],
             summary="One customer (user id, or anonymous id): stage, stuck or not, timeline")
    def customer(user_id: str, limit: int = Query(500, ge=1, le=100_000)):
        def look_up():
            try:
                return _dict(ws.customer(user_id, limit=limit))
            except QueryError as exc:
                if str(exc).startswith("no customer"):
                    raise NotFound(str(exc)) from None
                raise
        return server.answer(("customer", user_id, limit), look_up)

    @app.get(**API, path="/api/stuck", tags=["api"],
             summary="Customers stuck in a stage now: the counts and one page of the list")
    def stuck(stage: str, offset: int = Query(0, ge=0), limit: int = Query(200, ge=1, le=100_000)):
        server.check_stage(stage)
        return server.answer(("stuck", stage, offset, limit),
                             lambda: _clean(ws.stuck(stage).to_dict(offset, limit)))

    @app.get(path="/api/stuck.csv", tags=["api"], summary="Customers stuck in a stage now, as CSV",
             response_class=Response,
             responses={**API["responses"], 200: {"content": {"text/csv": {}}, "description": "CSV"}})
    def stuck_csv(stage: str):
        server.check_stage(stage)
        ready = server.answer(("stuck-csv", stage), lambda: ws.stuck(stage).to_csv())
        if isinstance(ready, Response):
            return ready
        return Response(ready, media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="stuck-{stage}.csv"'})

    @app.get("/report.html", tags=["report"], summary="The self-contained HTML report",
             response_class=HTMLResponse, **API)
    def report(persona: str | None = None, period: str | None = Query(None, pattern="^(week|month)$")):
        server.check_persona(persona)
        from journeymap.web.report import report_html
        ready = server.answer(("report", persona, period),
                              lambda: report_html(ws, persona=persona, period=period))
        if isinstance(ready, Response):
            return ready
        return HTMLResponse(ready, headers={"Content-Disposition": 'attachment; filename="journey-map.html"'})

    # ---- pages and static files ----------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def map_page():
        return pages.page("map")

    @app.get("/stage/{stage}", response_class=HTMLResponse, include_in_schema=False)
    def stage_page(stage: str):
        server.check_stage(stage)
        return pages.page("stage")

    @app.get("/paths", response_class=HTMLResponse, include_in_schema=False)
    def paths_page():
        return pages.page("paths")

    @app.get("/kpis", response_class=HTMLResponse, include_in_schema=False)
    def kpis_page():
        return pages.page("kpis")

    @app.get("/customers", response_class=HTMLResponse, include_in_schema=False)
    def customers_page():
        return pages.page("customers")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        if name == "plotly.min.js":
            return FileResponse(pages.plotly_js_path(), media_type="text/javascript")
        path = Path(str(STATIC.joinpath(name)))
        if "/" in name or not path.is_file():
            raise NotFound(f"no static file '{name}'")
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        return FileResponse(path, media_type=kind)

    return app
