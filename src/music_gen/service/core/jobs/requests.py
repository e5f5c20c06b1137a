"""What a caller asks for beside a generation (``spec.JobRequest``): an edit of a song and a
multitrack mix. The caller's words, before validation: ``core.submit`` validates every kind of
request the same way (stored text, output format, webhook, idempotency) and turns it into the
job's ``JobSpec``. The API's bodies are these (``EditCreate``, ``MultiInstrumentCreate``).

This module knows no database, no HTTP and no adapter.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .spec import AudioFormat

__all__ = ["EditRequest", "MultitrackRequest"]


class EditRequest(BaseModel):
    """Edit a song (models with the "edit" capability): the source by upload, job or URL."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["repaint", "cover", "extract", "lego", "complete", "extend", "replace"] = Field(
        description="repaint, cover, extract, lego, complete: songs (models with edit); extend "
        "(the source, then duration seconds more or a plan's sections) and replace (one plan "
        "section made again, every other sample kept): models with plan"
    )
    source_upload_id: str | None = Field(default=None, max_length=64)
    source_job_id: str | None = Field(default=None, max_length=64)
    source_url: str | None = Field(default=None, max_length=2000)
    prompt: str = Field(default="", description="What the edited audio should sound like.")
    lyrics: str | None = None
    start: float | None = Field(default=None, description="repaint/lego: from this second")
    end: float | None = Field(default=None, description="repaint/lego: to this second")
    strength: float | None = Field(default=None, description="cover: 0..1")
    track: str | None = Field(default=None, max_length=40, description="extract/lego")
    tracks: list[str] | None = Field(default=None, max_length=12, description="complete")
    plan: dict[str, Any] | None = Field(
        default=None, description="replace: the source's plan; extend: the sections to add"
    )
    section: int | str | None = Field(
        default=None, description="replace: the section (its index or name) to make again"
    )
    duration: float | None = Field(default=None, description="extend: the seconds to add")
    seed: int | None = None
    steps: int | None = None
    model: str | None = None
    adapter: str | None = Field(
        default=None, max_length=100, description="A LoRA adapter from GET /adapters."
    )
    adapter_scale: float | None = Field(default=None, description="0 < adapter_scale <= 2.")
    format: AudioFormat = "wav"
    sample_rate: int | None = None
    webhook_url: str | None = None
    track_id: str | None = Field(default=None, max_length=200)


class MultitrackRequest(BaseModel):
    """Stems that share one plan, and their mix (models with the "multitrack" capability)."""

    model_config = ConfigDict(extra="forbid")

    instruments: dict[str, str] = Field(
        min_length=1, max_length=16, description="Stem name → its prompt."
    )
    duration: float = 30.0
    mix_preset: str | None = Field(
        default=None, description="jazz_club, rock_band, lofi, cinematic, edm"
    )
    mix_settings: dict[str, Any] | None = Field(
        None, description="levels, panning, effects, target_lufs (as AudioMixer takes them)"
    )
    seed: int | None = None
    model: str | None = Field(default=None, description="Default: the composer.")
    format: AudioFormat = "wav"
    sample_rate: int | None = None
    webhook_url: str | None = None
    track_id: str | None = Field(default=None, max_length=200)
