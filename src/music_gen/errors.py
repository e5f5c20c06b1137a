"""The one exception tree of music-gen, and the one table from codes back to its classes.

Every error a user can cause or meet carries a stable string ``code`` that the CLI prints and
the HTTP service returns as ``{"error": {"code", "message", "details"}}``. Codes never change
meaning; new ones may be added. Each class declares the codes it is raised with (``codes``,
``code_prefixes``) and the HTTP statuses it stands for (``statuses``); ``error_for`` reads those
declarations to turn a code (and status) that came over the wire back into the most specific
class, so the SDK raises what the library would have raised in-process.

    MusicGenError                      (INTERNAL_ERROR, 500)
    ├── InvalidInput                   (INVALID_*, VALIDATION_ERROR, UNSUPPORTED_TASK; 422)
    ├── ModelNotAvailable              (MODEL_NOT_AVAILABLE, SOUNDFONT_NOT_FOUND)
    │   ├── UnknownModel               (UNKNOWN_MODEL)
    │   └── LicenseRefused             (LICENSE_NOT_COMMERCIAL, 403)
    ├── UnsupportedFeature             (UNSUPPORTED_FEATURE, NO_MIDI, ...)
    ├── GenerationFailed               (GENERATION_FAILED, OUT_OF_MEMORY, CANCELLED)
    └── ServiceError                   (the HTTP service's own conditions; other 4xx)
        ├── AuthenticationFailed       (UNAUTHORIZED, FORBIDDEN; 401, 403)
        ├── NotFound                   (NOT_FOUND, TASK_NOT_FOUND, AUDIO_NOT_FOUND, ...; 404)
        ├── Conflict                   (CONFLICT, IDEMPOTENCY_KEY_REUSED, NOT_CANCELLABLE, ...)
        ├── PayloadTooLarge            (PAYLOAD_TOO_LARGE, 413)
        │   └── StorageQuotaExceeded   (STORAGE_QUOTA_EXCEEDED, 413; details: usage, quota)
        ├── RateLimited                (RATE_LIMITED, 429; details.retry_after seconds)
        └── ServiceUnavailable         (SERVICE_UNAVAILABLE, DATABASE_UNAVAILABLE, ...; 502-504)
            └── TransportError         (SDK: CONNECTION_FAILED, NETWORK_ERROR, BAD_RESPONSE)
                └── Timeout            (SDK: TIMEOUT; also a builtin ``TimeoutError``)

``InvalidInput`` codes: INVALID_PROMPT, INVALID_DURATION, INVALID_TEMPERATURE, INVALID_TOP_K,
INVALID_TOP_P, INVALID_GUIDANCE, INVALID_SEED, INVALID_AUDIO, INVALID_OUTPUT_PATH,
INVALID_FORMAT, INVALID_SAMPLE_RATE, INVALID_NORMALIZATION, INVALID_DEVICE, INVALID_DTYPE,
INVALID_INPUT (anything else); fine-tuning (``music_gen.train``): INVALID_DATASET,
INVALID_TRAINING_CONFIG, INVALID_ADAPTER, INVALID_ADAPTER_SCALE, ADAPTER_MISMATCH (an adapter
trained for another base model). A training run whose loss turns non-finite fails with
GenerationFailed code TRAINING_DIVERGED.

``TransportError`` and ``Timeout`` are raised by the SDK (``music_gen.client``) where the server
could not be reached or did not answer in time; they never come from the server itself.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthenticationFailed",
    "Conflict",
    "GenerationFailed",
    "InvalidInput",
    "LicenseRefused",
    "ModelNotAvailable",
    "MusicGenError",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServiceError",
    "ServiceUnavailable",
    "StorageQuotaExceeded",
    "Timeout",
    "TransportError",
    "UnknownModel",
    "UnsupportedFeature",
    "error_class",
    "error_for",
]


class MusicGenError(Exception):
    """Base of every music-gen error: a stable ``code``, a human ``message`` and ``details``."""

    default_code = "INTERNAL_ERROR"
    #: The HTTP status the service answers with for this error.
    http_status = 500
    # What each class declares itself (never inherited): ``error_for`` reads these.
    #: Other codes this class is raised with (``error_for`` maps each back to this class).
    codes: ClassVar[tuple[str, ...]] = ()
    #: Code prefixes that mean this class (the longest matching prefix wins).
    code_prefixes: ClassVar[tuple[str, ...]] = ()
    #: HTTP statuses that mean this class when the code itself is unknown.
    statuses: ClassVar[tuple[int, ...]] = (500,)

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
    code_prefixes = ("INVALID_",)
    # a task the model cannot run as given; the service's own: a body of the wrong types or
    # shape, and HTTP's request refusals
    codes = (
        "UNSUPPORTED_TASK", "VALIDATION_ERROR", "BAD_REQUEST", "NOT_ACCEPTABLE",
        "UNSUPPORTED_MEDIA_TYPE", "RANGE_NOT_SATISFIABLE",
        "ADAPTER_MISMATCH",  # an adapter trained for another base model
    )  # fmt: skip
    statuses = (400, 406, 415, 416, 422)


class ModelNotAvailable(MusicGenError):
    """The model exists but cannot be loaded here (not cached and the hub is unreachable)."""

    default_code = "MODEL_NOT_AVAILABLE"
    http_status = 503
    codes = ("SOUNDFONT_NOT_FOUND",)


class UnknownModel(ModelNotAvailable):
    """The name is neither a known checkpoint, a hub id that exists, nor a checkpoint directory."""

    default_code = "UNKNOWN_MODEL"
    http_status = 404


class LicenseRefused(ModelNotAvailable):
    """The model's weights are under a licence this server may not use (a commercial-only server
    and a non-commercial licence); ``details["license"]`` names it."""

    default_code = "LICENSE_NOT_COMMERCIAL"
    http_status = 403


class UnsupportedFeature(MusicGenError):
    """The loaded model cannot do what was asked (e.g. melody conditioning on a text-only model)."""

    default_code = "UNSUPPORTED_FEATURE"
    http_status = 422
    codes = ("NO_MIDI", "SERVICE_NOT_INSTALLED", "RAY_NOT_INSTALLED", "LOOP_NOT_INSTRUMENTAL")


class GenerationFailed(MusicGenError):
    """Generation started but could not finish (out of memory, a numerical failure, …)."""

    default_code = "GENERATION_FAILED"
    http_status = 500
    codes = ("OUT_OF_MEMORY", "CANCELLED", "TRAINING_DIVERGED")


class ServiceError(MusicGenError):
    """A condition of the HTTP service (and its SDK) rather than of generation itself."""

    default_code = "SERVICE_ERROR"
    http_status = 400


class AuthenticationFailed(ServiceError):
    """No API key, an unknown one, or a revoked one."""

    default_code = "UNAUTHORIZED"
    http_status = 401
    codes = ("FORBIDDEN",)
    statuses = (401, 403)


class NotFound(ServiceError):
    """No such task, audio or route (or it belongs to another account)."""

    default_code = "NOT_FOUND"
    http_status = 404
    codes = (
        "TASK_NOT_FOUND", "AUDIO_NOT_FOUND", "UPLOAD_NOT_FOUND", "REQUEST_NOT_FOUND",
        "MODEL_NOT_FOUND", "INVALID_LINK", "LINK_EXPIRED", "ADAPTER_NOT_FOUND",
    )  # fmt: skip
    statuses = (404, 410)


class Conflict(ServiceError):
    """The request contradicts the resource's state (e.g. cancelling a finished task)."""

    default_code = "CONFLICT"
    http_status = 409
    codes = (
        "IDEMPOTENCY_KEY_REUSED", "NOT_CANCELLABLE", "NOT_DELETABLE",
        "ADAPTER_EXISTS", "ADAPTER_SHARED", "ADAPTER_NOT_READY",  # the server's LoRA adapters
        "FINETUNE_LIMIT_REACHED",  # an account's fine-tuning jobs at once
    )  # fmt: skip
    statuses = (409,)


