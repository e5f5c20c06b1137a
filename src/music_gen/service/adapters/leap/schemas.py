"""Leap's request body and its entity (the answer for a music generation job)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LeapCreate", "LeapEntity"]


class LeapCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")  # unknown Leap fields are ignored, as Leap does

    prompt: str
    mode: Literal["melody", "music"] = "melody"
    duration: float = Field(28, gt=0, le=30)
    webhookUrl: str | None = None


class LeapEntity(BaseModel):
    id: str
    createdAt: str
    prompt: str
    state: Literal["queued", "processing", "finished", "failed"]
    media_uri: str | None
    mediaUri: str | None
    mode: str
    duration: float
    seed: int | None
    error: str | None = None
    errorCode: str | None = None
