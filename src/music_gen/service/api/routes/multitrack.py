"""``POST /multi-instrument``: stems that share one plan, their mix, and (composer) the MIDI.

The body is the seed's (``instruments``, ``duration``, ``mix_preset``) plus the usual job fields;
the job's result has ``audio_url`` (the mix), ``stems`` (one URL per instrument) and
``midi_url``. The model defaults to the composer, which makes stems that line up sample for
sample; a MusicGen checkpoint may be named instead (see ``music_gen.multitrack``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from ....audio.effects import build_chain
from ....audio.mixer import PRESETS
from ....errors import InvalidInput
from ....params import validate_prompt
from ...core.spec import JobType
from ...core.submit import submit
from ..deps import CallerDep, StateDep
from ..schemas import JobCreate, JobSubmitted, MultiInstrumentCreate
from ..views import submitted

router = APIRouter(tags=["generate"])


@router.post("/multi-instrument", status_code=status.HTTP_202_ACCEPTED, response_model=JobSubmitted)
def create_multitrack(
    body: MultiInstrumentCreate,
    state: StateDep,
    caller: CallerDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> JobSubmitted:
    instruments = {}
    for name, prompt in body.instruments.items():
        if not name.strip() or name == "mix":
            raise InvalidInput(f"bad instrument name {name!r}", code="INVALID_INSTRUMENT")
        instruments[name.strip()] = validate_prompt(prompt)
    settings = dict(body.mix_settings or {})
    if body.mix_preset is not None:
        settings["preset"] = body.mix_preset
    if settings.get("preset") is not None and settings["preset"] not in PRESETS:
        raise InvalidInput(
            f"unknown mix preset {settings['preset']!r}; choose one of {', '.join(PRESETS)}",
            code="INVALID_MIX",
            details={"known": sorted(PRESETS)},
        )
    unknown = set(settings) - {"preset", "levels", "panning", "effects", "target_lufs"}
    if unknown:
        raise InvalidInput(
            f"unknown mix settings: {', '.join(sorted(unknown))}", code="INVALID_MIX"
        )
    for field in ("levels", "panning", "effects"):  # a list or number here is a clear 422
        if not isinstance(settings.get(field) or {}, dict):
            raise InvalidInput(
                f"mix_settings.{field} must be an object keyed by instrument", code="INVALID_MIX"
            )
    for chain in (settings.get("effects") or {}).values():
        build_chain(chain)  # INVALID_EFFECT before anything is queued
    joined = "; ".join(f"{name}: {prompt}" for name, prompt in instruments.items())
    job_body = JobCreate(
        prompt=joined[: state.settings.max_prompt_chars],
        duration=body.duration,
        seed=body.seed,
        model=body.model or "composer",
        format=body.format,
        sample_rate=body.sample_rate,
        webhook_url=body.webhook_url,
        track_id=body.track_id,
    )
    job, _ = submit(
        state,
        caller,
        job_body,
        type=JobType.MULTITRACK,
        idempotency_key=idempotency_key,
        fields={"instruments": instruments, "mix_settings": settings},
    )
    out = submitted(state, job)
    response.headers["Location"] = out.status_url
    return out
