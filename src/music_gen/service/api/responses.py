"""JSON that always encodes: text from a request or a stored row may hold a lone surrogate
(JSON can spell ``"\\ud800"``), which UTF-8 cannot encode. The intake refuses such text, but an
answer must never fail on it (a row stored before, an error message repeating a bad key):
``scrub`` replaces each lone surrogate with U+FFFD, and ``SafeJSONResponse`` (the app's
response class) scrubs only when plain encoding fails."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.responses import JSONResponse

__all__ = ["SafeJSONResponse", "scrub", "scrub_text"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def scrub_text(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)


def scrub(value: Any) -> Any:
    """``value`` (JSON-like) with every lone surrogate in its text and keys made U+FFFD."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


class SafeJSONResponse(JSONResponse):
    """``JSONResponse`` that never fails to encode text (see the module's docstring)."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(
            content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
        )
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            return scrub_text(text).encode("utf-8")
