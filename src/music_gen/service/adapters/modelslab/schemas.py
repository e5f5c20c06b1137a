"""ModelsLab's request body and the formats it delivers in."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BITRATES", "FRAMES_PER_SECOND", "MEDIA", "ModelsLabCreate"]

FRAMES_PER_SECOND = 50  # max_new_token counts MusicGen frames
MEDIA = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac"}
BITRATES = {"128k": 128, "192k": 192, "320k": 320}


class ModelsLabCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    key: str = ""
    prompt: str
    init_audio: str | None = None
    sampling_rate: int = Field(32000, gt=0, le=192000)
    max_new_token: int = Field(256, ge=256, le=1024)
    output_format: Literal["wav", "mp3", "flac"] = "wav"
    bitrate: Literal["128k", "192k", "320k"] = "320k"
    base64: bool = False
    temp: bool | float = False  # modelslab-py types it as a number
    webhook: str | None = None
    track_id: str | None = Field(None, max_length=200)
