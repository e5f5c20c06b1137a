"""``RayBackend``: the worker's ``Backend`` when generation runs on a Ray Serve deployment.

The API node's ``Worker`` is unchanged: it claims jobs in the database, heart-beats them and
settles each exactly once (stores the audio, records the outcome, sends the webhook). This
backend only carries a claimed job to a replica and its outcome back:

- ``submit`` makes one streaming call, ``Generator.run`` (``ray_replica``) with the job's spec
  in its stored JSON form and the bytes of the input audio it names, through a
  ``DeploymentHandle`` (Serve routes it to a replica with room; each replica runs its own
  continuous batcher), and follows it on a thread of its own;
- ``step`` returns what arrived since the last step (chunks for streaming jobs, results,
  failures), waiting at most ``poll_seconds`` when nothing did; progress comes from the
  replica about twice a second;
- a replica that dies (SIGKILL, its node lost, a downscale that outlived its grace period:
  Ray raises ``ActorDiedError`` and kin) gives the event ``RETRY``: the worker puts the job back
  in the queue (its attempt counted; after ``max_attempts`` it fails) and it runs again on a
  live replica;
- ``cancel`` cancels the call (the replica drops the job at its next step).

The audio comes back to the API node in the call's result (numpy arrays through Ray's object
store) and is stored there, by the same code path as in-process results: replicas need no
database or storage credentials, and a result is written only by the process that holds the
job's claim. ``connect`` starts or joins the cluster and deploys (or attaches to) the
``Generator`` application. It knows nothing about HTTP.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ....errors import GenerationFailed, MusicGenError, ServiceUnavailable, UnsupportedFeature
from ..infra.adapter_store import adapters_root
from ..jobs.events import Event, JobEvent, failure
from ..jobs.spec import INPUT_FILES, JobSpec

__all__ = ["RayBackend", "connect", "connection_error", "join", "replica_options"]

log = logging.getLogger("music_gen.ray")

RAY_EXTRA = "the Ray backend needs the `ray` extra: pip install 'music-gen[ray]'"


@dataclass
class _Call:
    """One job's streaming call to a replica, as the API node sees it."""

    response: Any  # DeploymentResponseGenerator
    stream: bool
    replica: str | None = None
    pid: int | None = None
    progress: float = 0.0
    cancelled: bool = False
    thread: threading.Thread | None = field(default=None, repr=False)


def _lost(exc: BaseException) -> bool:
    """Did the call fail because its replica (or the route to it) went away?"""
    from ray.exceptions import RayError, RayTaskError

    return isinstance(exc, RayError) and not isinstance(exc, RayTaskError)


def _error(body: dict[str, Any]) -> MusicGenError:
    return MusicGenError(
        str(body.get("message", "generation failed")),
        code=str(body.get("code", "GENERATION_FAILED")),
        details=dict(body.get("details") or {}),
    )


