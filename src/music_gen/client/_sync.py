"""``APIClient``: the music-gen REST and WebSocket API from Python, synchronously.

    client = APIClient(api_key="mgk_…", base_url="http://localhost:8000/api/v1")
    result = client.generate("Jazz piano", duration=30)      # submit, wait, download
    result.save("jazz.wav")

Every route has a method taking the typed request of ``_types`` (or a prompt and keyword
fields); every error answer and transport failure is raised as ``music_gen.errors``.
"""

from __future__ import annotations

import builtins
import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
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
from ._finetune import SyncFinetunes
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

__all__ = ["APIClient"]

T = TypeVar("T")
Progress = Callable[[Task], None]


class APIClient(Base, SyncFinetunes):
    """Synchronous client. ``timeout`` bounds each HTTP request (and the WebSocket's opening);
    ``transport`` is any ``httpx.BaseTransport`` (``httpx.MockTransport`` in tests)."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(api_key, base_url, timeout)
        self.http = httpx.Client(
            base_url=self.base_url, timeout=timeout, transport=transport, follow_redirects=True
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> APIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, call: Call[T]) -> T:
        with wrapped():
            response = self.http.request(
                call.method, call.path, params=call.params, json=call.json, files=call.files,
                data=call.data,
                headers=self.headers(call.idempotency_key),
            )  # fmt: skip
        return call.answer(response)

    # the server
    def health(self) -> Health:
        return self._send(Routes.health())

    def ready(self) -> Readiness:
        """Readiness (``ready`` False with the reason in ``detail``: the server answers 503)."""
        return self._send(Routes.ready())

    def models(self) -> list[Model]:
        return self._send(Routes.models())

    # submitting work (each returns at once with the task id and ETA)
    def submit(
        self, request: GenerationRequest | str, duration: float | None = None, *,
        idempotency_key: str | None = None, **params: Any,
    ) -> Task:  # fmt: skip
        """Queue a generation: a ``GenerationRequest``, or a prompt and its fields."""
        body = as_request(request, duration, params)
        return self._send(Routes.submit(body, idempotency_key))

    def submit_batch(
        self, requests: Sequence[GenerationRequest | Mapping[str, Any]], *,
        idempotency_key: str | None = None,
    ) -> Batch:  # fmt: skip
        """Queue several generations at once (all are checked before any is queued)."""
        return self._send(Routes.submit_batch(requests, idempotency_key))

    def batch(self, batch_id: str) -> list[Task]:
        return self._send(Routes.batch(batch_id))

    def submit_multitrack(
        self, request: MultitrackRequest, *, idempotency_key: str | None = None
    ) -> Task:
        return self._send(Routes.submit_multitrack(request, idempotency_key))

    def submit_edit(self, request: EditRequest) -> Task:
        return self._send(Routes.submit_edit(request))

    # tasks
    def get(self, task_id: str) -> Task:
        return self._send(Routes.get(task_id))

    def list(self, status: str | None = None, limit: int = 20, offset: int = 0) -> TaskList:
        return self._send(Routes.list_tasks(status, limit, offset))

    def cancel(self, task_id: str) -> Task:
        """Cancel a queued or running task (``Conflict`` NOT_CANCELLABLE once it ended)."""
        return self._send(Routes.cancel(task_id))

    def delete(self, task_id: str) -> None:
        """Delete an ended task and its audio (``Conflict`` NOT_DELETABLE while it runs)."""
        self._send(Routes.delete(task_id))

    def wait(
        self, task_id: str, *, poll: float = 1.0, timeout: float | None = None,
        progress: Progress | None = None,
    ) -> Task:  # fmt: skip
        """Poll until the task ends; ``progress(task)`` is called on every poll. A failed or
        cancelled task raises its error; ``Timeout`` (phase wait) after ``timeout`` s."""
        deadline = deadline_of(timeout)
        while True:
            try:
                task = self.get(task_id)
            except E.RateLimited as exc:  # polling must not fail a long job: wait and go on
                time.sleep(float(exc.details.get("retry_after", 1)))
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
            time.sleep(poll)

    def download(
        self, what: Task | str, format: str | None = None, sample_rate: int | None = None
    ) -> bytes:
        """A task's audio (or any audio URL it names: a stem, the MIDI), converted if asked."""
        return self._send(Routes.download(what, format, sample_rate))

    def result(self, task: Task, format: str | None = None) -> GenerationResult:
        """A finished task with its audio."""
        return GenerationResult(
            task, self.download(task, format), format or task.params.get("format") or "wav"
        )

    # submit, wait and download
    def generate(
        self, request: GenerationRequest | str, duration: float | None = None, *,
        poll: float = 1.0, timeout: float | None = None, progress: Progress | None = None,
        idempotency_key: str | None = None, **params: Any,
    ) -> GenerationResult:  # fmt: skip
        """Submit, wait (calling ``progress``), and download the result."""
        body = as_request(request, duration, params)
        task = self.submit(body, idempotency_key=idempotency_key)
        done = self.wait(task.task_id, poll=poll, timeout=timeout, progress=progress)
        return self.result(done, body.format)

    def multitrack(
        self, request: MultitrackRequest, *, poll: float = 1.0, timeout: float | None = None,
        progress: Progress | None = None,
    ) -> GenerationResult:  # fmt: skip
        """The mix; ``result.task.stems`` and ``midi_url`` name the rest (``download``)."""
        task = self.submit_multitrack(request)
        done = self.wait(task.task_id, poll=poll, timeout=timeout, progress=progress)
        return self.result(done, request.format)

    def edit(
        self, request: EditRequest, *, poll: float = 1.0, timeout: float | None = None,
        progress: Progress | None = None,
    ) -> GenerationResult:  # fmt: skip
        task = self.submit_edit(request)
        done = self.wait(task.task_id, poll=poll, timeout=timeout, progress=progress)
        return self.result(done, request.format)

    # uploads: reference voices, melodies, continuations and edit sources
    def upload(self, file: FileInput, filename: str | None = None) -> Upload:
        """Upload audio from a path, bytes or a binary file object."""
        name, data = read_file(file, filename)
        return self._send(Routes.upload(name, data))

    def uploads(self) -> UploadList:
        return self._send(Routes.uploads())

    def delete_upload(self, upload_id: str) -> None:
        self._send(Routes.delete_upload(upload_id))

    # LoRA adapters (a request names one as ``adapter``)
    def list_adapters(self, model: str | None = None) -> builtins.list[Adapter]:
        """Your adapters and the shared ones (``model``: only those trained for it)."""
        return self._send(Routes.list_adapters(model))

    def get_adapter(self, name: str) -> Adapter:
        return self._send(Routes.get_adapter(name))

    def delete_adapter(self, name: str) -> None:
        """Delete one of your own adapters with its files (shared ones: ADAPTER_SHARED)."""
        self._send(Routes.delete_adapter(name))

    # the WebSocket
    def stream(
        self, request: GenerationRequest | str, duration: float | None = None, *,
        timeout: float | None = None, **params: Any,
    ) -> Iterator[StreamChunk]:  # fmt: skip
        """Audio chunks over the WebSocket as they are generated; ends at completion.
        ``timeout`` bounds the whole stream (``Timeout``); leaving early cancels the task."""
        message = stream_message(as_request(request, duration, params))
        deadline = deadline_of(timeout)
        with wrapped():
            from websockets.exceptions import ConnectionClosed
            from websockets.sync.client import connect

            with connect(
                self.ws_url(), additional_headers=self.ws_headers(), open_timeout=self.timeout
            ) as ws:
                # the server may have spoken first (a refused key) and closed: read it below
                with contextlib.suppress(ConnectionClosed):
                    ws.send(message)
                while True:
                    chunk = stream_event(ws_event(ws.recv(timeout=left(deadline))))
                    if chunk is None:
                        return
                    if not isinstance(chunk, bool):
                        yield chunk
