"""The SDK's typed request bodies and answers, mirroring ``/api/v1``'s JSON.

Requests are frozen dataclasses: a misspelt field is a ``TypeError`` here, before anything is
sent, and ``None`` means "the server's default" (left out of the body). The server checks the
values (ranges, capabilities) and answers with the library's codes, which the client raises as
``music_gen.errors`` classes. These mirror the service's request schemas
(``service.api.schemas``) without importing the service, pydantic or torch.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..audio import AudioOutput, load_audio

__all__ = [
    "Adapter",
    "Batch",
    "EditRequest",
    "GenerationRequest",
    "GenerationResult",
    "Health",
    "Model",
    "MultitrackRequest",
    "Readiness",
    "StreamChunk",
    "Task",
    "TaskList",
    "Upload",
    "UploadList",
]

AudioFormat = Literal["wav", "mp3", "flac", "ogg"]
EditTask = Literal["repaint", "cover", "extract", "lego", "complete", "extend", "replace"]
TaskStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class _Body:
    """A request body: its set fields as JSON (``None`` left out: the server's default)."""

    def to_json(self) -> dict[str, Any]:
        assert dataclasses.is_dataclass(self)
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }


@dataclass(frozen=True, kw_only=True)
class GenerationRequest(_Body):
    """``POST /generate`` (and each item of ``/generate/batch``, and the WebSocket): music from
    a prompt; with a song model (``lyrics`` capability in ``GET /models``) also lyrics, tempo,
    key and a reference voice or style (an upload id or a URL)."""

    prompt: str
    duration: float | None = None  # the server's default (10 s), or the plan's
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    guidance_scale: float | None = None
    negative_prompt: str | None = None  # what to steer away from (diffusion models)
    model: str | None = None
    format: AudioFormat | None = None
    sample_rate: int | None = None
    webhook_url: str | None = None
    track_id: str | None = None
    # models with the "plan" capability: a composition plan (ours or ElevenLabs' shape)
    plan: dict[str, Any] | None = None
    # models with the "adapter" capability: a LoRA adapter of GET /adapters, for this request
    adapter: str | None = None
    adapter_scale: float | None = None  # 0 < scale <= 2 (default 1)
    # songs: models with the "lyrics" capability
    lyrics: str | None = None
    bpm: float | None = None
    key: str | None = None
    time_signature: str | None = None
    vocal_language: str | None = None
    steps: int | None = None
    # loops: models with the "loop" capability (needs bpm and bars)
    loop: bool | None = None
    bars: int | None = None
    beats_per_bar: int | None = None
    reference_upload_id: str | None = None
    reference_url: str | None = None
    # MusicGen: models with the "melody" / "continuation" capability
    melody_upload_id: str | None = None
    continuation_upload_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class EditRequest(_Body):
    """``POST /edit``: edit a song (models with the ``edit`` capability). Name the source once:
    an upload, a finished task of the account, or a URL."""

    task: EditTask
    source_upload_id: str | None = None
    source_job_id: str | None = None
    source_url: str | None = None
    prompt: str | None = None
    lyrics: str | None = None
    start: float | None = None  # repaint / lego: from this second
    end: float | None = None  # repaint / lego: to this second
    strength: float | None = None  # cover: 0..1
    track: str | None = None  # extract / lego
    tracks: list[str] | None = None  # complete
    plan: dict[str, Any] | None = None  # replace: the source's plan; extend: sections to add
    section: int | str | None = None  # replace: the section (index or name) to make again
    duration: float | None = None  # extend: the seconds to add
    seed: int | None = None
    steps: int | None = None
    model: str | None = None
    adapter: str | None = None  # a LoRA adapter of GET /adapters ("adapter" capability)
    adapter_scale: float | None = None  # 0 < scale <= 2 (default 1)
    format: AudioFormat | None = None
    sample_rate: int | None = None
    webhook_url: str | None = None
    track_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class MultitrackRequest(_Body):
    """``POST /multi-instrument``: one stem per instrument (name → prompt), mixed; the
    composer (the default model) also writes the MIDI."""

    instruments: dict[str, str]
    duration: float = 30.0
    mix_preset: str | None = None  # jazz_club, rock_band, lofi, cinematic, edm
    mix_settings: dict[str, Any] | None = None  # levels, panning, effects, target_lufs
    seed: int | None = None
    model: str | None = None
    format: AudioFormat | None = None
    sample_rate: int | None = None
    webhook_url: str | None = None
    track_id: str | None = None


