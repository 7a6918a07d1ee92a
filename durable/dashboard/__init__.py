"""``durable dashboard``: a local web page over a store, and the JSON API it reads (DESIGN 7a).

``create_app(store)`` builds the Starlette application: the pages (one static front end shipped
in the package: no CDN, it works offline) and the JSON API under ``/api``. ``serve`` runs it with
uvicorn. Needs the ``dashboard`` extra (Starlette and uvicorn).
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .._client import Client
from .._errors import ConfigurationError, DurableError
from ..stores.base import Store
from .api import ROUTES, ApiError, on_error

__all__ = ["LOCAL_HOSTS", "create_app", "serve"]

STATIC = Path(__file__).parent / "static"
#: the hosts the dashboard serves without a token
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: the cookie a browser keeps the token in, after opening ``/?token=...`` once
TOKEN_COOKIE = "durable_token"  # noqa: S105 (a cookie's name)

Next = Callable[[Request], Awaitable[Response]]


async def _page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return request.cookies.get(TOKEN_COOKIE)


class _Guard(BaseHTTPMiddleware):
    """Refuses what a local page must not take: with a token, any request without it (401);
    without one, a request for another host name (DNS rebinding); always, a POST from a page of
    another origin."""

    def __init__(self, app: Any, token: str | None) -> None:
        super().__init__(app)
        self.token = token

    async def dispatch(self, request: Request, call_next: Next) -> Response:
        if self.token is not None:
            given = request.query_params.get("token")
            if given is not None and request.method == "GET" and _same(given, self.token):
                response = RedirectResponse(request.url.path, status_code=303)
                response.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="strict")
                return response
            found = _bearer(request)
            if found is None or not _same(found, self.token):
                return JSONResponse(
                    {"error": "this dashboard needs Authorization: Bearer <token>"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        else:
            host = (request.url.hostname or "").strip("[]")
            if host not in LOCAL_HOSTS:
                return JSONResponse({"error": f"host {host!r} is not served"}, status_code=400)
        if request.method != "GET" and not _same_origin(request):
            return JSONResponse({"error": "cross-origin request refused"}, status_code=403)
        return await call_next(request)


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not from a browser page (curl, scripts, tests)
    return origin.split("://", 1)[-1] == request.headers.get("host", "")


def create_app(store: str | Store, *, token: str | None = None) -> Starlette:
    """The dashboard application over ``store`` (a URL or an open store object).

    With ``token``, every request needs ``Authorization: Bearer <token>`` (a browser opens
    ``/?token=<token>`` once: the token is then kept in a same-site cookie).
    """
    if token is not None and not token:
        raise ConfigurationError("token: give a non-empty token")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with Client(store) as client:
            app.state.client = client
            yield

    async def api_missing(request: Request) -> Response:
        return JSONResponse({"error": f"no API route {request.url.path}"}, status_code=404)

    routes = [
        *ROUTES,
        Route("/api/{rest:path}", api_missing, methods=["GET", "POST"]),
        Route("/", _page),
        Route("/instances/{instance_id:path}", _page),
        Route("/workers", _page),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(_Guard, token=token)],
        exception_handlers={ApiError: on_error, DurableError: on_error},
        lifespan=lifespan,
    )


def serve(
    store: str, *, host: str = "127.0.0.1", port: int = 8233, token: str | None = None
) -> None:
    """Run the dashboard until interrupted; another host than this machine's needs a token."""
    import uvicorn

    if host.strip("[]") not in LOCAL_HOSTS and not token:
        raise ConfigurationError(
            f"--host {host}: a dashboard reachable from other machines needs --token "
            "(or DURABLE_DASHBOARD_TOKEN)"
        )
    uvicorn.run(create_app(store, token=token), host=host, port=port, log_level="warning")
