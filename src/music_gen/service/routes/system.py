"""``/models``, ``/health`` (liveness) and ``/health/ready`` (readiness)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from fastapi import APIRouter, Response

from ... import __version__
from ...engine.loading import _known, is_cached
from ..deps import CallerDep, StateDep
from ..schemas import HealthPublic, ModelList, ModelPublic, ReadinessPublic
from ..state import ServiceState
from ..submit import allowed_models

router = APIRouter(tags=["system"])


def describe_model(state: ServiceState, name: str) -> ModelPublic:
    loaded = name in state.backend.loaded_models()
    if state.settings.engine == "test-tone":
        return ModelPublic(
            name=name, id=name, size="0", sample_rate=32000, channels=1,
            capabilities=["text"], loaded=True, cached=True, default=True,
        )  # fmt: skip
    if name == "composer":
        return ModelPublic(
            name="composer", id="composer", size="0 (no weights)", sample_rate=44100, channels=2,
            capabilities=["text", "midi", "stems", "multitrack", "streaming"], loaded=True,
            cached=True, default=name == state.settings.model,
        )  # fmt: skip
    info = _known(name)
    size, channels, melody, sample_rate = "unknown", 1, False, 32000
    if info is not None:
        size, channels, melody = info.parameters, info.channels, info.melody
    elif (Path(name) / "config.json").is_file():  # a local checkpoint directory
        config = json.loads((Path(name) / "config.json").read_text())
        decoder, codec = config.get("decoder", {}), config.get("audio_encoder", {})
        channels = int(decoder.get("audio_channels", 1))
        melody = "chroma_length" in config or config.get("model_type") == "musicgen_melody"
        sample_rate = int(codec.get("sampling_rate", 32000))
    caps = ["text", "continuation", "streaming", "multitrack"] + (["melody"] if melody else [])
    if channels == 2:
        caps.append("stereo")
    return ModelPublic(
        name=info.name if info else Path(name).name or name,
        id=name,
        size=size,
        sample_rate=sample_rate,
        channels=channels,
        capabilities=caps,
        loaded=loaded,
        cached=loaded or is_cached(name, state.settings.cache_dir),
        default=name == state.settings.model,
    )


@router.get("/models", response_model=ModelList)
def list_models(state: StateDep, caller: CallerDep) -> ModelList:
    names = ["test-tone"] if state.settings.engine == "test-tone" else allowed_models(state)
    return ModelList(models=[describe_model(state, n) for n in names])


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
    default = state.settings.model or "composer"
    loadable = (
        state.settings.engine == "test-tone"
        or default == "composer"
        or default in state.backend.loaded_models()
        or is_cached(default, state.settings.cache_dir)
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
