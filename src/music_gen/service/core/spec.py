"""What a job is: the caller's request, and the typed spec the worker runs.

- ``JobRequest``: the caller's words, before validation. Routes and adapters build one (the
  API's ``JobCreate`` is one).
- ``JobSpec``: the job after ``core.submit`` validated it once, against the served model's
  capabilities and limits derived from ``Settings``: seed drawn, model resolved, input audio
  fetched into server files. It is stored as JSON (``jobs.params``), loaded back by the worker
  and handed to the backend as this type; nothing downstream validates it again.
- ``JobType``: what the job is (a whole result, a stream of chunks, a multitrack mix with
  stems, an edit of a song). Where it came from is the job's ``origin`` (``"api"`` or an
  adapter's name) with that adapter's own ``options``, kept beside the spec, never inside it.

This module knows no database, no HTTP and no adapter.
"""

from __future__ import annotations

import enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["INPUT_FILES", "AudioFormat", "JobRequest", "JobSpec", "JobType"]

AudioFormat = Literal["wav", "mp3", "flac", "ogg"]

#: spec fields naming a server file the job reads (input audio); shown by upload id, never path
INPUT_FILES = ("reference", "melody", "continuation", "source")

#: what the sampling of a generation takes (``generate``'s keyword arguments)
SAMPLING = ("duration", "temperature", "top_k", "top_p", "guidance_scale", "seed")
#: what a song generation takes beside the prompt
SONG = (
    "lyrics", "duration", "seed", "steps", "guidance_scale", "bpm", "key", "time_signature",
    "vocal_language", "reference",
)  # fmt: skip
#: what an edit task takes beside ``task``, ``source`` and the prompt
EDIT = (
    "lyrics", "seed", "steps", "guidance_scale", "bpm", "key", "time_signature",
    "vocal_language", "reference", "start", "end", "strength", "track", "tracks",
)  # fmt: skip


class JobType(enum.StrEnum):
    """What a job is; the worker and the backends ask this, never where the job came from."""

    BATCH = "batch"  # one whole result
    STREAM = "stream"  # chunks as they are made, then the whole result
    MULTITRACK = "multitrack"  # one model call per instrument, mixed, with every stem
    EDIT = "edit"  # a song edit (repaint, cover, extract, lego, complete) of a source


class JobSpec(BaseModel):
    """A validated job, as the backend runs it (``None``: the model's own default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    prompt: str = ""
    seed: int
    duration: float
    # MusicGen sampling
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    guidance_scale: float | None = None
    # songs (models with the "lyrics" capability)
    lyrics: str | None = None
    bpm: float | None = None
    key: str | None = None
    time_signature: str | None = None
    vocal_language: str | None = None
    steps: int | None = None
    # a seamless loop of ``bars`` bars at ``bpm`` (models with the "loop" capability)
    loop: bool | None = None
    bars: int | None = None
    beats_per_bar: int | None = None
    # input audio: server files the job reads, and the uploads / jobs they came from
    reference: str | None = None
    melody: str | None = None
    continuation: str | None = None
    source: str | None = None
    reference_upload_id: str | None = None
    melody_upload_id: str | None = None
    continuation_upload_id: str | None = None
    source_upload_id: str | None = None
    source_job_id: str | None = None
    # multitrack
    instruments: dict[str, str] | None = None
    mix_settings: dict[str, Any] | None = None
    # edits
    task: Literal["repaint", "cover", "extract", "lego", "complete"] | None = None
    start: float | None = None
    end: float | None = None
    strength: float | None = None
    track: str | None = None
    tracks: list[str] | None = None
    # the stored result
    format: AudioFormat = "wav"
    sample_rate: int | None = Field(default=None, description="Resample the result (Hz).")

    def stored(self) -> dict[str, Any]:
        """The JSON stored with the job (``jobs.params``)."""
        return self.model_dump(mode="json", exclude_none=True)

    @classmethod
    def from_stored(cls, params: dict[str, Any], model: str) -> JobSpec:
        """A stored spec loaded back (``model`` from its column where the JSON lacks it)."""
        return cls.model_validate({"model": model, **params})

    def sampling(self) -> dict[str, Any]:
        return self._given(SAMPLING)

    def conditioning(self) -> dict[str, Any]:
        """MusicGen's audio conditioning: the tune to follow, the audio to continue."""
        return self._given(("melody", "continuation"))

    def song(self) -> dict[str, Any]:
        return self._given(SONG)

    def edit(self) -> dict[str, Any]:
        return self._given(EDIT)

    def loop_options(self) -> dict[str, Any]:
        """``generate``'s loop arguments (empty for a job that is not a loop)."""
        if not self.loop:
            return {}
        return {"loop": True, "bpm": self.bpm, "bars": self.bars,
                "beats_per_bar": self.beats_per_bar or 4}  # fmt: skip

    def input_files(self) -> list[str]:
        """The server files this job reads (deleted when it ends, where they are scratch)."""
        return [v for v in (getattr(self, name) for name in INPUT_FILES) if v]

    def _given(self, names: tuple[str, ...]) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in names}
        return {k: v for k, v in values.items() if v is not None}


