"""The Ray Serve side of the Ray backend: one ``Generator`` replica per GPU (or CPU slot).

A replica keeps one warm ``Backend`` (``make_backend``: ``ModelBackend`` with each model's
runner, or ``ToneBackend`` for ``engine="test-tone"``) and drives it from one
thread of its own (``ReplicaEngine``), so every job routed to the replica joins the same batch.
Each job is one streaming call, ``Generator.run(job_id, spec, stream, files)`` (the ``JobSpec``
in its stored JSON form; the input audio it names as bytes, written to a scratch directory of
the replica's for the job's life), which yields plain dicts, in order::

    {"type": "started", "replica": name, "pid": pid}
    {"type": "progress", "progress": 0..1}          # about every PROGRESS_SECONDS
    {"type": "chunk", "audio": AudioOutput}         # streaming jobs, one per chunk
    {"type": "done", "audio": AudioOutput, "stems": {name: AudioOutput} | None}
  | {"type": "error", "error": {"code", "message", "details"}}

It knows nothing about the database, storage or HTTP: the API node that called it claims, stores
and settles the job. Each call carries its API node's ``CallerToken``; Serve does not end a call
whose caller died, so a replica pings the token every ``ray_caller_check_seconds`` and drops the
job when its API node is gone (its restart, or another node, runs it again). A call cancelled by
the caller (the job was cancelled, or the API node gave it back) leaves the batch at the next
step. ``generator_app`` builds the Serve application that ``RayBackend`` deploys (or that a
Serve config names, see docs/ray.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from ray import serve

from ..jobs.events import JobEvent, failure
from ..jobs.spec import JobSpec
from .backends import Backend

__all__ = [
    "PROGRESS_SECONDS",
    "CallerToken",
    "Generator",
    "GeneratorReplica",
    "ReplicaEngine",
    "generator_app",
]

log = logging.getLogger("music_gen.ray")

PROGRESS_SECONDS = 0.5
Sink = Callable[[dict[str, Any]], None]  # where a job's items go (thread-safe)


class ReplicaEngine:
    """One backend, one thread: jobs and cancellations come in through an inbox, items go out
    through each job's sink. The backend is touched by this thread only."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._sinks: dict[str, Sink] = {}
        self._wake = threading.Event()
        self._last_progress = 0.0
        self._thread = threading.Thread(target=self._run, name="music-gen-replica", daemon=True)
        self._thread.start()

    def add(self, job_id: str, spec: dict[str, Any], stream: bool, sink: Sink) -> None:
        self._inbox.put(("submit", job_id, spec, stream, sink))
        self._wake.set()

    def cancel(self, job_id: str, sink: Sink) -> None:
        self._inbox.put(("cancel", job_id, sink))
        self._wake.set()

    def active(self) -> int:
        return len(self._sinks)

    def _run(self) -> None:
        while True:
            self._drain_inbox()
            if not self.backend.active():
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            try:
                events = self.backend.step()
            except Exception as exc:  # a backend bug fails the jobs it holds, not the replica
                log.exception("replica step failed")
                error = failure(exc).to_dict()["error"]
                for job_id in list(self._sinks):
                    self.backend.cancel(job_id)
                    self._sinks.pop(job_id)({"type": "error", "error": error})
                continue
            for event in events:
                sink = self._sinks.get(event.job_id)
                if sink is None:
                    continue
                if event.kind == JobEvent.CHUNK:
                    sink({"type": "chunk", "audio": event.audio})
                elif event.kind == JobEvent.DONE:
                    del self._sinks[event.job_id]
                    sink({"type": "done", "audio": event.audio, "stems": event.stems})
                else:
                    del self._sinks[event.job_id]
                    error = event.error or failure(RuntimeError("no reason given"))
                    sink({"type": "error", "error": error.to_dict()["error"]})
            now = time.monotonic()
            if now - self._last_progress >= PROGRESS_SECONDS:
                self._last_progress = now
                for job_id, sink in self._sinks.items():
                    sink({"type": "progress", "progress": self.backend.progress(job_id)})

    def _drain_inbox(self) -> None:
        while True:
            try:
                message = self._inbox.get_nowait()
            except queue.Empty:
                return
            if message[0] == "cancel":
                _, job_id, sink = message
                if self._sinks.get(job_id) is sink:  # (not a newer run of the same job)
                    del self._sinks[job_id]
                    self.backend.cancel(job_id)
                continue
            _, job_id, spec, stream, sink = message
            old = self._sinks.pop(job_id, None)
            if old is not None:  # dispatched again (its API node restarted): the new call wins
                self.backend.cancel(job_id)
                old({"type": "error", "error": {"code": "SUPERSEDED", "message":
                     "the job was dispatched again", "details": {}}})  # fmt: skip
            try:
                self.backend.submit(job_id, JobSpec.model_validate(spec), stream)
            except Exception as exc:  # bad parameters: the job fails with their code
                sink({"type": "error", "error": failure(exc).to_dict()["error"]})
                continue
            self._sinks[job_id] = sink


