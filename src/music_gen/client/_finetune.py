"""Fine-tuning jobs from the SDK (``/finetunes``): the ``Finetune`` answer, its calls, and the
methods ``APIClient`` and ``AsyncAPIClient`` mix in.

    job = client.finetune("./my-songs", "my-style", steps=500, rank=16, learning_rate=1e-4)
    job.adapter, job.loss_history[-1]                # the adapter's name, the last loss
    client.generate("my style, calm", adapter=job.adapter)

``data`` is a folder (every audio file, ``NAME.txt`` caption and ``metadata.jsonl`` under it is
sent, with its relative name), an archive (``.zip``, ``.tar.gz``, ``.tgz``: sent as it is, the
server extracts it), or a list of files. The settings are ``TrainConfig``'s fields.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .. import errors as E
from ._common import Call, _json, deadline_of

__all__ = ["AsyncFinetunes", "Finetune", "FinetuneRoutes", "SyncFinetunes", "dataset_parts"]

T = TypeVar("T")
_SENT = (".wav", ".flac", ".ogg", ".mp3", ".txt", ".jsonl")
_ARCHIVES = (".zip", ".tar.gz", ".tgz", ".tar")


def _time(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else None


@dataclass(frozen=True)
class Finetune:
    """A fine-tuning job as the server reports it (``GET /finetunes/{id}``)."""

    task_id: str
    status: str
    adapter: str
    model: str
    progress: float = 0.0
    step: int = 0
    total_steps: int = 0
    loss: float | None = None
    loss_history: list[tuple[int, float | None]] = field(default_factory=list)
    paused_s: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    queue_position: int | None = None
    created_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled")

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Finetune:
        return cls(
            task_id=d["task_id"], status=d["status"], adapter=d["adapter"], model=d["model"],
            progress=float(d.get("progress") or 0.0), step=int(d.get("step") or 0),
            total_steps=int(d.get("total_steps") or 0), loss=d.get("loss"),
            loss_history=[(int(p["step"]), p.get("loss")) for p in d.get("loss_history") or []],
            paused_s=float(d.get("paused_s") or 0.0), settings=d.get("settings") or {},
            dataset=d.get("dataset") or {}, result=d.get("result"), error=d.get("error"),
            queue_position=d.get("queue_position"), created_at=_time(d.get("created_at")),
            finished_at=_time(d.get("finished_at")), raw=d,
        )  # fmt: skip


def _list(d: dict[str, Any]) -> list[Finetune]:
    return [Finetune.from_json(item) for item in d["items"]]


def dataset_parts(data: str | Path | Sequence[str | Path]) -> list[tuple[str, Any]]:
    """The multipart parts of a dataset: a folder's files (relative names), an archive, or
    the listed files (``INVALID_DATASET`` here for a path that is neither)."""
    if isinstance(data, str | Path):
        path = Path(data).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file()
                           and p.suffix.lower() in _SENT)  # fmt: skip
            return [("files", (p.relative_to(path).as_posix(), p.read_bytes())) for p in files]
        if path.is_file() and path.name.lower().endswith(_ARCHIVES):
            return [("archive", (path.name, path.read_bytes()))]
        if not path.exists():
            raise E.InvalidInput(f"dataset {str(path)!r} does not exist", code="INVALID_DATASET")
        data = [path]
    return [("files", (Path(p).name, Path(p).read_bytes())) for p in data]


def _form(name: str, model: str | None, settings: dict[str, Any]) -> dict[str, str]:
    form = {"name": name, **({} if model is None else {"model": model})}
    for key, value in settings.items():
        if value is None:
            continue
        if key == "target_modules" and not isinstance(value, str):
            value = ",".join(value)
        form[key] = str(value)
    return form


class FinetuneRoutes:
    @staticmethod
    def submit(
        data: str | Path | Sequence[str | Path], name: str, model: str | None,
        settings: dict[str, Any],
    ) -> Call[Finetune]:  # fmt: skip
        return Call("POST", "/finetunes", _json(Finetune.from_json), files=dataset_parts(data),
                    data=_form(name, model, settings))  # fmt: skip

    @staticmethod
    def get(task_id: str) -> Call[Finetune]:
        return Call("GET", f"/finetunes/{task_id}", _json(Finetune.from_json))

    @staticmethod
    def list(limit: int, offset: int) -> Call[list[Finetune]]:
        return Call("GET", "/finetunes", _json(_list), params={"limit": limit, "offset": offset})

    @staticmethod
    def cancel(task_id: str) -> Call[Finetune]:
        return Call("DELETE", f"/finetunes/{task_id}", _json(Finetune.from_json))


def _outcome(job: Finetune) -> Finetune:
    """A finished job, or its error raised (failed: the job's own; cancelled: CANCELLED)."""
    if job.status == "failed":
        err = job.error or {}
        details = {**(err.get("details") or {}), "task_id": job.task_id}
        code, message = str(err.get("code", "GENERATION_FAILED")), str(err.get("message", ""))
        raise E.error_for(code, message or "the finetune failed", details=details)
    if job.status == "cancelled":
        raise E.GenerationFailed(f"finetune {job.task_id} was cancelled", code="CANCELLED",
                                 details={"task_id": job.task_id})  # fmt: skip
    return job


def _timeout(job: Finetune, timeout: float | None) -> E.MusicGenError:
    return E.error_for("TIMEOUT", f"finetune {job.task_id} still {job.status} after {timeout} s",
                       details={"phase": "wait", "task_id": job.task_id})  # fmt: skip


Progress = Callable[[Finetune], None]


class SyncFinetunes:
    """``APIClient``'s fine-tuning methods."""

    def _send(self, call: Call[T]) -> T:  # the client's own
        raise NotImplementedError

    def submit_finetune(
        self, data: str | Path | Sequence[str | Path], name: str, *,
        model: str | None = None, **settings: Any,
    ) -> Finetune:  # fmt: skip
        """Queue a fine-tuning job (``settings``: steps, rank, alpha, learning_rate,
        batch_size, gradient_accumulation, seed, target_modules, …, webhook_url, track_id)."""
        return self._send(FinetuneRoutes.submit(data, name, model, settings))

    def get_finetune(self, task_id: str) -> Finetune:
        return self._send(FinetuneRoutes.get(task_id))

    def list_finetunes(self, limit: int = 20, offset: int = 0) -> list[Finetune]:
        return self._send(FinetuneRoutes.list(limit, offset))

    def cancel_finetune(self, task_id: str) -> Finetune:
        """Stop it at its next step (``Conflict`` NOT_CANCELLABLE once it ended)."""
        return self._send(FinetuneRoutes.cancel(task_id))

    def wait_finetune(
        self, task_id: str, *, poll: float = 2.0, timeout: float | None = None,
        progress: Progress | None = None,
    ) -> Finetune:  # fmt: skip
        """Poll until it ends; a failed or cancelled job raises its error."""
        deadline = deadline_of(timeout)
        while True:
            job = self._send(FinetuneRoutes.get(task_id))
            if progress is not None:
                progress(job)
            if job.done:
                return _outcome(job)
            if deadline is not None and time.monotonic() > deadline:
                raise _timeout(job, timeout)
            time.sleep(poll)

    def finetune(
        self, data: str | Path | Sequence[str | Path], name: str, *, model: str | None = None,
        poll: float = 2.0, timeout: float | None = None, progress: Progress | None = None,
        **settings: Any,
    ) -> Finetune:  # fmt: skip
        """Submit and wait: the finished job (its ``adapter`` names the result)."""
        job = self.submit_finetune(data, name, model=model, **settings)
        return self.wait_finetune(job.task_id, poll=poll, timeout=timeout,
                                  progress=progress)  # fmt: skip


class AsyncFinetunes:
    """``AsyncAPIClient``'s fine-tuning methods."""

    async def _send(self, call: Call[T]) -> T:  # the client's own
        raise NotImplementedError

    async def submit_finetune(
        self, data: str | Path | Sequence[str | Path], name: str, *,
        model: str | None = None, **settings: Any,
    ) -> Finetune:  # fmt: skip
        return await self._send(FinetuneRoutes.submit(data, name, model, settings))

    async def get_finetune(self, task_id: str) -> Finetune:
        return await self._send(FinetuneRoutes.get(task_id))

    async def list_finetunes(self, limit: int = 20, offset: int = 0) -> list[Finetune]:
        return await self._send(FinetuneRoutes.list(limit, offset))

    async def cancel_finetune(self, task_id: str) -> Finetune:
        return await self._send(FinetuneRoutes.cancel(task_id))

    async def wait_finetune(
        self, task_id: str, *, poll: float = 2.0, timeout: float | None = None,
        progress: Progress | None = None,
    ) -> Finetune:  # fmt: skip
        deadline = deadline_of(timeout)
        while True:
            job = await self._send(FinetuneRoutes.get(task_id))
            if progress is not None:
                progress(job)
            if job.done:
                return _outcome(job)
            if deadline is not None and time.monotonic() > deadline:
                raise _timeout(job, timeout)
            await asyncio.sleep(poll)

    async def finetune(
        self, data: str | Path | Sequence[str | Path], name: str, *, model: str | None = None,
        poll: float = 2.0, timeout: float | None = None, progress: Progress | None = None,
        **settings: Any,
    ) -> Finetune:  # fmt: skip
        job = await self.submit_finetune(data, name, model=model, **settings)
        return await self.wait_finetune(job.task_id, poll=poll, timeout=timeout,
                                        progress=progress)  # fmt: skip
