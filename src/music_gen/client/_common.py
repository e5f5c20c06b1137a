"""What the sync and async clients share: every route as a ``Call`` (method, path, body and how
to read the answer), the error answers and transport failures as ``music_gen.errors``, and the
WebSocket's messages. The two clients only send the calls (``_sync``, ``_async``).

Errors: an error answer ``{"error": {"code", "message", "details"}}`` becomes
``errors.error_for(code, status=...)`` (the one code → class table, declared in ``errors``);
a transport failure (httpx's or the WebSocket's) becomes the library error its cause stands for
(``_CAUSES``: the most specific cause first, as httpx maps httpcore's exceptions), with the
original exception chained and named in ``details["cause"]``. Nothing else leaks.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import io
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

import httpx

from .. import errors as E
from ..audio import load_audio
from ._types import (
    Adapter,
    Batch,
    EditRequest,
    GenerationRequest,
    Health,
    Model,
    MultitrackRequest,
    Readiness,
    StreamChunk,
    Task,
    TaskList,
    Upload,
    UploadList,
)

T = TypeVar("T")

DEFAULT_BASE_URL = "http://localhost:8000/api/v1"
DEFAULT_TIMEOUT = 30.0

#: a transport failure → the code it is raised as (``errors.error_for`` picks the class), and
#: for timeouts the phase; the most specific cause first
_CAUSES: tuple[tuple[type[BaseException], str, str | None], ...] = (
    (httpx.ConnectTimeout, "TIMEOUT", "connect"),
    (httpx.ReadTimeout, "TIMEOUT", "read"),
    (httpx.WriteTimeout, "TIMEOUT", "write"),
    (httpx.PoolTimeout, "TIMEOUT", "pool"),
    (httpx.TimeoutException, "TIMEOUT", None),
    (httpx.ConnectError, "CONNECTION_FAILED", None),
    (httpx.UnsupportedProtocol, "INVALID_URL", None),
    (httpx.InvalidURL, "INVALID_URL", None),
    (httpx.RemoteProtocolError, "BAD_RESPONSE", None),
    (httpx.DecodingError, "BAD_RESPONSE", None),
    (httpx.TooManyRedirects, "BAD_RESPONSE", None),
    (httpx.RequestError, "NETWORK_ERROR", None),
    (TimeoutError, "TIMEOUT", None),  # the WebSocket's opening handshake or a message
    (ConnectionRefusedError, "CONNECTION_FAILED", None),
    (OSError, "NETWORK_ERROR", None),  # unresolvable host, reset connection, ...
)


def transport_error(exc: BaseException) -> E.MusicGenError:
    """The library error for a transport failure of httpx or websockets."""
    if isinstance(exc, E.MusicGenError):
        return exc
    code, phase = _ws_cause(exc) or next(
        ((code, phase) for cause, code, phase in _CAUSES if isinstance(exc, cause)),
        ("NETWORK_ERROR", None),
    )
    details: dict[str, Any] = {"cause": type(exc).__name__}
    if phase:
        details["phase"] = phase
    message = str(exc) or type(exc).__name__
    response = getattr(exc, "response", None)  # the WebSocket's handshake, refused over HTTP
    status = getattr(response, "status_code", None)
    if isinstance(status, int) and status >= 400:
        code, message, said = _error_body(getattr(response, "body", b"") or b"", status)
        details.update(said, status=status)
    return E.error_for(code, message, status=status, details=details, default=E.TransportError)


def _error_body(body: bytes, status: int) -> tuple[str, str, dict[str, Any]]:
    """``(code, message, details)`` of an error answer's body, or of its HTTP status."""
    try:
        error = json.loads(body)["error"]
        return error["code"], error["message"] or error["code"], dict(error.get("details") or {})
    except (ValueError, KeyError, TypeError):
        return f"HTTP_{status}", body[:300].decode("utf-8", "replace") or f"HTTP {status}", {}


