"""``AsyncAPIClient``: ``APIClient``'s methods, ``async``, over ``httpx.AsyncClient`` and the
websockets asyncio client.

    async with AsyncAPIClient(api_key="mgk_…") as client:
        result = await client.generate("Jazz piano", duration=30)
        async for chunk in client.stream("Ambient pads", duration=10):
            ...
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from .. import errors as E
from ._common import (
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    Base,
    Call,
    FileInput,
    Routes,
    as_request,
    deadline_of,
    failed,
    left,
    read_file,
    stream_event,
    stream_message,
    wait_timeout,
    wrapped,
    ws_event,
)
from ._finetune import AsyncFinetunes
from ._types import (
    Adapter,
    Batch,
    EditRequest,
    GenerationRequest,
    GenerationResult,
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

__all__ = ["AsyncAPIClient"]

T = TypeVar("T")
Progress = Callable[[Task], None]


class AsyncAPIClient(Base, AsyncFinetunes):
    """The same API with ``async`` methods. ``transport`` is an ``httpx.AsyncBaseTransport``."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(api_key, base_url, timeout)
        self.http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, transport=transport, follow_redirects=True
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncAPIClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, call: Call[T]) -> T:
        with wrapped():
            response = await self.http.request(
                call.method, call.path, params=call.params, json=call.json, files=call.files,
                data=call.data,
                headers=self.headers(call.idempotency_key),
            )  # fmt: skip
        return call.answer(response)

    # the server
    async def health(self) -> Health:
        return await self._send(Routes.health())

    async def ready(self) -> Readiness:
        """Readiness (``ready`` False with the reason in ``detail``: the server answers 503)."""
        return await self._send(Routes.ready())

    async def models(self) -> list[Model]:
        return await self._send(Routes.models())

    # submitting work (each returns at once with the task id and ETA)
    async def submit(
        self, request: GenerationRequest | str, duration: float | None = None, *,
        idempotency_key: str | None = None, **params: Any,
    ) -> Task:  # fmt: skip
        """Queue a generation: a ``GenerationRequest``, or a prompt and its fields."""
        body = as_request(request, duration, params)
        return await self._send(Routes.submit(body, idempotency_key))

    async def submit_batch(
        self, requests: Sequence[GenerationRequest | Mapping[str, Any]], *,
        idempotency_key: str | None = None,
    ) -> Batch:  # fmt: skip
        """Queue several generations at once (all are checked before any is queued)."""
        return await self._send(Routes.submit_batch(requests, idempotency_key))

    async def batch(self, batch_id: str) -> list[Task]:
        return await self._send(Routes.batch(batch_id))

    async def submit_multitrack(
        self, request: MultitrackRequest, *, idempotency_key: str | None = None
    ) -> Task:
        return await self._send(Routes.submit_multitrack(request, idempotency_key))

    async def submit_edit(self, request: EditRequest) -> Task:
        return await self._send(Routes.submit_edit(request))

    # tasks
    async def get(self, task_id: str) -> Task:
        return await self._send(Routes.get(task_id))

    async def list(self, status: str | None = None, limit: int = 20, offset: int = 0) -> TaskList:
        return await self._send(Routes.list_tasks(status, limit, offset))

    async def cancel(self, task_id: str) -> Task:
        """Cancel a queued or running task (``Conflict`` NOT_CANCELLABLE once it ended)."""
        return await self._send(Routes.cancel(task_id))

    async def delete(self, task_id: str) -> None:
        """Delete an ended task and its audio (``Conflict`` NOT_DELETABLE while it runs)."""
        await self._send(Routes.delete(task_id))

    async def wait(
        self, task_id: str, *, poll: float = 1.0, timeout: float | None = None,
        progress: Progress | None = None,
    ) -> Task:  # fmt: skip
        """Poll until the task ends; ``progress(task)`` is called on every poll. A failed or
        cancelled task raises its error; ``Timeout`` (phase wait) after ``timeout`` s."""
        deadline = deadline_of(timeout)
        while True:
            try:
                task = await self.get(task_id)
            except E.RateLimited as exc:  # polling must not fail a long job: wait and go on
                await asyncio.sleep(float(exc.details.get("retry_after", 1)))
                continue
            if progress is not None:
                progress(task)
            if task.done:
                error = failed(task)
                if error is not None:
                    raise error
                return task
            if deadline is not None and time.monotonic() > deadline:
                raise wait_timeout(task, timeout)
            await asyncio.sleep(poll)

    async def download(
        self, what: Task | str, format: str | None = None, sample_rate: int | None = None
    ) -> bytes:
        """A task's audio (or any audio URL it names: a stem, the MIDI), converted if asked."""
        return await self._send(Routes.download(what, format, sample_rate))

    async def result(self, task: Task, format: str | None = None) -> GenerationResult:
        """A finished task with its audio."""
        return GenerationResult(
            task, await self.download(task, format), format or task.params.get("format") or "wav"
        )

    # submit, wait and download
    async def generate(
        self, request: GenerationRequest | str, duration: float | None = None, *,
        poll: float = 1.0, timeout: float | None = None, progress: Progress | None = None,
        idempotency_key: str | None = None, **params: Any,
    ) -> GenerationResult:  # fmt: skip
        """Submit, wait (calling ``progress``), and download the result."""
        body = as_request(request, duration, params)
        task = await self.submit(body, idempotency_key=idempotency_key)
        done = await self.wait(task.task_id, poll=poll, timeout=timeout, progress=progress)
        return await self.result(done, body.format)

    async def multitrack(
        self, request: MultitrackRequest, *, poll: float = 1.0, timeout: float | None = None,
        progress: Progress | None = None,
    ) -> GenerationResult:  # fmt: skip
        """The mix; ``result.task.stems`` and ``midi_url`` name the rest (``download``)."""
        task = await self.submit_multitrack(request)
        done = await self.wait(task.task_id, poll=poll, timeout=timeout, progress=progress)
        return await self.result(done, request.format)

    async def edit(
        self, request: EditRequest, *, poll: float = 1.0, timeout: float | None = None,
        progress: Progress | None = None,
    ) -> GenerationResult:  # fmt: skip
        task = await self.submit_edit(request)
        done = await self.wait(task.task_id, poll=poll, timeout=timeout, progress=progress)
        return await self.result(done, request.format)

    # uploads: reference voices, melodies, continuations and edit sources
    async def upload(self, file: FileInput, filename: str | None = None) -> Upload:
        """Upload audio from a path, bytes or a binary file object."""
        name, data = await asyncio.to_thread(read_file, file, filename)
        return await self._send(Routes.upload(name, data))

    async def uploads(self) -> UploadList:
        return await self._send(Routes.uploads())

    async def delete_upload(self, upload_id: str) -> None:
        await self._send(Routes.delete_upload(upload_id))

    # LoRA adapters (a request names one as ``adapter``)
    async def list_adapters(self, model: str | None = None) -> builtins.list[Adapter]:
        """Your adapters and the shared ones (``model``: only those trained for it)."""
        return await self._send(Routes.list_adapters(model))

    async def get_adapter(self, name: str) -> Adapter:
        return await self._send(Routes.get_adapter(name))

    async def delete_adapter(self, name: str) -> None:
        """Delete one of your own adapters with its files (shared ones: ADAPTER_SHARED)."""
        await self._send(Routes.delete_adapter(name))

    # the WebSocket
    async def stream(
        self, request: GenerationRequest | str, duration: float | None = None, *,
        timeout: float | None = None, **params: Any,
    ) -> AsyncIterator[StreamChunk]:  # fmt: skip
        """Audio chunks over the WebSocket as they are generated; ends at completion.
        ``timeout`` bounds the whole stream (``Timeout``); leaving early cancels the task."""
        message = stream_message(as_request(request, duration, params))
        deadline = deadline_of(timeout)
        with wrapped():
            from websockets.asyncio.client import connect
            from websockets.exceptions import ConnectionClosed

            async with connect(
                self.ws_url(), additional_headers=self.ws_headers(), open_timeout=self.timeout
            ) as ws:
                # the server may have spoken first (a refused key) and closed: read it below
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(message)
                while True:
                    text = await asyncio.wait_for(ws.recv(), left(deadline))
                    chunk = stream_event(ws_event(text))
                    if chunk is None:
                        return
                    if not isinstance(chunk, bool):
                        yield chunk
