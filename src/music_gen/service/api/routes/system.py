"""``/models``, ``/health`` (liveness) and ``/health/ready`` (readiness)."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi import APIRouter, Response

from .... import __version__
from ....engine.hub import _known, is_cached
from ....errors import MusicGenError
from ....families import Capability, describe_capabilities
from ....families.licenses import allows_commercial
from ...core.adapter_choice import fits
from ...core.state import ServiceState
from ..deps import CallerDep, StateDep
from ..schemas import HealthPublic, ModelList, ModelPublic, ReadinessPublic

router = APIRouter(tags=["system"])


def describe_model(state: ServiceState, name: str, account: str | None = None) -> ModelPublic:
    """A served model as its card tells it: family and capabilities (no weights loaded), and
    the adapters ``account`` may use that were trained for it."""
    card = state.catalog.card(name)
    adapters = []
    if account is not None and card.can(Capability.ADAPTER):
        records = state.adapter_store.list(account)
        adapters = [r.name for r in records if r.ready and fits(r, name, card.family)]
    loaded = name in state.backend.loaded_models()
    weightless = not state.catalog.needs_weights(name)  # the composer, the test tone
    info = _known(name)
    local = Path(name).expanduser()
    return ModelPublic(
        name=info.name if info else (local.name if local.is_dir() else name),
        id=name,
        family=card.family,
        size=card.size,
        sample_rate=card.sample_rate,
        channels=card.channels,
        capabilities=describe_capabilities(card),
        license=card.license,
        commercial_use=allows_commercial(card.license),
        loaded=loaded or weightless,
        cached=loaded or weightless or is_cached(name, state.settings.cache_dir),
        default=name == state.catalog.names()[0],
        adapters=adapters,
    )


def _weightless(state: ServiceState, name: str) -> bool:
    """``name`` runs without downloaded weights (False where its card cannot be read)."""
    try:
        return not state.catalog.needs_weights(name)
    except MusicGenError:
        return False


@router.get("/models", response_model=ModelList)
def list_models(state: StateDep, caller: CallerDep) -> ModelList:
    names = state.catalog.names()
    return ModelList(models=[describe_model(state, n, caller.account_id) for n in names])


@router.get("/health", response_model=HealthPublic)
def health() -> HealthPublic:
    return HealthPublic(status="ok", version=__version__)


@router.get(
    "/health/ready",
    response_model=ReadinessPublic,
    responses={503: {"model": ReadinessPublic, "description": "Not ready"}},
)
def ready(state: StateDep, response: Response) -> ReadinessPublic:
    worker = state.worker
    beat_age = time.monotonic() - worker.last_beat
    alive = worker.alive and beat_age < max(3 * state.settings.lease_seconds, 10)
    default = state.catalog.default
    loadable = (
        state.settings.engine == "test-tone"
        or default in state.backend.loaded_models()
        or is_cached(default, state.settings.cache_dir)
        or _weightless(state, default)
    )
    problems = [
        p
        for p, bad in (
            ("worker not alive", not alive),
            (f"model {default} not loadable offline", not loadable),
        )
        if bad
    ]
    problems += state.health_problems()  # database, storage
    if problems:
        response.status_code = 503
    return ReadinessPublic(
        ready=not problems,
        worker_alive=alive,
        model_loadable=loadable,
        queue_depth=state.queue_depth(),
        running=len(worker.running),
        detail="; ".join(problems) or "ok",
    )