def _ws_cause(exc: BaseException) -> tuple[str, str | None] | None:
    """The code for a failure of the websockets library (imported only when streaming)."""
    module = type(exc).__module__
    if not module.startswith("websockets"):
        return None
    from websockets import exceptions as wse

    if isinstance(exc, wse.InvalidURI):
        return "INVALID_URL", None
    if isinstance(exc, wse.InvalidHandshake):
        return "BAD_RESPONSE", None
    return "NETWORK_ERROR", None  # ConnectionClosed and the rest


@contextlib.contextmanager
def wrapped() -> Iterator[None]:
    """Raise every transport failure inside as the library's error (chained)."""
    try:
        yield
    except E.MusicGenError:
        raise
    except (httpx.RequestError, httpx.InvalidURL, OSError) as exc:
        raise transport_error(exc) from exc
    except Exception as exc:
        if type(exc).__module__.startswith("websockets"):
            raise transport_error(exc) from exc
        raise


def raise_for(response: httpx.Response, ok: Sequence[int] = ()) -> None:
    """The library's error for an error answer (any shape: a proxy's HTML page too)."""
    if response.is_success or response.status_code in ok:
        return
    status = response.status_code
    code, message, details = _error_body(response.content, status)
    retry_after = response.headers.get("Retry-After")
    if retry_after is not None and "retry_after" not in details:
        with contextlib.suppress(ValueError):
            details["retry_after"] = float(retry_after)
    if status == 429:
        details.setdefault("retry_after", 1.0)
    raise E.error_for(code, message, status=status, details=details)


def failed(task: Task) -> E.MusicGenError | None:
    """The error of a task that ended without a result (None if it succeeded)."""
    if task.status == "failed":
        err = task.error or {}
        return E.error_for(
            err.get("code", "GENERATION_FAILED"), err.get("message", "the task failed"),
            details={**(err.get("details") or {}), "task_id": task.task_id},
            default=E.GenerationFailed,
        )  # fmt: skip
    if task.status == "cancelled":
        return E.error_for("CANCELLED", f"task {task.task_id} was cancelled",
                           details={"task_id": task.task_id})  # fmt: skip
    return None


def wait_timeout(task: Task, timeout: float | None) -> E.MusicGenError:
    return E.error_for(
        "TIMEOUT", f"task {task.task_id} still {task.status} after {timeout} s",
        details={"phase": "wait", "task_id": task.task_id, "status": task.status},
    )  # fmt: skip


@dataclass
class Call(Generic[T]):
    """One request: what to send and how to read the answer (``ok``: error statuses whose
    body is still the answer, e.g. readiness's 503)."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: dict[str, Any] | None = None
    json: Any = None
    files: Any = None  # multipart parts: a dict, or (name, file) pairs
    data: dict[str, str] | None = None  # multipart form fields
    idempotency_key: str | None = None
    ok: Sequence[int] = ()

    def answer(self, response: httpx.Response) -> T:
        raise_for(response, self.ok)
        try:
            return self.read(response)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # not this route's JSON
            raise_for(response)  # an ``ok`` status that is not the answer (a proxy's 503)
            raise E.error_for(
                "BAD_RESPONSE", f"{self.method} {self.path}: unreadable answer ({exc})",
                status=response.status_code, details={"cause": type(exc).__name__},
            ) from exc  # fmt: skip


def _json(read: Callable[[Any], T]) -> Callable[[httpx.Response], T]:
    return lambda response: read(response.json())


def _nothing(response: httpx.Response) -> None:
    return None


def as_request(
    request: GenerationRequest | str, duration: float | None, params: Mapping[str, Any]
) -> GenerationRequest:
    """A ``GenerationRequest`` from a prompt and keyword fields, or one given (fields in
    ``params`` replace its own)."""
    fields = {k: v for k, v in params.items() if v is not None}
    if duration is not None:
        fields["duration"] = duration
    if isinstance(request, GenerationRequest):
        return dataclasses.replace(request, **fields)
    return GenerationRequest(prompt=request, **fields)


def _body(request: GenerationRequest | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(request, GenerationRequest):
        return request.to_json()
    return GenerationRequest(**request).to_json()


FileInput = str | Path | bytes | IO[bytes]


def read_file(file: FileInput, filename: str | None) -> tuple[str, bytes]:
    """An upload's name and bytes, from a path, bytes or a binary file object."""
    if isinstance(file, str | Path):
        path = Path(file).expanduser()
        try:
            return filename or path.name, path.read_bytes()
        except OSError as exc:  # as load_audio says it for a path it cannot read
            raise E.error_for(
                "INVALID_AUDIO", f"audio file cannot be read: {str(path)!r} ({exc.strerror})",
                details={"path": str(path)},
            ) from exc  # fmt: skip
    if isinstance(file, bytes):
        return filename or "audio", file
    return filename or Path(getattr(file, "name", "audio")).name, file.read()


