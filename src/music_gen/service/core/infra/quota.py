"""Storage each account keeps, and the quota on it (``Settings.storage_quota_mb``, 0: none).

An account's usage is the sum over the kinds of stored things, each a ``UsageSource`` that
answers how many bytes one account holds of it: the core counts its results (``audio_files``)
and its uploads (``uploads``) in every service; any other owner of stored files joins one
service with ``register_usage`` (a vendor adapter through its ``storage_usage``, which
``plugins.plug_in`` registers; LoRA adapters likewise) and is counted alike.

``check_quota`` is asked before anything is stored: before an upload is written (with its
size), and before a job is accepted (its result's size is not known yet: a new job is refused
once the account is at or over its quota). It raises ``StorageQuotaExceeded`` (413,
STORAGE_QUOTA_EXCEEDED). Two requests racing may together go past the quota by one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import func, select

from ....errors import StorageQuotaExceeded
from .db import AudioFile, Database, Upload
from .settings import Settings

__all__ = ["UsageSource", "check_quota", "quota_bytes", "register_usage", "usage"]

#: Bytes one account (the second argument) holds of one kind of stored thing; the first is
#: the service (``ServiceState``).
UsageSource = Callable[[Any, str], int]


class ServiceState(Protocol):
    """What of the service this module reads (``state.ServiceState`` is one)."""

    settings: Settings
    db: Database
    extras: dict[str, Any]


_EXTRA = "storage_usage"  # state.extras: the sources registered with this service


def register_usage(state: ServiceState, kind: str, source: UsageSource) -> None:
    """Count ``source`` in every account's usage of this service under ``kind`` (registering
    a kind again replaces its source)."""
    state.extras.setdefault(_EXTRA, {})[kind] = source


def _results(state: ServiceState, account_id: str) -> int:
    with state.db.session() as s:
        total = s.scalar(select(func.sum(AudioFile.size)).where(AudioFile.account_id == account_id))
    return int(total or 0)


def _uploads(state: ServiceState, account_id: str) -> int:
    with state.db.session() as s:
        total = s.scalar(select(func.sum(Upload.size)).where(Upload.account_id == account_id))
    return int(total or 0)


_CORE: dict[str, UsageSource] = {"results": _results, "uploads": _uploads}


def quota_bytes(state: ServiceState) -> int | None:
    """The per-account quota in bytes, or None where there is none."""
    mb = state.settings.storage_quota_mb
    return int(mb * 1_000_000) if mb > 0 else None


def usage(state: ServiceState, account_id: str) -> dict[str, int]:
    """Bytes the account keeps, by kind, and ``total``."""
    sources = {**_CORE, **state.extras.get(_EXTRA, {})}
    kinds = {kind: source(state, account_id) for kind, source in sorted(sources.items())}
    return {**kinds, "total": sum(kinds.values())}


def check_quota(state: ServiceState, account_id: str, needed: int = 0) -> None:
    """Refuse storing ``needed`` more bytes for the account where that would pass its quota
    (``needed=0``: refuse once it is full)."""
    quota = quota_bytes(state)
    if quota is None:
        return
    used = usage(state, account_id)
    if used["total"] + needed > quota or (needed == 0 and used["total"] >= quota):
        raise StorageQuotaExceeded(
            f"the account keeps {used['total']} bytes of its {quota}-byte storage quota; this "
            f"needs {needed} more: delete uploads or results first",
            details={"usage": used, "quota": quota, "needed": needed},
        )
