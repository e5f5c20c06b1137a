"""Tables and the database connection (SQLAlchemy 2; SQLite by default, PostgreSQL by URL).

The schema is owned by Alembic migrations in ``migrations/``; ``open_database`` upgrades the
database to the newest revision before the service uses it, so a fresh data directory, an old
one and a PostgreSQL database all end up on the same schema. Tables that are not the core's
(a vendor adapter's) come with their own history (``Migrations``: a versions directory and a
version table of its own), which ``open_database`` runs after the core's; the core knows
neither the tables nor who owns them.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

__all__ = [
    "Account",
    "ApiKey",
    "AudioFile",
    "Base",
    "Database",
    "Job",
    "JobStatus",
    "Migrations",
    "Upload",
    "WebhookAttempt",
    "WebhookDelivery",
    "open_database",
    "utcnow",
]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class JobStatus(enum.StrEnum):
    """queued → running → succeeded | failed | cancelled (running → queued after a crash)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
    }


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    webhook_secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(20))  # shown in listings; the key is not stored
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("account_id", "idempotency_key"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    batch_id: Mapped[str | None] = mapped_column(String(40), index=True, default=None)
    origin: Mapped[str] = mapped_column(String(40), index=True, default="api")  # or an adapter
    type: Mapped[str] = mapped_column(String(20), default="batch")  # a spec.JobType
    options: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # the origin's
    status: Mapped[str] = mapped_column(String(20), index=True, default=JobStatus.QUEUED.value)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)  # the JobSpec, stored
    model: Mapped[str] = mapped_column(String(300))
    seed: Mapped[int | None] = mapped_column(BigInteger, default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    webhook_url: Mapped[str | None] = mapped_column(Text, default=None)
    track_id: Mapped[str | None] = mapped_column(String(200), default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # what a running job reports beside its progress (a finetune: step, total, loss history;
    # a plan: the section being made, {"section", "sections", "name", "step", "steps", ...})
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    audio_id: Mapped[str | None] = mapped_column(String(64), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class AudioFile(Base):
    __tablename__ = "audio_files"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # unguessable
    job_id: Mapped[str | None] = mapped_column(String(40), index=True)
    account_id: Mapped[str] = mapped_column(String(40), index=True)
    key: Mapped[str] = mapped_column(String(300))  # storage key
    format: Mapped[str] = mapped_column(String(10))
    sample_rate: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    duration: Mapped[float] = mapped_column(Float)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    # base URL of the server whose storage holds the file (servers with separate data dirs)
    node: Mapped[str | None] = mapped_column(String(300), default=None)


class Upload(Base):
    """Audio an account uploaded (``POST /uploads``), stored as sent under ``key``."""

    __tablename__ = "uploads"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # up_…
    account_id: Mapped[str] = mapped_column(String(40), index=True)
    key: Mapped[str] = mapped_column(String(300))  # storage key
    format: Mapped[str] = mapped_column(String(10))  # its container: wav | flac | ogg | mp3
    sample_rate: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    duration: Mapped[float] = mapped_column(Float)
    size: Mapped[int] = mapped_column(BigInteger)  # bytes stored
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(40), index=True)
    account_id: Mapped[str] = mapped_column(String(40))
    url: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)  # the exact JSON text that is signed and sent
    status: Mapped[str] = mapped_column(String(20), index=True, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        elif url.startswith("postgresql+psycopg") or url.startswith("postgresql:"):
            # a server that does not answer at all (no refusal) fails requests in seconds
            # (503 DATABASE_UNAVAILABLE), instead of holding them until TCP gives up
            kwargs["connect_args"] = {"connect_timeout": 5}
            kwargs["pool_timeout"] = 10
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.session = sessionmaker(self.engine, expire_on_commit=False)

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the worker's writes
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@dataclass(frozen=True)
class Migrations:
    """Another owner's Alembic history, run after the core's: ``versions`` holds its revision
    files (the first has no down revision and may assume the core's tables at their newest),
    and ``alembic_version_<name>`` records where this database stands in it."""

    name: str
    versions: Path

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.name}"


def _config(url: str, connection: Any, versions: Path | None, version_table: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if versions is not None:
        config.set_main_option("version_locations", str(versions))
    config.attributes["connection"] = connection
    config.attributes["version_table"] = version_table
    return config


# the PostgreSQL advisory lock that serialises migrations ("music-ge" in ASCII, a bigint)
MIGRATION_LOCK = 0x6D757369632D6765


def upgrade(db: Database, revision: str = "heads", extra: Sequence[Migrations] = ()) -> None:
    """Run the core's migrations up to ``revision``, then each of ``extra`` to its head, in one
    transaction. On PostgreSQL that transaction first takes an advisory lock, so nodes started
    together migrate one at a time: the first upgrades, the others wait for its commit and
    then find every history at its head (without the lock two nodes both ran ``CREATE TABLE``
    on an empty database, and all but one died of a unique violation)."""
    from alembic import command

    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # released when the transaction ends
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        command.upgrade(_config(db.url, connection, None, "alembic_version"), revision)
        for other in extra:
            config = _config(db.url, connection, other.versions, other.version_table)
            command.upgrade(config, "heads")


def open_database(url: str, extra: Sequence[Migrations] = ()) -> Database:
    """Connect, and migrate the schema to the newest revision (the core's, then ``extra``'s:
    the vendor adapters' tables, handed over by whoever wires the adapters in)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    db = Database(url)
    upgrade(db, "heads", extra)
    return db
