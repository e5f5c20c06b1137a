"""The one exception tree of music-gen.

Every error a user can cause or meet carries a stable string ``code`` that the CLI prints and
the HTTP service returns as ``{"error": {"code", "message", "details"}}``. Codes never change
meaning; new ones may be added.

    MusicGenError                      (code: INTERNAL_ERROR)
    ├── InvalidInput                   (INVALID_INPUT, or a specific INVALID_* code below)
    ├── ModelNotAvailable              (MODEL_NOT_AVAILABLE)
    │   └── UnknownModel               (UNKNOWN_MODEL)
    ├── UnsupportedFeature             (UNSUPPORTED_FEATURE)
    ├── GenerationFailed               (GENERATION_FAILED)
    └── ServiceError                   (the HTTP service's own conditions)
        ├── AuthenticationFailed       (UNAUTHORIZED, 401)
        ├── NotFound                   (NOT_FOUND, 404; TASK_NOT_FOUND, AUDIO_NOT_FOUND)
        ├── Conflict                   (CONFLICT, 409; IDEMPOTENCY_KEY_REUSED, NOT_CANCELLABLE)
        ├── PayloadTooLarge            (PAYLOAD_TOO_LARGE, 413)
        ├── RateLimited                (RATE_LIMITED, 429; details.retry_after seconds)
        └── ServiceUnavailable         (SERVICE_UNAVAILABLE, 503)

``InvalidInput`` codes: INVALID_PROMPT, INVALID_DURATION, INVALID_TEMPERATURE, INVALID_TOP_K,
INVALID_TOP_P, INVALID_GUIDANCE, INVALID_SEED, INVALID_AUDIO, INVALID_OUTPUT_PATH,
INVALID_FORMAT, INVALID_SAMPLE_RATE, INVALID_NORMALIZATION, INVALID_DEVICE, INVALID_DTYPE,
INVALID_INPUT (anything else); fine-tuning (``music_gen.train``): INVALID_DATASET,
INVALID_TRAINING_CONFIG, INVALID_ADAPTER, INVALID_ADAPTER_SCALE, ADAPTER_MISMATCH (an adapter
trained for another base model). A training run whose loss turns non-finite fails with
GenerationFailed code TRAINING_DIVERGED.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationFailed",
    "Conflict",
    "GenerationFailed",
    "InvalidInput",
    "ModelNotAvailable",
    "MusicGenError",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServiceError",
    "ServiceUnavailable",
    "UnknownModel",
    "UnsupportedFeature",
]


class MusicGenError(Exception):
    """Base of every music-gen error: a stable ``code``, a human ``message`` and ``details``."""

    default_code = "INTERNAL_ERROR"
    #: The HTTP status the service answers with for this error.
    http_status = 500

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        """The service's error body: ``{"error": {"code", "message", "details"}}``."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class InvalidInput(MusicGenError):
    """A parameter, prompt, audio input or output path that cannot be used as given."""

    default_code = "INVALID_INPUT"
    http_status = 422


class ModelNotAvailable(MusicGenError):
    """The model exists but cannot be loaded here (not cached and the hub is unreachable)."""

    default_code = "MODEL_NOT_AVAILABLE"
    http_status = 503


class UnknownModel(ModelNotAvailable):
    """The name is neither a known checkpoint, a hub id that exists, nor a checkpoint directory."""

    default_code = "UNKNOWN_MODEL"
    http_status = 404


class UnsupportedFeature(MusicGenError):
    """The loaded model cannot do what was asked (e.g. melody conditioning on a text-only model)."""

    default_code = "UNSUPPORTED_FEATURE"
    http_status = 422


class GenerationFailed(MusicGenError):
    """Generation started but could not finish (out of memory, a numerical failure, …)."""

    default_code = "GENERATION_FAILED"
    http_status = 500


class ServiceError(MusicGenError):
    """A condition of the HTTP service (and its SDK) rather than of generation itself."""

    default_code = "SERVICE_ERROR"
    http_status = 400


class AuthenticationFailed(ServiceError):
    """No API key, an unknown one, or a revoked one."""

    default_code = "UNAUTHORIZED"
    http_status = 401


class NotFound(ServiceError):
    """No such task, audio or route (or it belongs to another account)."""

    default_code = "NOT_FOUND"
    http_status = 404


class Conflict(ServiceError):
    """The request contradicts the resource's state (e.g. cancelling a finished task)."""

    default_code = "CONFLICT"
    http_status = 409


class PayloadTooLarge(ServiceError):
    default_code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class RateLimited(ServiceError):
    """Too many requests; ``details["retry_after"]`` says how many seconds to wait."""

    default_code = "RATE_LIMITED"
    http_status = 429


class ServiceUnavailable(ServiceError):
    default_code = "SERVICE_UNAVAILABLE"
    http_status = 503