def _segment(text: str) -> str:
    """``text`` as one path segment (a name with a slash can not reach another route)."""
    from urllib.parse import quote

    return quote(text, safe="")


class Routes:
    """Every route of ``/api/v1`` as a ``Call``; the clients send them."""

    @staticmethod
    def health() -> Call[Health]:
        return Call("GET", "/health", _json(lambda d: Health(d["status"], d["version"])))

    @staticmethod
    def ready() -> Call[Readiness]:
        return Call("GET", "/health/ready", _json(Readiness.from_json), ok=(503,))

    @staticmethod
    def models() -> Call[list[Model]]:
        return Call("GET", "/models", _json(lambda d: [Model.from_json(m) for m in d["models"]]))

    @staticmethod
    def submit(request: GenerationRequest, idempotency_key: str | None) -> Call[Task]:
        return Call("POST", "/generate", _json(Task.from_json), json=_body(request),
                    idempotency_key=idempotency_key)  # fmt: skip

    @staticmethod
    def submit_batch(
        requests: Sequence[GenerationRequest | Mapping[str, Any]], idempotency_key: str | None
    ) -> Call[Batch]:
        body = {"requests": [_body(r) for r in requests]}
        return Call("POST", "/generate/batch", _json(Batch.from_json), json=body,
                    idempotency_key=idempotency_key)  # fmt: skip

    @staticmethod
    def batch(batch_id: str) -> Call[list[Task]]:
        return Call(
            "GET", f"/generate/batch/{batch_id}", _json(lambda d: TaskList.from_json(d).items)
        )

    @staticmethod
    def submit_multitrack(request: MultitrackRequest, idempotency_key: str | None) -> Call[Task]:
        return Call("POST", "/multi-instrument", _json(Task.from_json), json=request.to_json(),
                    idempotency_key=idempotency_key)  # fmt: skip

    @staticmethod
    def submit_edit(request: EditRequest) -> Call[Task]:
        return Call("POST", "/edit", _json(Task.from_json), json=request.to_json())

    @staticmethod
    def get(task_id: str) -> Call[Task]:
        return Call("GET", f"/generate/{task_id}", _json(Task.from_json))

    @staticmethod
    def list_tasks(status: str | None, limit: int, offset: int) -> Call[TaskList]:
        query: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            query["status"] = status
        return Call("GET", "/generate", _json(TaskList.from_json), params=query)

    @staticmethod
    def cancel(task_id: str) -> Call[Task]:
        return Call("DELETE", f"/generate/{task_id}", _json(Task.from_json))

    @staticmethod
    def delete(task_id: str) -> Call[None]:
        return Call("DELETE", f"/generate/{task_id}", _nothing, params={"purge": "true"})

    @staticmethod
    def download(what: Task | str, format: str | None, sample_rate: int | None) -> Call[bytes]:
        url = what.audio_url if isinstance(what, Task) else what
        if url is None:
            assert isinstance(what, Task)
            raise E.error_for(
                "AUDIO_NOT_FOUND", f"task {what.task_id} has no audio ({what.status})"
            )
        query = {k: v for k, v in (("format", format), ("sample_rate", sample_rate)) if v}
        return Call("GET", url, lambda r: r.content, params=query or None)

    @staticmethod
    def upload(name: str, data: bytes) -> Call[Upload]:
        files = {"file": (name, io.BytesIO(data), "application/octet-stream")}
        return Call("POST", "/uploads", _json(Upload.from_json), files=files)

    @staticmethod
    def uploads() -> Call[UploadList]:
        return Call("GET", "/uploads", _json(UploadList.from_json))

    @staticmethod
    def delete_upload(upload_id: str) -> Call[None]:
        return Call("DELETE", f"/uploads/{upload_id}", _nothing)

    @staticmethod
    def list_adapters(model: str | None) -> Call[list[Adapter]]:
        query = {} if model is None else {"model": model}
        parse = _json(lambda d: [Adapter.from_json(a) for a in d["adapters"]])
        return Call("GET", "/adapters", parse, params=query)

    @staticmethod
    def get_adapter(name: str) -> Call[Adapter]:
        return Call("GET", f"/adapters/{_segment(name)}", _json(Adapter.from_json))

    @staticmethod
    def delete_adapter(name: str) -> Call[None]:
        return Call("DELETE", f"/adapters/{_segment(name)}", _nothing)


