"""The web studio: ``GET /`` (the page) and ``GET /studio/{asset}`` (its scripts and styles).

The page is plain HTML, CSS and ES modules shipped inside the package (``service/api/web``), with no
build step and nothing fetched from elsewhere; it talks to the server only through the public
``/api/v1`` REST and WebSocket API, like any other client. This module knows which files make up
the page and how to serve them; it knows nothing about jobs, keys or models.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import Response

from ....errors import NotFound

router = APIRouter(tags=["studio"], include_in_schema=False)

_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Everything comes from this origin; audio plays from /api/v1/audio or decoded blobs.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def assets() -> dict[str, bytes]:
    """The page's files by name (read once from the installed package)."""
    folder = files("music_gen.service.api").joinpath("web")
    return {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and any(entry.name.endswith(ext) for ext in _MEDIA_TYPES)
    }


def _serve(name: str) -> Response:
    body = assets().get(name)
    if body is None:
        raise NotFound(f"no studio file {name!r}", details={"name": name})
    media_type = _MEDIA_TYPES["." + name.rsplit(".", 1)[-1]]
    return Response(body, media_type=media_type, headers=_HEADERS)


@router.get("/")
def studio_page() -> Response:
    return _serve("index.html")


@router.get("/studio/{name}")
def studio_asset(name: str) -> Response:
    return _serve(name)