class PayloadTooLarge(ServiceError):
    default_code = "PAYLOAD_TOO_LARGE"
    http_status = 413
    statuses = (413,)


class StorageQuotaExceeded(PayloadTooLarge):
    """The account keeps as much as it may (``details``: ``usage`` and ``quota`` in bytes,
    ``needed`` for this request): delete uploads or results first. A 413, not a 507: the
    request is too large *for this account*, the client's to fix, never one to retry as is."""

    default_code = "STORAGE_QUOTA_EXCEEDED"


class RateLimited(ServiceError):
    """Too many requests; ``details["retry_after"]`` says how many seconds to wait."""

    default_code = "RATE_LIMITED"
    http_status = 429
    statuses = (429,)


class ServiceUnavailable(ServiceError):
    """The service cannot answer now (its database or storage is down); retry later."""

    default_code = "SERVICE_UNAVAILABLE"
    http_status = 503
    codes: ClassVar[tuple[str, ...]] = (
        "DATABASE_UNAVAILABLE",
        "STORAGE_UNAVAILABLE",
        "STORAGE_FULL",
        "CREDITS_UNAVAILABLE",
        "RAY_UNAVAILABLE",
        "RAY_AUTH_REQUIRED",
    )
    statuses = (502, 503, 504)


class TransportError(ServiceUnavailable):
    """The SDK could not reach the server, or lost the connection, or could not read its
    answer (``details["cause"]`` names the transport's own exception)."""

    default_code = "NETWORK_ERROR"
    codes: ClassVar[tuple[str, ...]] = ("CONNECTION_FAILED", "BAD_RESPONSE")


