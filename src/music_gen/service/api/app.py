"""The FastAPI application: ``build_app(settings, adapters=...)`` wires state, routes and error
handling, and plugs in the adapters it is handed (``core.plugins.Adapter``): their routers, their
middleware (``OnPaths``: on their own paths only), their tables' migrations and their webhook
bodies. It imports no adapter: ``service/app.py`` (the composition root) lists them.

Every error leaves as ``{"error": {"code", "message", "details"}}`` with the library's stable
codes: ``MusicGenError`` subclasses carry their own status; request validation is 422
VALIDATION_ERROR (with pydantic's error list in details); unknown routes 404 NOT_FOUND; wrong
methods 405 METHOD_NOT_ALLOWED; bodies over the limit 413 PAYLOAD_TOO_LARGE (declared or
streamed); a database that does not answer 503 DATABASE_UNAVAILABLE with Retry-After; a value
the database cannot store (NUL in text) 422 INVALID_INPUT; anything unexpected 500
INTERNAL_ERROR without a stack trace (it goes to the log).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ... import __version__
from ...errors import MusicGenError, PayloadTooLarge, RateLimited
from ..core import plugins
from ..core.infra.settings import Settings
from ..core.plugins import Adapter, Middleware
from ..core.runners.backends import Backend
from ..core.state import ServiceState
from .deps import QUERY_KEY_SCOPE
from .responses import SafeJSONResponse as JSONResponse
from .routes import (
    audio,
    finetunes,
    generate,
    lora,
    multitrack,
    plans,
    songs,
    studio,
    system,
    ws,
)
from .schemas import ERROR_RESPONSES

__all__ = ["OnPaths", "build_app"]

log = logging.getLogger("music_gen.service")

_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    416: "RANGE_NOT_SATISFIABLE",
}

DATABASE_RETRY_AFTER = 5  # seconds a client is told to wait while the database is down


def _error(status: int, code: str, message: str, details: Any = None, **headers: str) -> Any:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(body, status_code=status, headers=headers or None)


class BodyLimit:
    """Refuse request bodies over the limit (declared or streamed) with 413; reference-track
    uploads (paths ending in ``/upload`` or ``/uploads``) have their own, larger limit, and so
    do fine-tuning datasets (``/finetunes``)."""

    def __init__(
        self, app: ASGIApp, limit: int, upload_limit: int, dataset_limit: int | None = None
    ) -> None:
        self.app, self.default, self.upload_limit = app, limit, upload_limit
        self.dataset_limit = dataset_limit or upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit = (
            self.upload_limit
            if path.endswith(("/upload", "/uploads"))
            else self.dataset_limit
            if path.endswith("/finetunes")
            else self.default
        )
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = _error(
                413, "PAYLOAD_TOO_LARGE", f"request body is over {limit} bytes",
                {"max_bytes": limit},
            )  # fmt: skip
            await response(scope, receive, send)
            return
        seen = 0
        over = False
        started = False

        async def limited() -> Message:
            nonlocal seen, over
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                over = True
                raise PayloadTooLarge(f"request body is over {limit} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            # a streamed (chunked) body went over the limit: whatever the app answers (its
            # body parser turns the exception into a parse error), the client gets the 413
            nonlocal started
            if over and not started:
                started = True
                response = _error(
                    413, "PAYLOAD_TOO_LARGE", f"request body is over {limit} bytes",
                    {"max_bytes": limit}, Connection="close",
                )  # fmt: skip
                await response(scope, receive, send)
                return
            if over:
                return
            started = True
            await send(message)

        try:
            await self.app(scope, limited, guarded_send)
        except PayloadTooLarge:
            if started:
                raise
            response = _error(413, "PAYLOAD_TOO_LARGE", f"request body is over {limit} bytes",
                              {"max_bytes": limit})  # fmt: skip
            await response(scope, receive, send)


class RedactQueryKeys:
    """Move ``?api_key=`` out of the query string (into the scope, where ``deps.ws_key`` finds
    it) before the server's access log reads the path: the log shows ``api_key=REDACTED``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"")
        if scope["type"] in ("http", "websocket") and b"api_key" in query:
            pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
            keys = [v for k, v in pairs if k == "api_key"]
            if keys:
                scope[QUERY_KEY_SCOPE] = keys[0]
                kept = [(k, "REDACTED" if k == "api_key" else v) for k, v in pairs]
                scope["query_string"] = urlencode(kept).encode()  # the same dict the server logs
        await self.app(scope, receive, send)


