"""The collector's HTTP routes: Segment's tracking API (``/v1/batch``, ``/v1/track``, …).

Existing Segment libraries point here unchanged (their host set to this server, their
write key one of `journeymap keys create`). The answer comes once the accepted
messages are on disk: ``{"success", "accepted", "rejected": [{"index", "messageId",
"reason"}]}``, 200 when at least one message was accepted or none was sent, 400 when
every message was refused, 413 over a limit (500 KB a request, 32 KB a message,
2,500 messages a batch). The checks and the journal are the collector's
(`Workspace.collector`); this module reads the body and maps the answer.
"""

from __future__ import annotations

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from journeymap.errors import IngestError
from journeymap.web.access import error

_BODY = {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True}
_ANSWER = {
    200: {"description": "Accepted (durably stored); rejected messages listed with their reason"},
    400: {"description": "Not JSON, not a batch, or every message refused"},
    401: {"description": "No write key, or an unknown or revoked one"},
    413: {"description": "Over a limit: 500 KB a request, 32 KB a message, 2,500 a batch"},
}


class TooLarge(Exception):
    pass


async def _body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it passes the request limit (never read whole)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(int(declared))
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(size)
        parts.append(chunk)
    return b"".join(parts)


def install(app: FastAPI, collector) -> None:
    """Add the /v1 routes, writing through `collector` (a started `store.collector.Collector`,
    whose KINDS and LIMITS the routes follow)."""
    limit = collector.LIMITS["request_bytes"]

    async def receive(request: Request, kind: str | None) -> JSONResponse:
        try:
            body = await _body(request, limit)
        except TooLarge as big:
            return error(413, "too_large", f"the request is over {limit // 1024} KB "
                         f"({big.args[0]} bytes or more): send smaller batches")
        try:
            receipt = await anyio.to_thread.run_sync(collector.accept, body, kind)
        except IngestError as exc:
            status = getattr(exc, "status", 400)
            return error(status, "too_large" if status == 413 else "invalid_body", exc.message)
        out = receipt.to_dict()
        if receipt.rejected and not receipt.accepted:
            first = receipt.rejected[0]
            out["error"] = {"status": 400, "code": "rejected",
                            "message": f"every message was refused; the first (index {first['index']}): "
                                       f"{first['reason']}"}
            return JSONResponse(out, status_code=400)
        return JSONResponse(out)

    @app.post("/v1/batch", tags=["collector"], summary="A batch of Segment messages",
              openapi_extra={"requestBody": _BODY}, responses=_ANSWER)
    async def batch(request: Request):
        return await receive(request, None)

    for kind in collector.KINDS:
        def route(kind=kind):
            async def one(request: Request):
                return await receive(request, kind)
            one.__name__ = f"segment_{kind}"
            return one
        app.add_api_route(f"/v1/{kind}", route(), methods=["POST"], tags=["collector"],
                          summary=f"One Segment {kind} message", openapi_extra={"requestBody": _BODY},
                          responses=_ANSWER)

    @app.get("/v1/status", tags=["collector"], summary="The collector: pending journal, stored, errors")
    def status():
        return collector.status()
