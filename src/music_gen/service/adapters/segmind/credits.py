"""Segmind credits: what each API key has spent, in ``segmind_key_credits`` (this adapter's
table, keyed by the core's API key id; a key that never spent has no row).

A balance is ``key_credits - spent``; ``remaining`` says ``unlimited`` when keys have no
balance and ``0`` for a caller without a valid key. Knows nothing of HTTP.
"""

from __future__ import annotations

from sqlalchemy import Float, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from ....errors import ServiceUnavailable
from ...core.infra.auth import Caller
from ...core.infra.db import Database
from ..common import AdapterBase
from .settings import SegmindSettings

__all__ = ["KeyCredits", "remaining", "spend", "spent"]


class KeyCredits(AdapterBase):
    __tablename__ = "segmind_key_credits"
    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)  # api_keys.id
    credits_used: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")


def spent(db: Database, key_id: str) -> float:
    with db.session() as s:
        used = s.scalar(select(KeyCredits.credits_used).where(KeyCredits.key_id == key_id))
    return float(used or 0.0)


def spend(db: Database, key_id: str, amount: float) -> None:
    """Add ``amount`` (negative: give back) to the key's spending, atomically in the database
    (concurrent spends add up; the first spend of a key creates its row)."""
    for _ in range(3):
        with db.session.begin() as s:
            added = s.execute(
                update(KeyCredits)
                .where(KeyCredits.key_id == key_id)
                .values(credits_used=KeyCredits.credits_used + amount)
            )
            if getattr(added, "rowcount", 0) == 1:
                return
        try:
            with db.session.begin() as s:
                s.add(KeyCredits(key_id=key_id, credits_used=amount))
            return
        except IntegrityError:  # another request created the row meanwhile: add to it
            continue
    # the row appeared and vanished three times over (a key deleted while it spends): a 503
    # with a code the client can retry on, never a 500
    raise ServiceUnavailable(
        "the key's credits could not be recorded; try again",
        code="CREDITS_UNAVAILABLE",
        details={"key_id": key_id},
    )


def remaining(db: Database, settings: SegmindSettings, caller: Caller | None) -> str:
    if settings.key_credits is None:
        return "unlimited"
    if caller is None:
        return "0"
    return f"{max(0.0, settings.key_credits - spent(db, caller.key_id)):g}"