class RayBackend:
    """Jobs decoded by Serve replicas; ``capacity`` is how many this API node keeps in flight."""

    def __init__(
        self, handle: Any, capacity: int, poll_seconds: float = 0.05, token: Any = None
    ) -> None:
        self.handle = handle.options(stream=True)
        self.token = token  # this process's CallerToken (replicas drop our jobs once it dies)
        self.capacity = capacity
        self.poll_seconds = poll_seconds
        self.calls: dict[str, _Call] = {}  # job id -> its call (while the worker holds it)
        self.models: set[str] = set()
        self.owns_ray = False  # connect() started a local cluster: close() shuts it down
        self._events: queue.SimpleQueue[Event] = queue.SimpleQueue()

    def active(self) -> int:
        return len(self.calls)

    def runner_key(self, spec: JobSpec) -> str:
        """One lane: the calls this node keeps in flight (each replica runs its own runners)."""
        return "ray"

    def free(self, key: str) -> int:
        return max(0, self.capacity - self.active())

    def warm(self, model: str) -> None:
        """The replicas load their models themselves."""

    def loaded_models(self) -> list[str]:
        """What the replicas hold warm: their default model, and what jobs have asked for."""
        return sorted(self.models)

    def where(self, job_id: str) -> str | None:
        """The replica running the job (None until it said so, or not here)."""
        call = self.calls.get(job_id)
        return None if call is None else call.replica

    def submit(self, job_id: str, spec: JobSpec, stream: bool) -> None:
        # the spec in its JSON form, and the input audio it names (files on this node, which
        # the replica's machine may not have): name -> (file name, bytes)
        files = {}
        for name in INPUT_FILES:
            path = getattr(spec, name)
            if path:
                files[name] = (Path(path).name, Path(path).read_bytes())
        try:
            response = self.handle.run.remote(job_id, spec.stored(), stream, files, self.token)
        except Exception as exc:
            if not _lost(exc):
                raise
            # the cluster did not take the call (unreachable): like a lost run, counted
            error = GenerationFailed(f"the Ray cluster did not take the job: {type(exc).__name__}")
            self.calls[job_id] = _Call(None, stream)
            self._events.put(Event(job_id, JobEvent.RETRY, error=error))
            return
        call = _Call(response, stream)
        call.thread = threading.Thread(
            target=self._follow, args=(job_id, call), name=f"ray-{job_id[:8]}", daemon=True
        )
        self.calls[job_id] = call
        self.models.add(spec.model)
        call.thread.start()

    def _follow(self, job_id: str, call: _Call) -> None:
        """Read one call to its end (on its own thread) and queue what the worker must know."""
        try:
            for item in call.response:
                kind = item["type"]
                if kind == "started":
                    call.replica, call.pid = item["replica"], item["pid"]
                    log.info("job %s runs on %s", job_id, call.replica)
                elif kind == "progress":
                    call.progress = float(item["progress"])
                elif kind == "chunk":
                    if call.stream:
                        self._events.put(Event(job_id, JobEvent.CHUNK, audio=item["audio"]))
                elif kind == "done":
                    stems = item.get("stems")
                    self._events.put(Event(job_id, JobEvent.DONE, item["audio"], stems=stems,
                                           worker=call.replica))  # fmt: skip
                    return
                elif kind == "error":
                    error = _error(item["error"])
                    self._events.put(
                        Event(job_id, JobEvent.ERROR, error=error, worker=call.replica)
                    )
                    return
            raise RuntimeError("the replica's stream ended without a result")
        except Exception as exc:
            if call.cancelled:
                return
            if _lost(exc):
                where = call.replica or "its replica"
                log.warning("job %s: %s was lost (%s)", job_id, where, type(exc).__name__)
                error = GenerationFailed(
                    f"{where} was lost: {type(exc).__name__}", details={"replica": call.replica}
                )
                self._events.put(Event(job_id, JobEvent.RETRY, error=error, worker=call.replica))
            else:
                self._events.put(
                    Event(job_id, JobEvent.ERROR, error=failure(exc), worker=call.replica)
                )

    def step(self) -> list[Event]:
        events: list[Event] = []
        try:
            events.append(self._events.get(timeout=self.poll_seconds))
            while True:
                events.append(self._events.get_nowait())
        except queue.Empty:
            pass
        kept = []
        for event in events:
            call = self.calls.get(event.job_id)
            if call is None or call.cancelled:
                continue  # (cancelled meanwhile)
            if event.kind != JobEvent.CHUNK:
                del self.calls[event.job_id]
            kept.append(event)
        return kept

    def progress(self, job_id: str) -> float:
        call = self.calls.get(job_id)
        return 0.0 if call is None else call.progress

    def progress_detail(self, job_id: str) -> dict[str, Any] | None:
        """Replicas report a fraction only."""
        return None

    def cancel(self, job_id: str) -> None:
        call = self.calls.pop(job_id, None)
        if call is not None:
            call.cancelled = True
            if call.response is not None:
                call.response.cancel()

    def close(self) -> None:
        """Cancel every call still in flight (the worker gave their jobs back)."""
        for job_id in list(self.calls):
            self.cancel(job_id)
        if self.owns_ray:
            import ray

            ray.shutdown()


def replica_options(settings: Any) -> dict[str, Any]:
    """What a replica needs to build its backend (the rest of Settings stays on the API node)."""
    options = {
        "engine": settings.engine,
        "model": settings.model,
        "device": settings.device,
        "max_batch": settings.max_batch,
        "max_duration": settings.max_duration,
        "ray_caller_check_seconds": settings.ray_caller_check_seconds,
    }
    if settings.cache_dir is not None:
        options["cache_dir"] = str(settings.cache_dir)
    # every replica reads the API node's adapter store: the same folder (one machine, or a
    # data directory shared by every node at the same path)
    options["adapters_dir"] = str(adapters_root(settings).resolve())
    if settings.quantize is not None:
        options["quantize"] = settings.quantize
    return options


def deployment_options(settings: Any) -> dict[str, Any]:
    """Serve options of the ``Generator`` deployment from the ``ray_*`` settings."""
    options: dict[str, Any] = {
        "max_ongoing_requests": settings.max_batch,  # a replica takes a full batch at most
        "ray_actor_options": {
            "num_cpus": settings.ray_cpus_per_replica,
            "num_gpus": settings.ray_gpus_per_replica,
        },
        "graceful_shutdown_timeout_s": settings.ray_grace_seconds,
    }
    if settings.ray_min_replicas is not None or settings.ray_max_replicas is not None:
        low = 1 if settings.ray_min_replicas is None else settings.ray_min_replicas
        options["autoscaling_config"] = {
            "min_replicas": low,
            "initial_replicas": low,
            "max_replicas": settings.ray_max_replicas or max(low, 1),
            "target_ongoing_requests": settings.max_batch,
            **settings.ray_autoscaling,
        }
    else:
        options["num_replicas"] = settings.ray_replicas or 1
    return options


