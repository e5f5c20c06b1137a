"""The composition root: the service's app with the vendor adapters wired in.

``create_app(settings)`` is ``api.app.build_app`` handed ``default_adapters()``, the one list of
the adapters in the code base. Only this module imports both the API and the adapters: the API
knows adapters only as ``core.plugins.Adapter``, and the adapters import the API's dependencies.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
from fastapi import FastAPI

from .adapters import aimlapi, leap, modelslab, segmind
from .api.app import build_app
from .core.infra.settings import Settings
from .core.plugins import Adapter
from .core.runners.backends import Backend

__all__ = ["create_app", "default_adapters"]


def default_adapters() -> list[Adapter]:
    """The vendor adapters this service runs, each with its settings read from the
    environment."""
    return [leap.adapter(), segmind.adapter(), modelslab.adapter(), aimlapi.adapter()]


def create_app(
    settings: Settings | None = None,
    *,
    backend: Backend | None = None,
    webhook_transport: httpx.BaseTransport | None = None,
    adapters: Sequence[Adapter] | None = None,
) -> FastAPI:
    """The app for ``settings``, with ``adapters`` (default: ``default_adapters()``)."""
    return build_app(
        settings,
        backend=backend,
        webhook_transport=webhook_transport,
        adapters=default_adapters() if adapters is None else adapters,
    )