class Timeout(TransportError, TimeoutError):
    """The server did not answer in time (``details["phase"]``: connect, read, write, pool,
    or wait: a task that had not ended when ``wait(timeout=)`` ran out)."""

    default_code = "TIMEOUT"
    http_status = 504


def _tree(root: type[MusicGenError] = MusicGenError) -> list[type[MusicGenError]]:
    """The classes of this module's tree, parents before children."""
    found = [root]
    for sub in root.__subclasses__():
        if sub.__module__ == __name__:
            found += _tree(sub)
    return found


def _tables() -> tuple[
    dict[str, type[MusicGenError]],
    list[tuple[str, type[MusicGenError]]],
    dict[int, type[MusicGenError]],
]:
    exact: dict[str, type[MusicGenError]] = {}
    prefixes: list[tuple[str, type[MusicGenError]]] = []
    statuses: dict[int, type[MusicGenError]] = {}
    for cls in dict.fromkeys(_tree()):  # (Timeout's two parents do not list it twice)
        own = vars(cls)  # what the class itself declares, not what it inherits
        for code in (own.get("default_code"), *own.get("codes", ())):
            if code is None:
                continue
            if code in exact:
                raise TypeError(f"code {code} is declared by {exact[code]} and {cls}")
            exact[code] = cls
        prefixes += [(prefix, cls) for prefix in own.get("code_prefixes", ())]
        for status in own.get("statuses", ()):
            if status in statuses:
                raise TypeError(f"HTTP {status} is declared by {statuses[status]} and {cls}")
            statuses[status] = cls
    prefixes.sort(key=lambda pair: -len(pair[0]))
    return exact, prefixes, statuses


_BY_CODE, _BY_PREFIX, _BY_STATUS = _tables()


def error_class(
    code: str, status: int | None = None, default: type[MusicGenError] = MusicGenError
) -> type[MusicGenError]:
    """The most specific class for ``code``: the class that declares it, else the one with the
    longest matching prefix, else the one standing for HTTP ``status`` (``ServiceError`` for
    any other 4xx), else ``default``."""
    if code in _BY_CODE:
        return _BY_CODE[code]
    for prefix, cls in _BY_PREFIX:
        if code.startswith(prefix):
            return cls
    if status is not None:
        if status in _BY_STATUS:
            return _BY_STATUS[status]
        if 400 <= status < 500:
            return ServiceError
    return default


def error_for(
    code: str,
    message: str = "",
    *,
    status: int | None = None,
    details: dict[str, Any] | None = None,
    default: type[MusicGenError] = MusicGenError,
) -> MusicGenError:
    """The error a ``{"code", "message", "details"}`` answer (with HTTP ``status``) stands for,
    as the most specific class of this tree (see ``error_class``), keeping its code."""
    cls = error_class(code, status, default)
    return cls(message or code, code=code, details=details)
