"""The service's one ``Settings`` object, read from ``MUSIC_GEN_*`` environment variables.

What only a vendor adapter uses is not here: each adapter reads its own settings class, from
the same ``MUSIC_GEN_*`` variables.

It refuses insecure combinations instead of warning about them: authentication can be switched
off only explicitly (``MUSIC_GEN_AUTH=false``), and never on an address other than loopback.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "is_loopback_host"]


def is_loopback_host(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MUSIC_GEN_", extra="ignore")

    # where and what
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path = Path("music-gen-data")
    database_url: str | None = None  # default: sqlite:///<data_dir>/music-gen.db
    public_url: str | None = None  # base of audio URLs; default http://<host>:<port>
    # this server's own address when several share one database with separate data dirs
    # (behind one public_url): audio it stores is fetched from here by the others' redirects
    node_url: str | None = None
    # None: facebook/musicgen-small when it can be loaded here, else the offline composer
    # (with a notice in the log); a model named here never falls back
    model: str | None = None
    models: list[str] = []  # more models clients may ask for by name (loaded on demand)
    # a song model (ACE-Step or MiniMax Music 3 hub id or directory): sung lyrics on /api/v1
    # and music-01
    song_model: str | None = None
    device: str = "auto"
    engine: Literal["fast", "onnxruntime", "reference", "test-tone"] = "fast"
    quantize: Literal["int8", "int4"] | None = None  # MusicGen's fast or onnxruntime engine
    cache_dir: Path | None = None
    # LoRA adapters requests may name (one folder each): default <data_dir>/adapters
    adapters_dir: Path | None = None
    # refuse models whose weights' licence forbids commercial use (cc-by-nc-*: MusicGen);
    # LICENSE_NOT_COMMERCIAL names the licence. Unknown licences are not refused.
    commercial_only: bool = False

    # accounts and limits
    auth: bool = True
    rate_limit: str = "100/minute"  # per API key; a `limits` expression
    rate_limit_storage: str = "memory://"  # or redis://127.0.0.1:6379 to share between servers
    max_concurrent_per_account: int = Field(10, ge=1)
    max_batch: int = Field(4, ge=1)  # requests decoded together by the worker
    max_prompt_chars: int = Field(2000, ge=1)
    max_duration: float = Field(300.0, gt=0)
    max_body_bytes: int = Field(1_000_000, ge=1024)
    max_upload_bytes: int = Field(150_000_000, ge=1024)  # reference-track uploads (10 min WAV)
    # what one account may keep stored (uploads, results, adapters' files), in MB; 0: no limit
    storage_quota_mb: float = Field(2048.0, ge=0)
    max_batch_requests: int = Field(32, ge=1)

    # jobs
    lease_seconds: float = Field(30.0, gt=0)  # a running job whose worker is silent this long
    retention_days: float | None = Field(30.0, gt=0)  # results older than this are deleted
    max_attempts: int = Field(3, ge=1)  # runs of one job (restarts included) before it fails

    # input audio that jobs are conditioned on (uploads, URLs, vendors' init_audio)
    max_input_audio_bytes: int = Field(20_000_000, ge=1024)  # init_audio downloads
    max_input_audio_seconds: float = Field(30.0, gt=0)
    download_timeout_seconds: float = Field(15.0, gt=0)

    # scale-out on Ray Serve (docs/ray.md): a cluster address, or "local" to start one here;
    # None keeps the in-process worker. Needs a PostgreSQL database_url.
    ray_address: str | None = None
    ray_app: str = "music-gen"  # the Serve application of the generation replicas
    ray_replicas: int | None = Field(None, ge=1)  # fixed size (default 1) …
    ray_min_replicas: int | None = Field(None, ge=0)  # … or autoscaling between these
    ray_max_replicas: int | None = Field(None, ge=1)
    ray_gpus_per_replica: float = Field(0.0, ge=0)
    ray_cpus_per_replica: float = Field(1.0, ge=0)
    ray_grace_seconds: float = Field(300.0, ge=0)  # a replica scaled down finishes its jobs
    ray_autoscaling: dict[str, float] = {}  # more autoscaling_config keys (delays, intervals)
    ray_caller_check_seconds: float = Field(5.0, gt=0)  # replicas: is a job's API node alive?

    # fine-tuning jobs (POST /finetunes, docs/training.md)
    max_finetunes_per_account: int = Field(1, ge=1)  # queued + running; more: 409
    training_slots: int = Field(1, ge=0)  # finetunes this node trains at once (0: none)
    max_training_steps: int = Field(20_000, ge=1)
    max_dataset_bytes: int = Field(500_000_000, ge=1024)  # a finetune's whole upload
    max_dataset_files: int = Field(1000, ge=1)  # files in its uploads or archive
    # with serve --ray: what one training run asks the cluster for (a Ray task)
    ray_training_cpus: float = Field(1.0, ge=0)
    ray_training_gpus: float = Field(0.0, ge=0)

    # webhooks
    webhook_max_attempts: int = Field(6, ge=1)
    webhook_backoff_seconds: float = Field(2.0, gt=0)  # doubles after every failed attempt
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    allow_private_urls: bool = False  # webhook/init_audio URLs on private networks
    allow_loopback_urls: bool = False  # … and on loopback (tests)

    @model_validator(mode="after")
    def _refuse_insecure(self) -> Settings:
        if not self.auth and not is_loopback_host(self.host):
            raise ValueError(
                f"authentication is off and the server would listen on {self.host}; "
                "run without auth only on a loopback address (127.0.0.1, ::1, localhost)"
            )
        if self.ray_address is not None:
            if not (self.database_url or "").startswith("postgresql"):
                raise ValueError(
                    "the Ray backend needs a PostgreSQL database shared by every API node: "
                    "set --database-url postgresql+psycopg://… (MUSIC_GEN_DATABASE_URL)"
                )
            if self.ray_replicas is not None and (
                self.ray_min_replicas is not None or self.ray_max_replicas is not None
            ):
                raise ValueError("give either ray_replicas or ray_min/max_replicas, not both")
            low, high = self.ray_min_replicas or 0, self.ray_max_replicas
            if high is not None and low > high:
                raise ValueError("ray_min_replicas is larger than ray_max_replicas")
        return self

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'music-gen.db').resolve()}"

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def node_base_url(self) -> str:
        return (self.node_url or self.base_url).rstrip("/")

    @property
    def audio_dir(self) -> Path:
        return self.data_dir / "audio"
