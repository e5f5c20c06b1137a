"""``APIClient`` / ``AsyncAPIClient``: the music-gen REST and WebSocket API from Python.

    client = APIClient(api_key="mgk_…", base_url="http://localhost:8000/api/v1")
    result = client.generate("Jazz piano", duration=30)      # submit, wait, download
    result.save("jazz.wav")

Built on httpx; pass ``transport=`` (e.g. ``httpx.MockTransport`` or ``httpx.ASGITransport``)
to test without a network. Every error answer becomes the library's exception of the same code
(``music_gen.errors``), so ``except RateLimited`` works the same against a server as in-process.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .. import errors as E
from ..audio import AudioOutput, load_audio

__all__ = ["APIClient", "AsyncAPIClient", "GenerationResult", "StreamChunk", "Task"]

DEFAULT_BASE_URL = "http://localhost:8000/api/v1"
_BY_CODE_PREFIX: list[tuple[str, type[E.MusicGenError]]] = [
    ("INVALID_", E.InvalidInput),
    ("VALIDATION_ERROR", E.InvalidInput),
    ("STORAGE_QUOTA_EXCEEDED", E.StorageQuotaExceeded),
    ("UNKNOWN_MODEL", E.UnknownModel),
    ("MODEL_NOT_AVAILABLE", E.ModelNotAvailable),
    ("UNSUPPORTED_FEATURE", E.UnsupportedFeature),
    ("GENERATION_FAILED", E.GenerationFailed),
    ("OUT_OF_MEMORY", E.GenerationFailed),
]
_BY_STATUS: dict[int, type[E.MusicGenError]] = {
    401: E.AuthenticationFailed,
    404: E.NotFound,
    409: E.Conflict,
    413: E.PayloadTooLarge,
    422: E.InvalidInput,
    429: E.RateLimited,
    503: E.ServiceUnavailable,
}


def error_from(code: str, message: str, details: dict[str, Any], status: int) -> E.MusicGenError:
    cls: type[E.MusicGenError] = _BY_STATUS.get(status, E.MusicGenError)
    for prefix, candidate in _BY_CODE_PREFIX:
        if code.startswith(prefix):
            cls = candidate
            break
    return cls(message, code=code, details=details)


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body = response.json()["error"]
        code, message, details = body["code"], body["message"], body.get("details") or {}
    except (ValueError, KeyError, TypeError):
        code, message, details = f"HTTP_{response.status_code}", response.text[:300], {}
    if response.status_code == 429 and "retry_after" not in details:
        details["retry_after"] = float(response.headers.get("Retry-After", 1))
    raise error_from(code, message, details, response.status_code)


@dataclass
class Task:
    """A job as the server reports it (``GET /generate/{id}``)."""

    task_id: str
    status: str
    progress: float = 0.0
    audio_url: str | None = None
    duration: float | None = None
    error: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    eta: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Task:
        return cls(
            task_id=data["task_id"],
            status=data["status"],
            progress=float(data.get("progress") or 0.0),
            audio_url=data.get("audio_url"),
            duration=data.get("duration"),
            error=data.get("error"),
            metadata=data.get("metadata") or {},
            eta=data.get("eta"),
            raw=data,
        )

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled")


@dataclass
class GenerationResult:
    """A finished generation: the task and its audio bytes (in the format asked for)."""

    task: Task
    data: bytes
    format: str

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.data)
        return target

    def audio(self) -> AudioOutput:
        return load_audio(self.data)


@dataclass
class StreamChunk:
    index: int
    audio: AudioOutput
    offset: float
    task_id: str


def _finished(task: Task) -> Task:
    if task.status == "failed":
        err = task.error or {}
        raise error_from(
            err.get("code", "GENERATION_FAILED"), err.get("message", "failed"),
            err.get("details") or {}, 500,
        )  # fmt: skip
    if task.status == "cancelled":
        raise E.Conflict(f"task {task.task_id} was cancelled", code="CANCELLED")
    return task


def _ws_url(base_url: str, api_key: str | None) -> str:
    url = httpx.URL(base_url.rstrip("/") + "/ws/stream")
    scheme = "wss" if url.scheme == "https" else "ws"
    return str(url.copy_with(scheme=scheme))


class _Base:
    def __init__(self, api_key: str | None, base_url: str) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")

    def _headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        headers = {"User-Agent": "music-gen-sdk"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    @staticmethod
    def _body(prompt: str, duration: float, **params: Any) -> dict[str, Any]:
        return {
            "prompt": prompt,
            "duration": duration,
            **{k: v for k, v in params.items() if v is not None},
        }


class APIClient(_Base):
    """Synchronous client. ``transport`` is any ``httpx.BaseTransport``."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(api_key, base_url)
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> APIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        idem = kwargs.pop("idempotency_key", None)
        response = self.http.request(method, path, headers=self._headers(idem), **kwargs)
        _raise_for(response)
        return response

    def submit(
        self, prompt: str, duration: float = 10.0, *, idempotency_key: str | None = None,
        **params: Any,
    ) -> Task:  # fmt: skip
        """Queue a generation; returns at once with the task id and ETA."""
        body = self._body(prompt, duration, **params)
        data = self._request("POST", "/generate", json=body, idempotency_key=idempotency_key)
        return Task.from_json(data.json())

    def get(self, task_id: str) -> Task:
        return Task.from_json(self._request("GET", f"/generate/{task_id}").json())

    def list(self, status: str | None = None, limit: int = 20, offset: int = 0) -> list[Task]:
        query: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            query["status"] = status
        items = self._request("GET", "/generate", params=query).json()["items"]
        return [Task.from_json(item) for item in items]

    def cancel(self, task_id: str) -> Task:
        return Task.from_json(self._request("DELETE", f"/generate/{task_id}").json())

    def wait(
        self, task_id: str, *, poll: float = 1.0, timeout: float | None = None,
        progress: Callable[[Task], None] | None = None,
    ) -> Task:  # fmt: skip
        """Poll until the task ends; ``progress(task)`` is called on every poll."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                task = self.get(task_id)
            except E.RateLimited as exc:  # polling must not fail a long job: wait and go on
                time.sleep(float(exc.details.get("retry_after", 1)))
                continue
            if progress is not None:
                progress(task)
            if task.done:
                return _finished(task)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} still {task.status} after {timeout} s")
            time.sleep(poll)

    def download(self, task: Task, format: str | None = None) -> bytes:
        if task.audio_url is None:
            raise E.NotFound(f"task {task.task_id} has no audio")
        params = {"format": format} if format else None
        return self._request("GET", task.audio_url, params=params).content

    def generate(
        self, prompt: str, duration: float = 10.0, *, poll: float = 1.0,
        timeout: float | None = None, progress: Callable[[Task], None] | None = None,
        **params: Any,
    ) -> GenerationResult:  # fmt: skip
        """Submit, wait (calling ``progress``), and download the result."""
        task = self.wait(
            self.submit(prompt, duration, **params).task_id,
            poll=poll, timeout=timeout, progress=progress,
        )  # fmt: skip
        fmt = params.get("format") or "wav"
        return GenerationResult(task, self.download(task), fmt)

    def stream(self, prompt: str, duration: float = 10.0, **params: Any) -> Iterator[StreamChunk]:
        """Audio chunks over the WebSocket as they are generated; ends at completion."""
        from websockets.sync.client import connect

        message = {"type": "generate", "stream": True, **self._body(prompt, duration, **params)}
        with connect(
            _ws_url(self.base_url, self.api_key),
            additional_headers={k: v for k, v in self._headers().items() if k != "User-Agent"},
        ) as ws:
            ws.send(json.dumps(message))
            while True:
                chunk = _stream_event(json.loads(ws.recv()))
                if chunk is None:
                    return
                if isinstance(chunk, StreamChunk):
                    yield chunk


def _stream_event(event: dict[str, Any]) -> StreamChunk | bool | None:
    """A chunk, None at the end, True for messages to skip; raises on errors."""
    kind = event.get("type")
    if kind == "audio_chunk":
        audio = load_audio(base64.b64decode(event["data"]))
        return StreamChunk(event["index"], audio, float(event["offset"]), event["task_id"])
    if kind == "error":
        err = event.get("error") or {}
        raise error_from(err.get("code", "STREAM_ERROR"), err.get("message", ""),
                         err.get("details") or {}, 500)  # fmt: skip
    if kind in ("complete", "cancelled"):
        return None
    return True


class AsyncAPIClient(_Base):
    """The same API with ``async`` methods. ``transport`` is an ``httpx.AsyncBaseTransport``."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(api_key, base_url)
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncAPIClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        idem = kwargs.pop("idempotency_key", None)
        response = await self.http.request(method, path, headers=self._headers(idem), **kwargs)
        _raise_for(response)
        return response

    async def submit(
        self, prompt: str, duration: float = 10.0, *, idempotency_key: str | None = None,
        **params: Any,
    ) -> Task:  # fmt: skip
        body = self._body(prompt, duration, **params)
        response = await self._request(
            "POST", "/generate", json=body, idempotency_key=idempotency_key
        )
        return Task.from_json(response.json())

    async def get(self, task_id: str) -> Task:
        return Task.from_json((await self._request("GET", f"/generate/{task_id}")).json())

    async def list(self, status: str | None = None, limit: int = 20, offset: int = 0) -> list[Task]:
        query: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            query["status"] = status
        items = (await self._request("GET", "/generate", params=query)).json()["items"]
        return [Task.from_json(item) for item in items]

    async def cancel(self, task_id: str) -> Task:
        return Task.from_json((await self._request("DELETE", f"/generate/{task_id}")).json())

    async def wait(
        self, task_id: str, *, poll: float = 1.0, timeout: float | None = None,
        progress: Callable[[Task], None] | None = None,
    ) -> Task:  # fmt: skip
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                task = await self.get(task_id)
            except E.RateLimited as exc:  # polling must not fail a long job: wait and go on
                await asyncio.sleep(float(exc.details.get("retry_after", 1)))
                continue
            if progress is not None:
                progress(task)
            if task.done:
                return _finished(task)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} still {task.status} after {timeout} s")
            await asyncio.sleep(poll)

    async def download(self, task: Task, format: str | None = None) -> bytes:
        if task.audio_url is None:
            raise E.NotFound(f"task {task.task_id} has no audio")
        params = {"format": format} if format else None
        return (await self._request("GET", task.audio_url, params=params)).content

    async def generate(
        self, prompt: str, duration: float = 10.0, *, poll: float = 1.0,
        timeout: float | None = None, progress: Callable[[Task], None] | None = None,
        **params: Any,
    ) -> GenerationResult:  # fmt: skip
        submitted = await self.submit(prompt, duration, **params)
        task = await self.wait(submitted.task_id, poll=poll, timeout=timeout, progress=progress)
        return GenerationResult(task, await self.download(task), params.get("format") or "wav")

    async def stream(
        self, prompt: str, duration: float = 10.0, **params: Any
    ) -> AsyncIterator[StreamChunk]:
        from websockets.asyncio.client import connect

        message = {"type": "generate", "stream": True, **self._body(prompt, duration, **params)}
        headers = {k: v for k, v in self._headers().items() if k != "User-Agent"}
        async with connect(_ws_url(self.base_url, self.api_key), additional_headers=headers) as ws:
            await ws.send(json.dumps(message))
            while True:
                chunk = _stream_event(json.loads(await ws.recv()))
                if chunk is None:
                    return
                if isinstance(chunk, StreamChunk):
                    yield chunk
