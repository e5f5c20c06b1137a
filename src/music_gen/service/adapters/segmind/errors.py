"""Segmind's error envelope ``{"error": "<message>"}`` (plus our stable ``code``) and its
status codes: validation 400 (not 422), 401 with a message that says to send ``x-api-key``,
406 not enough credits, the rest as the library's error says."""

from __future__ import annotations

from ....errors import AuthenticationFailed, MusicGenError, ServiceError
from ...api.responses import SafeJSONResponse as JSONResponse

__all__ = ["NotEnoughCredits", "segmind_error"]


class NotEnoughCredits(ServiceError):
    default_code = "NOT_ENOUGH_CREDITS"
    http_status = 406


def segmind_error(exc: MusicGenError, **headers: str) -> JSONResponse:
    status = 400 if exc.http_status == 422 else exc.http_status
    if isinstance(exc, AuthenticationFailed):
        exc = AuthenticationFailed(
            "Missing x-api-key in header: send your key as `x-api-key: <key>` (create one "
            "with `music-gen keys create --name NAME`)"
            if exc.message.startswith("missing")
            else "Unauthorized. API key is invalid or has been revoked"
        )
    retry = exc.details.get("retry_after") if isinstance(exc.details, dict) else None
    if retry is not None:
        headers["Retry-After"] = str(retry)
    body = {"error": exc.message, "code": exc.code}
    return JSONResponse(body, status_code=status, headers=headers or None)