def _time(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


@dataclass
class Task:
    """A job as the server reports it (``GET /generate/{id}``, or the answer to a submit)."""

    task_id: str
    status: str
    progress: float = 0.0
    # while a plan runs: {"section", "sections", "name", "step", "steps", "stage"}
    progress_detail: dict[str, Any] | None = None
    audio_url: str | None = None
    duration: float | None = None
    error: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    eta: float | None = None
    queue_position: int | None = None
    type: str | None = None  # batch, stream, multitrack or edit
    origin: str | None = None
    model: str | None = None
    prompt: str | None = None
    seed: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    stems: dict[str, str] = field(default_factory=dict)  # stem name → audio URL
    midi_url: str | None = None
    batch_id: str | None = None
    track_id: str | None = None
    created_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Task:
        return cls(
            task_id=data["task_id"],
            status=data["status"],
            progress=float(data.get("progress") or 0.0),
            progress_detail=data.get("progress_detail"),
            audio_url=data.get("audio_url"),
            duration=data.get("duration"),
            error=data.get("error"),
            metadata=data.get("metadata") or {},
            eta=data.get("eta"),
            queue_position=data.get("queue_position"),
            type=data.get("type"),
            origin=data.get("origin"),
            model=data.get("model"),
            prompt=data.get("prompt"),
            seed=data.get("seed"),
            params=data.get("params") or {},
            stems=data.get("stems") or {},
            midi_url=data.get("midi_url"),
            batch_id=data.get("batch_id"),
            track_id=data.get("track_id"),
            created_at=_time(data.get("created_at")),
            finished_at=_time(data.get("finished_at")),
            raw=data,
        )

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled")


@dataclass
class TaskList:
    """A page of ``GET /generate``: the tasks (iterate it like a list) and how many there are
    in all."""

    items: list[Task]
    total: int
    limit: int
    offset: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskList:
        items = [Task.from_json(item) for item in data["items"]]
        return cls(items, int(data["total"]), int(data["limit"]), int(data["offset"]))

    def __iter__(self) -> Iterator[Task]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Task:
        return self.items[index]


@dataclass
class Batch:
    """``POST /generate/batch``: the batch id and one submitted task per request, in order."""

    batch_id: str
    tasks: list[Task]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Batch:
        return cls(data["batch_id"], [Task.from_json(t) for t in data["tasks"]])


@dataclass
class Upload:
    """An uploaded audio file (``POST /uploads``): name it as a reference, melody,
    continuation or edit source by ``upload_id``."""

    upload_id: str
    duration: float
    sample_rate: int
    channels: int
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Upload:
        return cls(
            data["upload_id"], float(data["duration"]), int(data["sample_rate"]),
            int(data["channels"]), data,
        )  # fmt: skip


@dataclass
class Adapter:
    """A LoRA adapter on the server (``GET /adapters``): a request names it as ``adapter``.
    ``shared``: placed by the operator (usable, not deletable); ``models``: the served models
    it was trained for; ``ready``: False while it trains."""

    name: str
    shared: bool
    base_model: str | None
    family: str | None
    ready: bool
    size_bytes: int
    created_at: dt.datetime | None = None
    rank: int | None = None
    steps: int | None = None
    final_loss: float | None = None
    models: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Adapter:
        return cls(
            data["name"], bool(data["shared"]), data.get("base_model"), data.get("family"),
            bool(data["ready"]), int(data["size_bytes"]), _time(data.get("created_at")),
            data.get("rank"), data.get("steps"), data.get("final_loss"),
            list(data.get("models") or []), data,
        )  # fmt: skip


@dataclass
class UploadList:
    """``GET /uploads``: the account's uploads; ``raw`` keeps whatever else the server says
    about them (e.g. its storage quota)."""

    items: list[Upload]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any] | list[dict[str, Any]]) -> UploadList:
        if isinstance(data, list):
            return cls([Upload.from_json(u) for u in data], {"items": data})
        items = data["items"] if "items" in data else data["uploads"]
        return cls([Upload.from_json(u) for u in items], data)


@dataclass
class Model:
    """A served model (``GET /models``) and what it can do (``capabilities``)."""

    name: str
    id: str
    family: str
    sample_rate: int
    channels: int
    capabilities: list[str]
    size: str = ""
    #: the weights' licence (``"unknown"`` where the checkpoint declares none)
    license: str = "unknown"
    #: whether the licence allows commercial use (None: cannot tell)
    commercial_use: bool | None = None
    loaded: bool = False
    cached: bool = False
    default: bool = False
    #: the LoRA adapters (yours and the shared ones) trained for this model
    adapters: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Model:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def can(self, capability: str) -> bool:
        return capability in self.capabilities


@dataclass
class Health:
    """``GET /health``: the server answers (liveness)."""

    status: str
    version: str


@dataclass
class Readiness:
    """``GET /health/ready``: whether the server can take work now, and if not why."""

    ready: bool
    worker_alive: bool
    model_loadable: bool
    queue_depth: int
    running: int
    detail: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Readiness:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class GenerationResult:
    """A finished task and its audio bytes (in the format asked for)."""

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
    """One piece of audio from the WebSocket, ``offset`` seconds into the result."""

    index: int
    audio: AudioOutput
    offset: float
    task_id: str
