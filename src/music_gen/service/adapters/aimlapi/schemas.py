"""music-01's request bodies and the ``base_resp`` every answer carries."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["STATUS", "AudioSetting", "MusicCreate", "base_resp"]


def base_resp(code: int = 0, message: str = "success") -> dict[str, Any]:
    return {"status_code": code, "status_msg": message}


class AudioSetting(BaseModel):
    sample_rate: Literal[16000, 24000, 32000, 44100] = 44100
    bitrate: Literal[32000, 64000, 128000, 256000] = 256000
    format: Literal["mp3", "wav", "pcm"] = "mp3"


class MusicCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: Literal["music-01"] = "music-01"
    lyrics: str = ""
    refer_voice: str | None = None
    refer_instrumental: str | None = None
    audio_setting: AudioSetting = Field(default_factory=AudioSetting)
    prompt: str | None = None  # ours: words for the model (default from the references)
    duration: float = Field(default=30.0, gt=0, le=300)  # ours: music-01 has no length field


# top-level ``status`` as the AI/ML API's generation endpoints spell it (its SDK's polling
# helper keeps waiting while it reads queued/generating, and stops on anything else)
STATUS = {"queued": "queued", "running": "generating", "succeeded": "completed",
          "failed": "error", "cancelled": "error"}  # fmt: skip