class OnPaths:
    """Run ``middleware`` (an adapter's) only on requests whose path starts with one of
    ``prefixes``; every other request goes straight to ``app``."""

    def __init__(self, app: ASGIApp, middleware: Middleware, prefixes: tuple[str, ...]) -> None:
        self.app, self.wrapped, self.prefixes = app, middleware(app), prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope["path"].startswith(self.prefixes):
            await self.wrapped(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _fastapi(**kwargs: Any) -> FastAPI:
    """The FastAPI app; ``/docs`` and ``/redoc`` load Swagger UI and ReDoc from the package
    (``fastapi-offline``, in the ``service`` extra: no CDN, the docs work offline), or from
    their CDN where it is not installed."""
    try:
        from fastapi_offline import FastAPIOffline
    except ImportError:
        return FastAPI(**kwargs)
    return FastAPIOffline(static_url="/docs-assets", **kwargs)


def build_app(
    settings: Settings | None = None,
    *,
    backend: Backend | None = None,
    webhook_transport: httpx.BaseTransport | None = None,
    adapters: Sequence[Adapter] = (),
) -> FastAPI:
    """The app for ``settings`` with ``adapters`` plugged in (``service.app.create_app`` hands
    it the vendor adapters)."""
    settings = settings or Settings()  # type: ignore[call-arg]
    adapters = list(adapters)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = ServiceState.build(
            settings, backend, webhook_transport, migrations=plugins.migrations_of(adapters)
        )
        plugins.plug_in(service, adapters)  # e.g. ModelsLab's webhook body for its jobs
        app.state.service = service
        service.start()
        log.info("music-gen service ready on %s (model %s)", settings.base_url, settings.model)
        log.info("studio: open %s/ in a browser", settings.base_url)
        try:
            yield
        finally:
            service.stop()

    app = _fastapi(
        title="music-gen",
        version=__version__,
        description="Self-hosted text-to-music generation (MusicGen) with durable async jobs.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url="/redoc",
        default_response_class=JSONResponse,  # SafeJSONResponse: text that always encodes
    )
    app.add_middleware(
        BodyLimit,
        limit=settings.max_body_bytes,
        upload_limit=settings.max_upload_bytes,
        dataset_limit=settings.max_dataset_bytes + 1_000_000,  # the multipart's own bytes
    )
    app.add_middleware(RedactQueryKeys)
    for module in (generate, multitrack, songs, system, audio, ws, plans, lora, finetunes):
        app.include_router(module.router, prefix="/api/v1", responses=ERROR_RESPONSES)
    app.state.adapters = {a.name: a for a in adapters}  # where their routes find their settings
    for adapter in adapters:  # each router carries its own prefix and documented errors
        app.include_router(adapter.router)
        for middleware in adapter.middleware:
            app.add_middleware(OnPaths, middleware=middleware, prefixes=adapter.paths)
    app.include_router(studio.router)  # the web studio at / (plain files, public API only)
    _install_error_handlers(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MusicGenError)
    async def library_error(request: Request, exc: MusicGenError) -> JSONResponse:
        headers = {}
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.details.get("retry_after", 60))
        if exc.http_status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if exc.http_status >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        response: JSONResponse = _error(
            exc.http_status, exc.code, exc.message, exc.details, **headers
        )
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg")), "type": e.get("type")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        response: JSONResponse = _error(
            422, "VALIDATION_ERROR", f"{where}: {first['msg']}", {"errors": errors}
        )
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # an unreadable body (not JSON, not UTF-8): a 422 like others
            response: JSONResponse = _error(422, "INVALID_BODY", str(exc.detail))
            return response
        code = _HTTP_CODES.get(exc.status_code, f"HTTP_{exc.status_code}")
        headers = dict(exc.headers or {})
        response = _error(exc.status_code, code, str(exc.detail), None, **headers)
        return response

    @app.exception_handler(sa_exc.DataError)
    async def unstorable(request: Request, exc: sa_exc.DataError) -> JSONResponse:
        text = str(exc.orig)
        message = (
            "text must not contain NUL (\\u0000) characters"
            if "NUL" in text
            else "a value in the request cannot be stored"
        )
        response: JSONResponse = _error(422, "INVALID_INPUT", message)
        return response

    @app.exception_handler(sa_exc.OperationalError)
    @app.exception_handler(sa_exc.InterfaceError)
    @app.exception_handler(sa_exc.TimeoutError)
    async def database_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("%s %s: database unavailable: %s", request.method, request.url.path,
                    type(exc).__name__)  # fmt: skip
        response: JSONResponse = _error(
            503, "DATABASE_UNAVAILABLE", "the database is not answering; retry shortly",
            {"retry_after": DATABASE_RETRY_AFTER}, **{"Retry-After": str(DATABASE_RETRY_AFTER)},
        )  # fmt: skip
        return response

    @app.exception_handler(UnicodeEncodeError)
    async def unencodable(request: Request, exc: UnicodeEncodeError) -> JSONResponse:
        # text no check caught (a lone surrogate) reached the database or a hash: the
        # request's fault, never a 500
        log.warning("%s %s: text that cannot be encoded", request.method, request.url.path)
        response: JSONResponse = _error(
            422, "INVALID_INPUT", "the request holds text that is not valid Unicode "
            "(a lone surrogate)",
        )  # fmt: skip
        return response

    @app.exception_handler(RecursionError)
    async def too_deep(request: Request, exc: RecursionError) -> JSONResponse:
        response: JSONResponse = _error(
            422, "INVALID_BODY", "the request body is nested too deeply"
        )
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        response: JSONResponse = _error(500, "INTERNAL_ERROR", "internal error; see server log")
        return response
