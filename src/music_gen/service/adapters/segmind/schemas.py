"""Segmind's request body and the media types it answers in."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ACCEPT", "MEDIA", "V2_STATUS", "SegmindCreate"]

ACCEPT = {"audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/flac": "flac", "audio/ogg": "ogg",
          "audio/wav": "wav", "audio/x-wav": "wav"}  # fmt: skip
MEDIA = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "ogg": "audio/ogg"}
V2_STATUS = {"queued": "QUEUED", "running": "PROCESSING", "succeeded": "COMPLETED",
             "failed": "FAILED", "cancelled": "FAILED"}  # fmt: skip


class SegmindCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    prompt: str
    duration: float = Field(10, ge=1, le=30)
    seed: int = Field(42, ge=-1, le=9999)