class JobRequest(BaseModel):
    """What a caller asks for, before validation: every route and adapter builds one."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(description="What the music should sound like.")
    duration: float = Field(default=10.0, description="Seconds of audio.")
    temperature: float = 1.0
    top_k: int = 250
    top_p: float = 0.0
    seed: int | None = Field(
        default=None, description="Same seed, same audio. Omitted: a random one."
    )
    guidance_scale: float | None = Field(
        default=None,
        description="Classifier-free guidance; default: MusicGen 3, songs the model's.",
    )
    model: str | None = Field(
        default=None, description="A model from GET /models; default: the server's."
    )
    format: AudioFormat = "wav"
    sample_rate: int | None = Field(default=None, description="Resample the result (Hz).")
    webhook_url: str | None = Field(
        default=None, description="POSTed a signed event when the job ends."
    )
    track_id: str | None = Field(default=None, max_length=200, description="Echoed in the webhook.")
    # songs: models with the "lyrics" capability (GET /models)
    lyrics: str | None = Field(default=None, description="Sung lyrics, [verse]/[chorus] tagged.")
    bpm: float | None = Field(default=None, description="Tempo, 30..300 (songs).")
    key: str | None = Field(default=None, max_length=40, description="e.g. 'A minor' (songs).")
    time_signature: str | None = Field(default=None, max_length=8, description="2/4 .. 6/8.")
    vocal_language: str | None = Field(default=None, max_length=16, description="e.g. 'en'.")
    steps: int | None = Field(default=None, description="Denoising steps (songs).")
    # loops: models with the "loop" capability (GET /models)
    loop: bool = Field(
        default=False,
        description="A seamless loop of exactly bars × beats_per_bar × 60 / bpm seconds (needs "
        "bpm and bars; duration is ignored). WAV results carry smpl/acid loop chunks.",
    )
    bars: int | None = Field(default=None, description="The loop's length in bars (1..64).")
    beats_per_bar: int | None = Field(default=None, description="Beats in a bar (default 4).")
    reference_upload_id: str | None = Field(
        default=None, max_length=64, description="A reference voice/style from POST /uploads."
    )
    reference_url: str | None = Field(
        default=None, max_length=2000, description="A reference voice/style to fetch (http[s])."
    )
    # MusicGen: models with the "melody" / "continuation" capability (GET /models)
    melody_upload_id: str | None = Field(
        default=None, max_length=64, description="A tune to follow (POST /uploads)."
    )
    continuation_upload_id: str | None = Field(
        default=None,
        max_length=64,
        description="Audio the result starts with and continues (POST /uploads); shorter "
        "than duration.",
    )
