"""The Leap adapter (seed 000): ``/api/v1/music`` create, list and find one, the key as
``Authorization: Bearer`` (``findOne`` needs none). ``adapter()`` is what
``service/app.py`` wires in.

- ``routes``: the endpoints and the entity of a job; ``schemas``: the body and the entity;
  ``settings``: ``MUSIC_GEN_LEAP_MELODY_MODEL``. No tables of its own; webhooks carry the
  service's own signed event.
"""

from __future__ import annotations

from ..common import VendorAdapter
from .routes import NAME, router
from .settings import LeapSettings

__all__ = ["LeapSettings", "adapter"]


def adapter(settings: LeapSettings | None = None) -> VendorAdapter:
    """Leap, with ``settings`` (default: read from the environment)."""
    return VendorAdapter(name=NAME, router=router, settings=settings or LeapSettings())
