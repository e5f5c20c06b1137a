"""FastAPI dependencies: the service state and the authenticated, rate-limited caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..core.infra.auth import Caller
from ..core.state import ServiceState

__all__ = [
    "QUERY_KEY_SCOPE",
    "CallerDep",
    "IdempotencyKey",
    "StateDep",
    "authenticate",
    "caller_for_key",
    "get_state",
    "ws_caller",
    "ws_key",
]

_bearer = HTTPBearer(auto_error=False, description="An API key from `music-gen keys create`.")


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


def authenticate(state: ServiceState, key: str | None) -> Caller:
    if not state.settings.auth:
        caller = state.extras.get("local_caller")
        if caller is None:
            caller = state.extras["local_caller"] = state.keys.local_caller()
        return caller
    return state.keys.authenticate(key)


def caller_for_key(state: ServiceState, key: str | None) -> Caller:
    """The caller owning ``key`` (or the local account with auth off), rate limit applied."""
    caller = authenticate(state, key)
    state.hit_rate_limit(caller)
    return caller


def get_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    return caller_for_key(get_state(request), credentials.credentials if credentials else None)


def ws_key(websocket: WebSocket) -> str | None:
    """A WebSocket caller's key: ``Authorization: Bearer`` on the handshake, or ``?api_key=``
    (browsers cannot set headers on WebSockets; the app moves it out of the query string
    before anything logs the path, see ``app.RedactQueryKeys``)."""
    header = websocket.headers.get("authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else None
    hidden = websocket.scope.get(QUERY_KEY_SCOPE)
    return key or hidden or websocket.query_params.get("api_key")


def ws_caller(websocket: WebSocket) -> Caller:
    """The WebSocket caller (``ws_key``), rate limit applied."""
    state: ServiceState = websocket.app.state.service
    return caller_for_key(state, ws_key(websocket))


QUERY_KEY_SCOPE = "music_gen.api_key"


StateDep = Annotated[ServiceState, Depends(get_state)]
CallerDep = Annotated[Caller, Depends(get_caller)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Retrying a submit with the same key returns the first task, not a new one; "
        "the same key with another body is 409 IDEMPOTENCY_KEY_REUSED.",
    ),
]
