"""What a job is asked to do: ``JobRequest`` (the caller's words, before validation).

Routes and adapters build a ``JobRequest`` (the API's ``JobCreate`` is one); ``core.submit``
validates it once against the served model's capabilities and the server's limits.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AudioFormat", "JobRequest"]

AudioFormat = Literal["wav", "mp3", "flac", "ogg"]


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
