"""Segmind's error envelope and status codes, from the library's exceptions."""

from __future__ import annotations

import json

import pytest

from music_gen.errors import AuthenticationFailed, InvalidInput, NotFound, RateLimited
from music_gen.service.adapters.segmind.errors import NotEnoughCredits, segmind_error


def _body(response) -> dict:
    return json.loads(response.body)


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (InvalidInput("duration: too long", code="VALIDATION_ERROR"), 400, "VALIDATION_ERROR"),
        (NotFound("Model not found", code="MODEL_NOT_FOUND"), 404, "MODEL_NOT_FOUND"),
        (NotEnoughCredits("Insufficient credits"), 406, "NOT_ENOUGH_CREDITS"),
    ],
)
def test_codes_and_envelope(exc, status, code):
    response = segmind_error(exc)
    assert response.status_code == status
    assert _body(response) == {"error": exc.message, "code": code}


def test_a_missing_key_is_told_to_send_x_api_key():
    missing = _body(segmind_error(AuthenticationFailed("missing API key: send `Bearer`")))
    assert "x-api-key" in missing["error"] and "Bearer" not in missing["error"]
    invalid = _body(segmind_error(AuthenticationFailed("invalid or revoked API key")))
    assert invalid["error"].startswith("Unauthorized") and invalid["code"] == "UNAUTHORIZED"


def test_rate_limits_carry_retry_after():
    response = segmind_error(RateLimited("slow down", details={"retry_after": 7}))
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
