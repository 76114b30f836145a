"""Who may do what on the server: readers with the access token, writers with a write key.

- The collector's routes (``/v1/…``) take a write key only: HTTP Basic with the key as
  the user name (Segment's way) or ``Authorization: Bearer <key>``. A read token there
  is refused: it cannot write.
- Everything else (pages, ``/api/…``, ``/openapi.json``, the report) is open when the
  server runs without a token (it then binds loopback only: `check_bind`); with a
  token it needs that token, as ``Authorization: Bearer <token>`` or as the session
  cookie the login page sets. A write key there is refused: it cannot read.
- No CORS headers are sent: browsers keep other sites' pages from reading the API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from journeymap.errors import WorkspaceError

COOKIE = "journeymap_session"
WRITE_PREFIX = "/v1/"
OPEN_PATHS = ("/login", "/static/app.css")


def error(status: int, code: str, message: str, **headers) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "code": code, "message": message}},
                        status_code=status, headers=headers or None)


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str) -> None:
    """Refuse to serve beyond this machine without an access token."""
    if not token and not is_loopback(host):
        raise WorkspaceError(f"serve binds {host}, beyond this machine, and has no access token: "
                             "give one with --token or JOURNEYMAP_TOKEN (readers then need it; "
                             "the collector takes write keys from `journeymap keys create`)")


def presented(request: Request) -> str | None:
    """The secret a request carries: Bearer, or Basic's user name (Segment's way)."""
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            return None
        return user or None
    return None


def _session(token: str) -> str:
    return hmac.new(token.encode(), b"journeymap session", hashlib.sha256).hexdigest()


class Access:
    """The rules above as one ASGI middleware."""

    def __init__(self, app, *, token: str, keys):
        self.app, self.token, self.keys = app, token, keys

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope, receive)
        path = scope["path"]
        if path.startswith(WRITE_PREFIX):
            denied = self._writer(request)
        elif path == "/login":
            denied = await self._login(request)
        else:
            denied = self._reader(request)
        if denied is not None:
            return await denied(scope, receive, send)
        return await self.app(scope, receive, send)

    def _writer(self, request: Request) -> Response | None:
        secret = presented(request)
        if secret is None:
            return error(401, "unauthorized", "send a write key: HTTP Basic with the key as the user "
                         "name, or Authorization: Bearer <key>", **{"WWW-Authenticate": "Basic"})
        if self.keys.check(secret) is not None:
            return None
        if self.token and hmac.compare_digest(secret, self.token):
            return error(403, "forbidden", "the access token reads; writing needs a write key")
        return error(401, "unauthorized", "unknown or revoked write key")

    def _reader(self, request: Request) -> Response | None:
        secret = presented(request)
        if secret is not None and self.keys.check(secret) is not None:
            return error(403, "forbidden", "a write key cannot read: use the access token")
        if not self.token or request.url.path in OPEN_PATHS:
            return None
        cookie = request.cookies.get(COOKIE, "")
        if (secret and hmac.compare_digest(secret, self.token)) or \
                (cookie and hmac.compare_digest(cookie, _session(self.token))):
            return None
        if request.url.path.startswith("/api/") or request.url.path.endswith((".json", ".csv")) \
                or "text/html" not in request.headers.get("accept", ""):
            return error(401, "unauthorized", "this server needs its access token: "
                         "Authorization: Bearer <token>, or sign in at /login")
        return RedirectResponse("/login", status_code=303)

    async def _login(self, request: Request) -> Response:
        if request.method == "POST":
            body = (await request.body())[:4096].decode("utf-8", "replace")
            given = (parse_qs(body).get("token") or [""])[0]
            if self.token and hmac.compare_digest(given, self.token):
                out = RedirectResponse("/", status_code=303)
                out.set_cookie(COOKIE, _session(self.token), httponly=True, samesite="strict",
                               secure=request.url.scheme == "https")
                return out
            return HTMLResponse(_LOGIN.format(message="That is not the access token."), status_code=401)
        return HTMLResponse(_LOGIN.format(message="" if self.token else
                                          "This server has no access token: nothing to sign in to."))


_LOGIN = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>journeymap · sign in</title><link rel="stylesheet" href="/static/app.css"></head>
<body><main style="max-width:28rem;margin:4rem auto">
<h1>journeymap</h1><p>{message}</p>
<form method="post" action="/login">
<label for="token">Access token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button></form></main></body></html>"""
