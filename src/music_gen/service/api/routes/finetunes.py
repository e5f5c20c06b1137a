"""``/finetunes``: fine-tune a served model on your own music, as a job.

``POST /finetunes`` (multipart) takes the dataset as ``files`` (audio files with ``NAME.txt``
captions, or a ``metadata.jsonl``; names may hold folders) or as one ``archive`` (.zip,
.tar.gz), the adapter's ``name``, and the training settings as form fields (``steps``,
``rank``, ``alpha``, ``learning_rate`` or ``lr``, ``batch_size``, ``gradient_accumulation``,
``seed``, ``target_modules`` comma-separated, …; unset: ``TrainConfig``'s defaults). It answers
202 with the job; ``GET /finetunes/{id}`` shows its step, loss history and, once succeeded,
the adapter (``GET /adapters``; ``adapter`` on ``/generate``). ``DELETE /finetunes/{id}``
cancels it: the training stops at its next step. The checks and their codes are
``core.finetunes``'s.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status

from ....errors import InvalidInput
from ...core import finetunes as core
from ...core.finetunes import FinetuneRequest, get_finetune, submit_finetune
from ...core.jobs.spec import JobType
from ..deps import CallerDep, StateDep
from ..schemas import FinetuneList, FinetunePublic
from ..views import finetune_public

__all__ = ["router"]

router = APIRouter(prefix="/finetunes", tags=["finetunes"])

IntForm = Annotated[int | None, Form()]
FloatForm = Annotated[float | None, Form()]
_FILES = "Audio files, NAME.txt captions and/or a metadata.jsonl."


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=FinetunePublic)
def create_finetune(
    state: StateDep,
    caller: CallerDep,
    response: Response,
    name: Annotated[str, Form(max_length=200, description="The adapter's name (its folder).")],
    files: Annotated[list[UploadFile] | None, File(description=_FILES)] = None,
    archive: Annotated[UploadFile | None, File(description=".zip or .tar.gz dataset")] = None,
    model: Annotated[str | None, Form(description="A model from GET /models.")] = None,
    steps: IntForm = None,
    rank: IntForm = None,
    alpha: FloatForm = None,
    learning_rate: FloatForm = None,
    lr: FloatForm = None,
    batch_size: IntForm = None,
    gradient_accumulation: IntForm = None,
    seed: IntForm = None,
    checkpoint_every: IntForm = None,
    text_dropout: FloatForm = None,
    lora_dropout: FloatForm = None,
    window_seconds: FloatForm = None,
    min_seconds: FloatForm = None,
    target_modules: Annotated[str | None, Form(description="e.g. q_proj,v_proj")] = None,
    webhook_url: Annotated[str | None, Form()] = None,
    track_id: Annotated[str | None, Form(max_length=200)] = None,
) -> FinetunePublic:
    """Queue a fine-tuning job (a sync route: the dataset is written and checked in the
    thread pool, never on the event loop)."""
    if lr is not None and learning_rate is not None and lr != learning_rate:
        raise InvalidInput("give learning_rate or lr, not both", code="INVALID_TRAINING_CONFIG")
    given = {
        "steps": steps, "rank": rank, "alpha": alpha, "learning_rate": learning_rate or lr,
        "batch_size": batch_size, "gradient_accumulation": gradient_accumulation, "seed": seed,
        "checkpoint_every": checkpoint_every, "text_dropout": text_dropout,
        "lora_dropout": lora_dropout, "window_seconds": window_seconds,
        "min_seconds": min_seconds,
    }  # fmt: skip
    settings: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if target_modules is not None:
        settings["target_modules"] = [m.strip() for m in target_modules.split(",") if m.strip()]
    request = FinetuneRequest(name, model, settings, webhook_url or None, track_id)
    uploads = [(f.filename or "", f.file) for f in files or []]
    packed = None if archive is None else (archive.filename or "", archive.file)
    job = submit_finetune(state, caller, request, uploads, packed)
    out = finetune_public(state, job)
    response.headers["Location"] = out.status_url
    return out


@router.get("", response_model=FinetuneList)
def list_finetunes(
    state: StateDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> FinetuneList:
    """The account's finetune jobs, newest first."""
    jobs, total = state.store.list_by_type(caller.account_id, JobType.FINETUNE, limit, offset)
    items = [finetune_public(state, j) for j in jobs]
    return FinetuneList(items=items, total=total, limit=limit, offset=offset)


@router.get("/{task_id}", response_model=FinetunePublic)
def read_finetune(task_id: str, state: StateDep, caller: CallerDep) -> FinetunePublic:
    return finetune_public(state, get_finetune(state, caller, task_id))


@router.delete("/{task_id}", response_model=FinetunePublic)
def cancel_finetune(task_id: str, state: StateDep, caller: CallerDep) -> FinetunePublic:
    """Cancel a queued or running finetune (409 NOT_CANCELLABLE once it ended): the training
    stops at its next step and stores nothing."""
    return finetune_public(state, core.cancel_finetune(state, caller, task_id))
