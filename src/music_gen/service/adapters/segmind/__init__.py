"""The Segmind adapter (seed 002): ``/v1/{model}`` blocking, ``/v2/{model}`` submit-poll-fetch,
``x-api-key``, per-key credits. ``adapter()`` is what ``service/app.py`` wires in.

- ``routes``: the endpoints; ``schemas``: the body and media types; ``errors``: Segmind's
  envelope and codes; ``settings``: ``MUSIC_GEN_KEY_CREDITS``, ``MUSIC_GEN_CREDITS_PER_SECOND``,
  ``MUSIC_GEN_SYNC_TIMEOUT_SECONDS``; ``credits``: the ``segmind_key_credits`` table;
  ``middleware``: ``x-remaining-credits`` on ``/v1/`` answers; ``migrations``: its history.
"""

from __future__ import annotations

import functools

from ..common import VendorAdapter, migrations_dir
from .middleware import RemainingCredits
from .routes import NAME, router
from .settings import SegmindSettings

__all__ = ["SegmindSettings", "adapter"]


def adapter(settings: SegmindSettings | None = None) -> VendorAdapter:
    """Segmind, with ``settings`` (default: read from the environment)."""
    settings = settings or SegmindSettings()
    return VendorAdapter(
        name=NAME,
        router=router,
        settings=settings,
        paths=("/v1/",),
        middleware=(functools.partial(RemainingCredits, settings=settings),),
        migrations=migrations_dir(__file__, NAME),
    )
