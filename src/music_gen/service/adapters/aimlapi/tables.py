"""AI/ML API's table: uploaded references (a voice or an instrumental), in
``aimlapi_reference_tracks`` (its own migration; the audio itself is WAV in the storage)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from ...core.infra.db import utcnow
from ..common import AdapterBase

__all__ = ["ReferenceTrack"]


class ReferenceTrack(AdapterBase):
    """An uploaded reference (a voice or an instrumental), as WAV in storage."""

    __tablename__ = "aimlapi_reference_tracks"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(40), index=True)  # accounts.id
    kind: Mapped[str] = mapped_column(String(20))  # voice | instrumental
    purpose: Mapped[str] = mapped_column(String(20))  # what the upload said: song | voice | …
    key: Mapped[str] = mapped_column(String(300))
    duration: Mapped[float] = mapped_column(Float)
    separation: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
