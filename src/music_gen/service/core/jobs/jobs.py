"""Durable jobs: every state change is one conditional UPDATE, so none is lost or run twice.

- ``create`` stores a queued job (or returns the one stored under the same Idempotency-Key).
- ``claim`` moves queued jobs to running for one worker (``UPDATE … WHERE status='queued'``:
  two workers can never claim the same job), at most ``per_account`` running per account.
- ``finish``/``fail`` only apply while the job is still running *under that worker's claim*
  (``worker_id`` and ``attempts``), so a job that was requeued after a crash and claimed again
  can complete only once.
- ``requeue_stale`` gives a running job whose worker stopped heart-beating back to the queue
  (or fails it after ``max_attempts`` runs); the service calls it at start-up and periodically.

It knows nothing about models or HTTP; one log line is written per state change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import secrets
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from ....errors import Conflict, NotFound
from ..infra.db import AudioFile, Database, Job, JobStatus, utcnow
from .finetune import FinetuneSpec
from .spec import JobSpec, JobType

__all__ = ["JobStore", "NewJob", "request_hash"]

log = logging.getLogger("music_gen.jobs")


def _count(session: Any, statement: Any) -> int:
    """Rows an UPDATE changed (its conditions decide who wins a race)."""
    return int(session.execute(statement).rowcount)


def new_job_id() -> str:
    return secrets.token_hex(16)


def request_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class NewJob:
    account_id: str
    spec: JobSpec | FinetuneSpec  # a FinetuneSpec for type FINETUNE
    type: JobType = JobType.BATCH
    origin: str = "api"  # or the adapter's name
    options: dict[str, Any] | None = None  # the origin's own (an adapter's), beside the spec
    webhook_url: str | None = None
    track_id: str | None = None
    batch_id: str | None = None
    idempotency_key: str | None = None
    # what identifies the request for its Idempotency-Key (default: spec, origin and type);
    # a seed the server drew is not part of it, so a retried request matches its first try
    fingerprint: dict[str, Any] | None = None


def _queue_rank() -> Any:
    """A queued job's rank within its account, model and job type (oldest first): the order
    ``JobStore.claim`` takes jobs in, and so the order ``queue_positions`` reports."""
    return (
        func.row_number()
        .over(partition_by=(Job.account_id, Job.model, Job.type), order_by=(Job.created_at, Job.id))
        .label("rank")
    )


class JobStore:
    def __init__(self, db: Database, max_attempts: int = 3) -> None:
        self.db = db
        self.max_attempts = max_attempts
        self.counters: Counter[str] = Counter()
        # asked before a new job is stored (raises to refuse it), e.g. the storage quota
        self.admit: Callable[[str], None] | None = None

    def _changed(self, job_id: str, status: str, **extra: Any) -> None:
        self.counters[status] += 1
        detail = " ".join(f"{k}={v}" for k, v in extra.items())
        log.info("job %s %s %s", job_id, status, detail)

    # ------------------------------------------------------------------ submit and read
    def create(self, new: NewJob) -> tuple[Job, bool]:
        """Store a queued job; with an idempotency key seen before, return that job instead."""
        digest = request_hash(
            new.fingerprint
            or {"spec": new.spec.stored(), "origin": new.origin, "type": new.type.value}
        )
        if new.idempotency_key is not None:
            existing = self._by_key(new.account_id, new.idempotency_key)
            if existing is not None:
                return self._same_request(existing, digest), False
        if self.admit is not None:
            self.admit(new.account_id)
        job = Job(
            id=new_job_id(),
            account_id=new.account_id,
            batch_id=new.batch_id,
            origin=new.origin,
            type=new.type.value,
            options=new.options,
            status=JobStatus.QUEUED.value,
            params=new.spec.stored(),
            model=new.spec.model,
            seed=new.spec.seed,
            webhook_url=new.webhook_url,
            track_id=new.track_id,
            idempotency_key=new.idempotency_key,
            request_hash=digest,
        )
        try:
            with self.db.session.begin() as s:
                s.add(job)
        except IntegrityError:  # a concurrent request with the same key won the race
            existing = self._by_key(new.account_id, new.idempotency_key or "")
            if existing is None:
                raise
            return self._same_request(existing, digest), False
        self._changed(job.id, "queued", account=new.account_id, origin=new.origin,
                      type=new.type.value)  # fmt: skip
        return job, True

    def _by_key(self, account_id: str, key: str) -> Job | None:
        with self.db.session() as s:
            return s.scalar(
                select(Job).where(Job.account_id == account_id, Job.idempotency_key == key)
            )

    @staticmethod
    def _same_request(job: Job, digest: str) -> Job:
        if job.request_hash != digest:
            raise Conflict(
                "this Idempotency-Key was already used for a different request",
                code="IDEMPOTENCY_KEY_REUSED",
                details={"task_id": job.id},
            )
        return job

    def get(self, job_id: str, account_id: str | None = None) -> Job:
        with self.db.session() as s:
            job = s.get(Job, job_id)
        if job is None or (account_id is not None and job.account_id != account_id):
            raise NotFound(f"no task {job_id!r}", code="TASK_NOT_FOUND", details={"id": job_id})
        return job

    def list_jobs(
        self,
        account_id: str,
        status: JobStatus | None = None,
        limit: int = 20,
        offset: int = 0,
        batch_id: str | None = None,
        origin: str | None = None,
    ) -> tuple[list[Job], int]:
        where = [Job.account_id == account_id]
        if status is not None:
            where.append(Job.status == status.value)
        if batch_id is not None:
            where.append(Job.batch_id == batch_id)
        if origin is not None:
            where.append(Job.origin == origin)
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(Job).where(*where)) or 0
            rows = s.scalars(
                select(Job)
                .where(*where)
                .order_by(Job.created_at.desc(), Job.id)
                .limit(limit)
                .offset(offset)
            ).all()
        return list(rows), total

    def queue_depth(self, skip: Collection[str] = ()) -> int:
        """Queued jobs (of any type but those in ``skip``)."""
        where = [Job.status == "queued"]
        if skip:
            where.append(Job.type.not_in(list(skip)))
        with self.db.session() as s:
            n = s.scalar(select(func.count()).select_from(Job).where(*where))
        return n or 0

    def active(self, account_id: str | None, type: JobType) -> list[Job]:
        """Queued and running jobs of ``type`` (the account's; None: every account's), oldest
        first."""
        where = [Job.type == type.value, Job.status.in_(["queued", "running"])]
        if account_id is not None:
            where.append(Job.account_id == account_id)
        with self.db.session() as s:
            rows = s.scalars(select(Job).where(*where).order_by(Job.created_at, Job.id)).all()
        return list(rows)

    def list_by_type(
        self, account_id: str, type: JobType, limit: int = 20, offset: int = 0
    ) -> tuple[list[Job], int]:
        """The account's jobs of ``type``, newest first, and how many there are."""
        where = (Job.account_id == account_id, Job.type == type.value)
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(Job).where(*where)) or 0
            rows = s.scalars(
                select(Job)
                .where(*where)
                .order_by(Job.created_at.desc(), Job.id)
                .limit(limit)
                .offset(offset)
            ).all()
        return list(rows), total

    def statuses(self, ids: list[str]) -> dict[str, str]:
        if not ids:
            return {}
        with self.db.session() as s:
            rows = s.execute(select(Job.id, Job.status).where(Job.id.in_(ids))).all()
            return {job_id: status for job_id, status in rows}

    def queue_positions(self, ids: list[str]) -> dict[str, int]:
        """Where these jobs stand in the queue, in the order ``claim`` takes queued jobs (each
        account's oldest first, then each one's second oldest, …, counted per model): 1 =
        claimed next. Jobs not queued are left out. An estimate: an account at its running
        limit, or a job whose runner is full, waits its turn."""
        if not ids:
            return {}
        rank = _queue_rank()
        queued = select(Job.id, Job.created_at, rank).where(Job.status == "queued").subquery()
        order = (queued.c.rank, queued.c.created_at, queued.c.id)
        ordered = select(
            queued.c.id, func.row_number().over(order_by=order).label("position")
        ).subquery()
        with self.db.session() as s:
            rows = s.execute(
                select(ordered.c.id, ordered.c.position).where(ordered.c.id.in_(ids))
            ).all()
        return {job_id: int(position) for job_id, position in rows}

    # ------------------------------------------------------------------ state changes
    def cancel(self, job_id: str, account_id: str | None = None) -> Job:
        job = self.get(job_id, account_id)
        if JobStatus(job.status).final:
            raise Conflict(
                f"task {job_id} is already {job.status}",
                code="NOT_CANCELLABLE",
                details={"status": job.status},
            )
        with self.db.session.begin() as s:
            done = _count(
                s,
                update(Job)
                .where(Job.id == job_id, Job.status.in_(["queued", "running"]))
                .values(status="cancelled", finished_at=utcnow()),
            )
        if not done:  # it finished meanwhile
            return self.cancel(job_id, account_id)
        self._changed(job_id, "cancelled")
        return self.get(job_id)

    def claim(
        self,
        worker_id: str,
        limit: int,
        per_account: int,
        fits: Callable[[str, dict[str, Any]], bool] | None = None,
        *,
        only: Collection[str] | None = None,
        skip: Collection[str] = (),
    ) -> list[Job]:
        """Up to ``limit`` queued jobs for ``worker_id``, fairly across accounts: each account's
        oldest job first, then each one's second oldest, … (one account's backlog cannot starve
        another's jobs), at most ``per_account`` running per account.

        ``fits(model, params)``: whether the worker has room for that job now (its runner is not
        full); a job that does not fit is passed over, not waited on, so jobs for a full runner
        never hold up jobs for another. Ranks count per account and model (and job type), so a
        backlog for one runner does not hide the same account's jobs for another.

        ``only`` / ``skip``: the job types to take / to leave for another runner (the
        generation worker leaves ``finetune`` jobs to the trainer, which takes only those)."""
        if limit <= 0:
            return []
        kinds = [Job.status == "queued"]
        if only is not None:
            kinds.append(Job.type.in_(list(only)))
        if skip:
            kinds.append(Job.type.not_in(list(skip)))
        with self.db.session() as s:
            running: dict[str, int] = dict(
                s.execute(
                    select(Job.account_id, func.count())
                    .where(Job.status == "running")
                    .group_by(Job.account_id)
                ).all()
            )
            rank = _queue_rank()
            queued = (
                select(Job.id, Job.account_id, Job.created_at, Job.model, Job.params, rank)
                .where(*kinds)
                .subquery()
            )
            candidates = s.execute(
                select(queued.c.id, queued.c.account_id, queued.c.model, queued.c.params)
                .where(queued.c.rank <= min(limit, per_account))
                .order_by(queued.c.rank, queued.c.created_at, queued.c.id)
                .limit(200)
            ).all()
        claimed: list[Job] = []
        for job_id, account_id, model, params in candidates:
            if len(claimed) >= limit:
                break
            if running.get(account_id, 0) >= per_account:
                continue
            if fits is not None and not fits(model, params):
                continue
            now = utcnow()
            with self.db.session.begin() as s:
                won = _count(
                    s,
                    update(Job)
                    .where(Job.id == job_id, Job.status == "queued")
                    .values(
                        status="running",
                        worker_id=worker_id,
                        attempts=Job.attempts + 1,
                        started_at=now,
                        heartbeat_at=now,
                    ),
                )
            if won:
                running[account_id] = running.get(account_id, 0) + 1
                job = self.get(job_id)
                claimed.append(job)
                self._changed(job.id, "running", worker=worker_id, attempt=job.attempts)
        return claimed

    def _running_under(self, job: Job) -> list[Any]:
        return [
            Job.id == job.id,
            Job.status == "running",
            Job.worker_id == job.worker_id,
            Job.attempts == job.attempts,
        ]

    def heartbeat(
        self,
        jobs: list[Job],
        progress: dict[str, float],
        detail: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        """Running jobs are alive: their progress, and what their runs say they are doing
        (``detail``: a plan's section i of n and step; kept as it was where not given)."""
        now = utcnow()
        with self.db.session.begin() as s:
            for job in jobs:
                values: dict[str, Any] = {
                    "heartbeat_at": now,
                    "progress": progress.get(job.id, job.progress),
                }
                if detail and job.id in detail:
                    values["report"] = detail[job.id]
                _count(s, update(Job).where(*self._running_under(job)).values(**values))

    def report(self, job: Job, progress: float, report: dict[str, Any]) -> bool:
        """Record a running job's progress and report (and its heartbeat) while it is still
        running under this claim; False once it is not (cancelled, taken over)."""
        with self.db.session.begin() as s:
            done = _count(
                s,
                update(Job)
                .where(*self._running_under(job))
                .values(heartbeat_at=utcnow(), progress=progress, report=report),
            )
        return bool(done)

    def finish(self, job: Job, result: dict[str, Any], audio_id: str | None) -> bool:
        with self.db.session.begin() as s:
            done = _count(
                s,
                update(Job)
                .where(*self._running_under(job))
                .values(
                    status="succeeded",
                    progress=1.0,
                    result=result,
                    audio_id=audio_id,
                    finished_at=utcnow(),
                ),
            )
        if done:
            self._changed(job.id, "succeeded", audio=audio_id)
        return bool(done)

    def fail(self, job: Job, error: dict[str, Any]) -> bool:
        with self.db.session.begin() as s:
            done = _count(
                s,
                update(Job)
                .where(*self._running_under(job))
                .values(status="failed", error=error, finished_at=utcnow()),
            )
        if done:
            self._changed(job.id, "failed", code=error.get("code"))
        return bool(done)

    def release(self, job: Job, reason: str = "released") -> bool:
        """Give a running job back to the queue (worker shutting down, batch split, its run
        lost with a Ray replica); its attempt stays counted."""
        with self.db.session.begin() as s:
            done = _count(
                s,
                update(Job)
                .where(*self._running_under(job))
                .values(status="queued", worker_id=None, progress=0.0),
            )
        if done:
            self._changed(job.id, "queued", reason=reason)
        return bool(done)

    def requeue_stale(
        self,
        lease_seconds: float,
        worker_id: str | None = None,
        on_failed: Callable[[Job], None] | None = None,
    ) -> int:
        """Running jobs with no heartbeat for ``lease_seconds`` (or left by ``worker_id``'s
        previous life) go back to the queue; after ``max_attempts`` runs they fail instead,
        and ``on_failed`` gets each such job as stored (its webhook is the caller's)."""
        cutoff = utcnow() - dt.timedelta(seconds=lease_seconds)
        stale = Job.heartbeat_at < cutoff
        if worker_id is not None:
            stale = stale | (Job.worker_id == worker_id)
        with self.db.session() as s:
            jobs = s.scalars(select(Job).where(Job.status == "running", stale)).all()
        count = 0
        for job in jobs:
            if job.attempts >= self.max_attempts:
                error = {
                    "code": "GENERATION_FAILED",
                    "message": f"the job was interrupted {job.attempts} times; giving up",
                    "details": {"attempts": job.attempts},
                }
                if self.fail(job, error):
                    count += 1
                    if on_failed is not None:
                        on_failed(self.get(job.id))
            else:
                count += self.release(job)
        return count

    def expired(self, older_than: dt.datetime) -> list[Job]:
        with self.db.session() as s:
            rows = s.scalars(
                select(Job).where(
                    Job.finished_at < older_than,
                    Job.status.in_(["succeeded", "failed", "cancelled"]),
                )
            ).all()
        return list(rows)

    def delete_ended(self, job_id: str, account_id: str) -> list[tuple[str, str]]:
        """Remove one of the account's ended jobs and its audio rows, in one transaction;
        returns those rows' ``(audio id, storage key)`` (their files are the caller's to
        delete). A queued or running job is a Conflict (NOT_DELETABLE): cancel it first."""
        job = self.get(job_id, account_id)
        ended = [s.value for s in JobStatus if s.final]
        if job.status not in ended:
            raise Conflict(
                f"task {job_id} is {job.status}; cancel it before deleting it",
                code="NOT_DELETABLE",
                details={"status": job.status},
            )
        with self.db.session.begin() as s:
            gone = _count(
                s,
                delete(Job).where(
                    Job.id == job_id, Job.account_id == account_id, Job.status.in_(ended)
                ),
            )
            if not gone:  # deleted meanwhile (another request, retention)
                raise NotFound(f"no task {job_id!r}", code="TASK_NOT_FOUND", details={"id": job_id})
            mine = (AudioFile.job_id == job_id, AudioFile.account_id == account_id)
            files = [(i, k) for i, k in s.execute(select(AudioFile.id, AudioFile.key).where(*mine))]
            s.execute(delete(AudioFile).where(*mine))
        log.info("job %s deleted with %d audio files", job_id, len(files))
        return files

    def delete(self, job_ids: list[str]) -> None:
        with self.db.session.begin() as s:
            s.execute(delete(Job).where(Job.id.in_(job_ids)))
