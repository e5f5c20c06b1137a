"""``x-remaining-credits`` on every answer under ``/v1/`` (Segmind's blocking model routes):
errors, 405 and 404 included. The app runs this middleware on Segmind's paths only.

The value is the calling key's balance (``credits.remaining``), read after the route ran (a
v1 request spends after success), ``0`` for no or a bad key, ``unlimited`` when keys have no
balance. It is not a request: no rate limit is hit.
"""

from __future__ import annotations

from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ....errors import MusicGenError
from ...core.state import ServiceState
from .credits import remaining
from .settings import SegmindSettings

__all__ = ["RemainingCredits"]


def _lookup(state: ServiceState, settings: SegmindSettings, key: str | None) -> str:
    if settings.key_credits is None:
        return "unlimited"
    try:
        caller = state.keys.authenticate(key)
    except MusicGenError:
        caller = None
    return remaining(state.db, settings, caller)


class RemainingCredits:
    def __init__(self, app: ASGIApp, settings: SegmindSettings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: ServiceState = scope["app"].state.service
        key = Headers(scope=scope).get("x-api-key")

        async def send_with_credits(message: Message) -> None:
            if message["type"] == "http.response.start":
                value = await run_in_threadpool(_lookup, state, self.settings, key)
                MutableHeaders(scope=message)["x-remaining-credits"] = value
            await send(message)

        await self.app(scope, receive, send_with_credits)