class Base:
    """Settings and headers the two clients share."""

    def __init__(self, api_key: str | None, base_url: str, timeout: float | None) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        headers = {"User-Agent": "music-gen-sdk"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def ws_url(self) -> str:
        url = httpx.URL(self.base_url + "/ws/stream")
        return str(url.copy_with(scheme="wss" if url.scheme == "https" else "ws"))

    def ws_headers(self) -> dict[str, str]:
        return {k: v for k, v in self.headers().items() if k != "User-Agent"}


def deadline_of(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def left(deadline: float | None) -> float | None:
    """Seconds left before ``deadline`` (a timeout once it has passed)."""
    if deadline is None:
        return None
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise E.error_for("TIMEOUT", "the stream did not end in time",
                          details={"phase": "read"})  # fmt: skip
    return remaining


def stream_message(request: GenerationRequest) -> str:
    return json.dumps({"type": "generate", "stream": True, **request.to_json()})


def ws_event(text: str | bytes) -> dict[str, Any]:
    """A message of the WebSocket, which must be a JSON object."""
    try:
        event = json.loads(text)
    except ValueError as exc:
        raise E.error_for("BAD_RESPONSE", f"the stream sent a message that is not JSON ({exc})",
                          details={"cause": type(exc).__name__}) from exc  # fmt: skip
    if not isinstance(event, dict):
        raise E.error_for("BAD_RESPONSE", "the stream sent a message that is not an object")
    return event


def stream_event(event: dict[str, Any]) -> StreamChunk | bool | None:
    """A chunk, None at the end, True for messages to skip; raises the error of an error."""
    kind = event.get("type")
    if kind == "audio_chunk":
        try:
            audio = load_audio(base64.b64decode(event["data"]))
            return StreamChunk(int(event["index"]), audio, float(event["offset"]), event["task_id"])
        except (KeyError, ValueError, TypeError) as exc:
            message = f"the stream sent a chunk that cannot be read ({exc})"
            cause = {"cause": type(exc).__name__}
            raise E.error_for("BAD_RESPONSE", message, details=cause) from exc
    if kind == "error":
        err = event.get("error") or {}
        raise E.error_for(err.get("code", "STREAM_ERROR"), err.get("message", ""),
                          details=err.get("details") or {})  # fmt: skip
    if kind in ("complete", "cancelled"):
        return None
    return True
