"""Everything a running service holds, built once from ``Settings``: database, jobs, keys,
storage, rate limiter, webhook dispatcher, worker. Routes reach it through ``deps``."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from limits import parse as parse_limit
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from ...errors import InvalidInput, RateLimited
from .infra.adapter_store import AdapterStore, adapters_root
from .infra.auth import Caller, KeyStore
from .infra.catalog import ModelCatalog
from .infra.db import AudioFile, Database, Migrations, open_database
from .infra.quota import check_quota, register_usage
from .infra.settings import Settings
from .infra.storage import LocalStorage, NodeStorage, Storage, storage_failure
from .infra.webhooks import Dispatcher
from .jobs.jobs import JobStore
from .runners.backends import Backend, make_backend
from .runners.training import GenerationGate, LocalTraining, Trainer
from .runners.worker import Worker

__all__ = ["ServiceState"]

log = logging.getLogger("music_gen.service")


def _secret_file(path: Path) -> bytes:
    """A random secret kept in the data directory (signed temporary links survive restarts)."""
    if not path.is_file():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def _worker_id(data_dir: Path) -> tuple[str, IO[str] | None]:
    """Unique per process, and stable across restarts of one data directory: the process that
    holds the lock on ``worker-id.lock`` uses the stored id (after a crash, its restart
    requeues at once the jobs its previous life left running); another process started on the
    same data directory meanwhile gets an id of its own (its jobs are requeued by the lease).
    Returns the id and the open lock file (kept open for the life of the process)."""
    path = data_dir / "worker-id"
    if not path.is_file():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(f"worker-{secrets.token_hex(6)}")
    stored = path.read_text().strip()
    try:
        import fcntl
    except ImportError:  # no advisory locks here: a fresh id every start
        return f"{stored}-{secrets.token_hex(4)}", None
    lock = (data_dir / "worker-id.lock").open("a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # another live process is this data directory's worker
        lock.close()
        return f"{stored}-{secrets.token_hex(4)}", None
    return stored, lock


def _node_of(db: Database) -> Callable[[str], str | None]:
    """Storage key -> the base URL of the server that stored that result (None: unknown)."""

    def node_of(key: str) -> str | None:
        with db.session() as s:
            return s.scalar(select(AudioFile.node).where(AudioFile.key == key).limit(1))

    return node_of


DEFAULT_MODEL = "facebook/musicgen-small"


def _default_model(settings: Settings) -> str:
    from ...engine.hub import is_cached

    if settings.engine == "test-tone":
        return DEFAULT_MODEL
    from ...families.licenses import allows_commercial, license_of

    if settings.commercial_only and allows_commercial(license_of(DEFAULT_MODEL)) is False:
        log.warning(
            "notice: %s is licensed for non-commercial use only and this server is "
            "commercial-only; serving the offline composer engine instead",
            DEFAULT_MODEL,
        )
        return "composer"
    if is_cached(DEFAULT_MODEL, settings.cache_dir):
        return DEFAULT_MODEL
    log.warning(
        "notice: %s is not available here; serving the offline composer engine instead "
        "(set MUSIC_GEN_MODEL to choose a model)",
        DEFAULT_MODEL,
    )
    return "composer"


def _trainer(service: ServiceState, worker_id: str) -> Trainer:
    """The finetune runner: training in this process, yielding to generation; with
    ``serve --ray`` a Ray task per run instead (never on this node)."""
    settings = service.settings
    gate = None
    executor: Any
    if settings.ray_address:
        from .runners.ray_training import RayTraining

        executor = RayTraining(settings.ray_training_cpus, settings.ray_training_gpus,
                               settings.cache_dir)  # fmt: skip
    else:
        executor = LocalTraining(settings.device, settings.cache_dir)
        gate = GenerationGate(service.store, lambda: len(service.worker.running)).waiting
    return Trainer(
        service.store,
        service.webhooks,
        lambda: service.adapter_store,
        executor,
        worker_id=worker_id,
        work_root=settings.data_dir / "finetunes",
        slots=settings.training_slots,
        per_account=settings.max_concurrent_per_account,
        gate=gate,
    )


@dataclass
class ServiceState:
    settings: Settings
    db: Database
    store: JobStore
    keys: KeyStore
    storage: Storage
    webhooks: Dispatcher
    worker: Worker
    backend: Backend
    limiter: MovingWindowRateLimiter
    link_secret: bytes = b""
    extras: dict[str, Any] = field(default_factory=dict)
    trainer: Trainer | None = None  # finetune jobs (runners.training)

    @classmethod
    def build(
        cls,
        settings: Settings,
        backend: Backend | None = None,
        webhook_transport: httpx.BaseTransport | None = None,
        migrations: Sequence[Migrations] = (),
    ) -> ServiceState:
        """Everything, from ``settings``; ``migrations``: other owners' tables (the vendor
        adapters', see ``plugins``) brought up to date after the core's."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if settings.model is None:  # resolved once, here: everything else reads it
            settings.model = _default_model(settings)
        db = open_database(settings.db_url, migrations)
        store = JobStore(db, settings.max_attempts)
        keys = KeyStore(db)
        storage = NodeStorage(
            LocalStorage(settings.audio_dir), _node_of(db), settings.node_base_url
        )
        webhooks = Dispatcher(
            db,
            keys.webhook_secret,
            max_attempts=settings.webhook_max_attempts,
            backoff=settings.webhook_backoff_seconds,
            timeout=settings.webhook_timeout_seconds,
            allow_private=settings.allow_private_urls,
            allow_loopback=settings.allow_loopback_urls,
            transport=webhook_transport,
        )
        if backend is None and settings.ray_address:  # generation on Ray Serve replicas
            from .runners.ray_backend import connect

            backend = connect(settings)
        backend = backend or make_backend(settings)
        base = settings.base_url
        worker_id, worker_lock = _worker_id(settings.data_dir)
        worker = Worker(
            store,
            backend,
            storage,
            webhooks,
            audio_url=lambda audio_id: f"{base}/api/v1/audio/{audio_id}",
            worker_id=worker_id,
            per_account=settings.max_concurrent_per_account,
            lease_seconds=settings.lease_seconds,
            retention_days=settings.retention_days,
            scratch_dir=settings.data_dir / "inputs",
            node=settings.node_base_url,
        )
        limiter = MovingWindowRateLimiter(storage_from_string(settings.rate_limit_storage))
        try:
            parse_limit(settings.rate_limit)
        except ValueError as exc:
            raise InvalidInput(f"bad rate_limit {settings.rate_limit!r}: {exc}") from exc
        service = cls(settings, db, store, keys, storage, webhooks, worker, backend, limiter)
        service.link_secret = _secret_file(settings.data_dir / "link-secret")
        store.admit = lambda account_id: check_quota(service, account_id)  # full: no new jobs
        service.extras["worker_lock"] = worker_lock
        service.trainer = _trainer(service, worker_id)
        register_usage(
            service, "adapters", lambda state, account: state.adapter_store.usage(account)
        )
        return service

    @property
    def catalog(self) -> ModelCatalog:
        """The served models and their capabilities (built on first use)."""
        if "catalog" not in self.extras:
            self.extras["catalog"] = ModelCatalog(self.settings)
        catalog: ModelCatalog = self.extras["catalog"]
        return catalog

    @property
    def adapter_store(self) -> AdapterStore:
        """The server's LoRA adapters (``infra.adapter_store``)."""
        if "adapter_store" not in self.extras:
            self.extras["adapter_store"] = AdapterStore(adapters_root(self.settings))
        store: AdapterStore = self.extras["adapter_store"]
        return store

    def start(self) -> None:
        self.webhooks.start()
        self.worker.start()  # (requeues the jobs this node left running, finetunes too)
        if self.trainer is not None:
            self.trainer.start()

    def stop(self) -> None:
        if self.trainer is not None:
            self.trainer.stop()
        self.worker.stop()
        close = getattr(self.backend, "close", None)  # a Ray backend: calls still in flight
        if close is not None:
            close()
        self.webhooks.stop()
        self.db.dispose()
        lock = self.extras.pop("worker_lock", None)
        if lock is not None:
            lock.close()

    def queue_depth(self) -> int:
        """Queued jobs (the worker's last count when the database does not answer)."""
        with contextlib.suppress(SQLAlchemyError):
            self.worker.queue_depth = self.store.queue_depth()
        return self.worker.queue_depth

    def health_problems(self) -> list[str]:
        """Broken dependencies, for readiness: the database (one ``SELECT 1``), storage (a
        probe write, and whether the last failed result write would fit now)."""
        problems = []
        try:
            with self.db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            database_ok = True
        except SQLAlchemyError as exc:
            database_ok = False
            problems.append(f"database unreachable: {type(exc).__name__}")
        probe = getattr(self.storage, "probe", None)
        if probe is not None and "storage" not in self.worker.problems:
            try:
                probe(0)
            except OSError as exc:
                problems.append(str(storage_failure(exc)))
        for problem in self.worker.health_problems():
            if database_ok and problem.startswith("database"):
                continue
            problems.append(problem)
        return problems

    def audio_url(self, audio_id: str | None) -> str | None:
        return None if audio_id is None else f"{self.settings.base_url}/api/v1/audio/{audio_id}"

    def _link_signature(self, audio_id: str, expires: int) -> bytes:
        message = f"{self.audio_url(audio_id)}|{expires}".encode()
        return hmac.new(self.link_secret, message, hashlib.sha256).hexdigest()[:32].encode()

    def temporary_audio_url(self, audio_id: str, expires: int) -> str:
        """``audio_url`` signed to stop working after ``expires`` (unix seconds)."""
        sig = self._link_signature(audio_id, expires).decode()
        return f"{self.audio_url(audio_id)}?expires={expires}&sig={sig}"

    def link_signature_ok(self, audio_id: str, expires: int, sig: str) -> bool:
        given = sig.encode("utf-8", "replace")  # compare bytes: any text is a bad signature
        return hmac.compare_digest(self._link_signature(audio_id, expires), given)

    def hit_rate_limit(self, caller: Caller) -> None:
        limit = parse_limit(self.settings.rate_limit)
        if self.limiter.hit(limit, "key", caller.key_id):
            return
        reset, _ = self.limiter.get_window_stats(limit, "key", caller.key_id)
        import time

        retry = max(1, int(reset - time.time()) + 1)
        raise RateLimited(
            f"rate limit of {self.settings.rate_limit} exceeded; retry in {retry} s",
            details={"retry_after": retry, "limit": self.settings.rate_limit},
        )
