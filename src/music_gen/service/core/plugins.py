"""The one seam a vendor adapter plugs in through: the ``Adapter`` protocol.

An adapter (``service/adapters/<vendor>/``) is a translation of a hosted vendor's API onto the
service's own jobs. What it brings, and who uses it:

- ``name``: the origin its jobs carry; it keys its webhook body and names its version table.
- ``router`` and ``middleware`` (run only on the path prefixes in ``paths``): mounted by
  ``service/api/app.py``; ``service/app.py`` is the one place that lists the adapters.
- ``migrations``: its own Alembic history (``db.Migrations``), run by ``open_database`` after
  the core's.
- ``webhook_body``: the body its jobs' webhooks carry instead of the service's event (None:
  the service's event), registered with the dispatcher by ``plug_in``.
- ``storage_usage``: the bytes an account keeps in the adapter's own stored files (None: it
  keeps none), counted toward the account's storage quota (``quota``) once ``plug_in`` ran.

The core imports no adapter; it knows only this protocol. HTTP types are named for the type
checker only: the core does not import FastAPI.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from .infra.db import Job, Migrations
from .infra.quota import UsageSource, register_usage

if TYPE_CHECKING:
    from fastapi import APIRouter
    from starlette.types import ASGIApp

    from .state import ServiceState

__all__ = ["Adapter", "Middleware", "WebhookBody", "migrations_of", "plug_in"]

Middleware = Callable[["ASGIApp"], "ASGIApp"]  # an ASGI app -> the app wrapped
WebhookBody = Callable[["ServiceState", Job], str]  # (state, ended job) -> the JSON text sent


class Adapter(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def router(self) -> APIRouter: ...

    @property
    def paths(self) -> tuple[str, ...]: ...

    @property
    def middleware(self) -> Sequence[Middleware]: ...

    @property
    def migrations(self) -> Migrations | None: ...

    @property
    def webhook_body(self) -> WebhookBody | None: ...

    @property
    def storage_usage(self) -> UsageSource | None: ...


def migrations_of(adapters: Sequence[Adapter]) -> list[Migrations]:
    """The adapters' own histories, for ``open_database``."""
    return [a.migrations for a in adapters if a.migrations is not None]


def plug_in(state: ServiceState, adapters: Sequence[Adapter]) -> None:
    """Hand the running service what the adapters change in it: their webhook bodies, and
    what their stored files count toward the storage quota."""
    for adapter in adapters:
        if adapter.webhook_body is not None:
            state.webhooks.bodies[adapter.name] = functools.partial(adapter.webhook_body, state)
        usage = getattr(adapter, "storage_usage", None)  # optional for older adapters
        if usage is not None:
            register_usage(state, adapter.name, usage)
