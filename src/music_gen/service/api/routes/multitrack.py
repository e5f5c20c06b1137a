"""``POST /multi-instrument``: stems that share one plan, their mix, and (composer) the MIDI.

The body is the seed's (``instruments``, ``duration``, ``mix_preset``) plus the usual job fields;
the job's result has ``audio_url`` (the mix), ``stems`` (one URL per instrument) and
``midi_url``. The model defaults to the composer, which makes stems that line up sample for
sample; a MusicGen checkpoint may be named instead (see ``music_gen.multitrack``).
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from ..deps import CallerDep, IdempotencyKey, StateDep
from ..schemas import JobSubmitted, MultiInstrumentCreate
from ..views import accept

router = APIRouter(tags=["generate"])


@router.post("/multi-instrument", status_code=status.HTTP_202_ACCEPTED, response_model=JobSubmitted)
def create_multitrack(
    body: MultiInstrumentCreate,
    state: StateDep,
    caller: CallerDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobSubmitted:
    return accept(state, caller, body, response, idempotency_key)