class CallerToken:
    """An actor that lives as long as the API node process that made it (Ray ends an actor
    with its owner); a replica pings the token of each job's caller to learn whether anyone
    still waits for the job."""

    def ping(self) -> bool:
        return True


async def _alive(token: Any, timeout: float = 30.0) -> bool:
    from ray.exceptions import RayActorError

    try:
        await asyncio.wait_for(token.ping.remote(), timeout=timeout)
    except RayActorError:
        return False
    except TimeoutError:  # slow, not known to be gone
        return True
    return True


class GeneratorReplica:
    """A Serve replica: a warm backend shared by every job routed here."""

    def __init__(self, options: dict[str, Any]) -> None:
        from ..infra.settings import Settings
        from .backends import make_backend

        # (MUSIC_GEN_* inherited from an API node fill the rest; a replica is no API node)
        settings = Settings(**{**options, "ray_address": None})
        backend = make_backend(settings)
        if settings.model:  # load the default model before taking jobs
            backend.warm(settings.model)
        context = serve.get_replica_context()
        self.name = f"ray-replica-{context.replica_id.unique_id}@{socket.gethostname()}"
        self.backend = backend
        self.engine = ReplicaEngine(backend)
        self.check_seconds = settings.ray_caller_check_seconds
        self.dropped = 0  # runs dropped because their API node was gone
        log.info("replica %s ready (pid %d, models %s)", self.name, os.getpid(),
                 backend.loaded_models())  # fmt: skip

    async def run(
        self,
        job_id: str,
        spec: dict[str, Any],
        stream: bool,
        files: dict[str, tuple[str, bytes]] | None = None,
        caller: Any = None,
    ) -> AsyncIterator[dict[str, Any]]:
        scratch = None
        if files:  # the job's input audio, sent along: written here, the spec pointed at it
            scratch = Path(tempfile.mkdtemp(prefix=f"music-gen-{job_id[:12]}-"))
            spec = dict(spec)
            for name, (filename, data) in files.items():
                path = scratch / f"{name}-{Path(filename).name}"
                path.write_bytes(data)
                spec[name] = str(path)
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        def sink(item: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(items.put_nowait, item)

        self.engine.add(job_id, spec, stream, sink)
        ended = False
        try:
            yield {"type": "started", "replica": self.name, "pid": os.getpid()}
            next_check = time.monotonic() + self.check_seconds
            while not ended:
                try:
                    item = await asyncio.wait_for(items.get(), timeout=self.check_seconds)
                except TimeoutError:
                    item = None
                # Serve does not end a call whose caller died: ask the caller's token
                if caller is not None and time.monotonic() >= next_check:
                    next_check = time.monotonic() + self.check_seconds
                    if not await _alive(caller):
                        self.dropped += 1
                        log.warning("job %s: its API node is gone; dropped", job_id)
                        return
                if item is not None:
                    ended = item["type"] in ("done", "error")
                    yield item
        finally:
            if not ended:  # cancelled by the caller, or the caller is gone
                self.engine.cancel(job_id, sink)
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)

    def info(self) -> dict[str, Any]:
        """Who and where this replica is, and the models it holds warm."""
        return {"replica": self.name, "pid": os.getpid(), "active": self.engine.active(),
                "models": self.backend.loaded_models(), "dropped": self.dropped}  # fmt: skip


# the Serve deployment (decorated here rather than with @, so type checkers keep the class)
Generator: Any = serve.deployment(name="Generator")(GeneratorReplica)


def generator_app(args: dict[str, Any]) -> Any:
    """Application builder for Serve configs: ``import_path:
    music_gen.service.core.runners.ray_replica:generator_app`` with ``args: {options: {...}}`` (the
    replica's settings: engine, model, device, cache_dir, max_batch). Sizing (replicas,
    autoscaling, GPUs) comes from the config's ``deployments`` section."""
    return Generator.bind(dict(args.get("options") or {}))