def _running_replicas(app: str) -> int:
    from ray import serve

    status = serve.status().applications.get(app)
    deployment = None if status is None else status.deployments.get("Generator")
    states = {} if deployment is None else deployment.replica_states
    return max(1, sum(n for state, n in states.items() if state == "RUNNING"))


_GIVE_TOKEN = "RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH, a file holding it)"


def _token_source() -> str | None:
    """Where Ray would read this process's authentication token from, if anywhere."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path:
        return f"RAY_AUTH_TOKEN_PATH={path}" if Path(path).is_file() else None
    default = Path.home() / ".ray" / "auth_token"
    return str(default) if default.is_file() else None


def connection_error(address: str, exc: BaseException) -> MusicGenError:
    """What a failed ``ray.init(address=...)`` means, in one line: ``RAY_AUTH_REQUIRED`` when
    the cluster wants a token this process does not send (Ray 2.60 turns token authentication
    on for clusters started where a token exists; its own error only says that it "failed to
    connect to Ray cluster at" the node's address), ``RAY_UNAVAILABLE`` otherwise."""
    chain: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and link not in chain:
        chain.append(link)
        link = link.__cause__ or link.__context__
    said = " ".join(f"{type(e).__name__}: {e}" for e in chain)
    if any(type(e).__name__ == "AuthenticationError" for e in chain) or any(
        word in said for word in ("InvalidAuthToken", "Unauthenticated", "AuthenticationError")
    ):
        source = _token_source()
        if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
            message = (
                f"the Ray cluster at {address} requires token authentication and this node "
                f"sends no token: set RAY_AUTH_MODE=token and the cluster's token in {_GIVE_TOKEN}"
            )
        elif source is None:
            message = (
                f"RAY_AUTH_MODE=token but no Ray authentication token was found to join {address}:"
                f" set {_GIVE_TOKEN} to the cluster's token"
            )
        else:
            message = (
                f"the Ray cluster at {address} refused this node's authentication token (from "
                f"{source}): set {_GIVE_TOKEN} to the cluster's token"
            )
        return ServiceUnavailable(message, code="RAY_AUTH_REQUIRED")
    last = str(chain[-1]).strip().splitlines()
    reason = last[-1] if last else type(chain[-1]).__name__
    return ServiceUnavailable(
        f"could not connect to the Ray cluster at {address}: {reason}", code="RAY_UNAVAILABLE"
    )


def join(address: str) -> None:
    """Connect this process to the running Ray cluster at ``address`` (``auto``: the one this
    machine is part of); a refusal raises ``connection_error``'s one-line error."""
    try:
        import ray
    except ImportError as exc:
        raise UnsupportedFeature(RAY_EXTRA, code="RAY_NOT_INSTALLED") from exc
    if ray.is_initialized():
        return
    try:
        ray.init(address=address)
    except MusicGenError:
        raise
    except Exception as exc:
        raise connection_error(address, exc) from exc


def connect(settings: Any) -> RayBackend:
    """Join (or, with ``ray_address="local"``, start) a Ray cluster and return a backend on the
    ``Generator`` application named ``ray_app``: deployed from these settings when it is not
    running yet, attached to as it is otherwise (several API nodes share one deployment, and
    a restarted API node does not restart the replicas)."""
    try:
        import ray
        from ray import serve
    except ImportError as exc:
        raise UnsupportedFeature(RAY_EXTRA, code="RAY_NOT_INSTALLED") from exc
    from .ray_replica import CallerToken, Generator

    owns = False
    if not ray.is_initialized():
        if settings.ray_address == "local":
            ray.init(include_dashboard=False)
            owns = True
        else:
            join(settings.ray_address)
    serve.start(proxy_location="Disabled")  # API nodes call replicas by handle: no HTTP proxy
    app = settings.ray_app
    running = serve.status().applications.get(app)
    if running is not None and running.status == "RUNNING":
        log.info("ray: attached to the running application %r (its sizing is kept)", app)
        handle = serve.get_deployment_handle("Generator", app_name=app)
    else:
        options = deployment_options(settings)
        log.info("ray: deploying %r with %s", app, options)
        bound = Generator.options(**options).bind(replica_options(settings))
        handle = serve.run(bound, name=app, route_prefix=None)
    replicas = settings.ray_max_replicas or settings.ray_replicas or _running_replicas(app)
    token = ray.remote(num_cpus=0)(CallerToken).remote()  # dies with this process
    backend = RayBackend(handle, capacity=replicas * settings.max_batch, token=token)
    backend.owns_ray = owns
    try:  # the models a replica holds warm (readiness and GET /models report them loaded)
        backend.models.update(handle.info.remote().result(timeout_s=120)["models"])
    except Exception as exc:
        log.warning("ray: could not ask a replica for its models: %s", exc)
    return backend
