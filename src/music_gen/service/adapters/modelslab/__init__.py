"""The ModelsLab adapter (seed 001): ``/api/v6/voice/music_gen``, ``fetch`` and temporary
links, the key in the body, answers (and webhooks) in ModelsLab's shape. ``adapter()`` is what
``service/app.py`` wires in.

- ``routes``: the endpoints; ``schemas``: the body and formats; ``answers``: the answer for a
  job, the delivered file, signed temporary links, the webhook body; ``settings``:
  ``MUSIC_GEN_SYNC_WAIT_SECONDS``. No tables of its own.
"""

from __future__ import annotations

from ..common import VendorAdapter
from .answers import webhook_body
from .routes import NAME, router
from .settings import ModelsLabSettings

__all__ = ["ModelsLabSettings", "adapter"]


def adapter(settings: ModelsLabSettings | None = None) -> VendorAdapter:
    """ModelsLab, with ``settings`` (default: read from the environment)."""
    return VendorAdapter(
        name=NAME,
        router=router,
        settings=settings or ModelsLabSettings(),
        webhook_body=webhook_body,  # its jobs' webhooks carry the same body as ``fetch``
    )
