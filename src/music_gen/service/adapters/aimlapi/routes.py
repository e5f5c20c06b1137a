"""AI/ML API music-01 routes (see the package's docstring for what each answers)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from ....errors import InvalidInput, MusicGenError
from ...api.deps import CallerDep, StateDep
from ...api.schemas import ERROR_RESPONSES
from .music import generate as generate_music
from .music import result as generation_result
from .references import upload as upload_reference
from .schemas import MusicCreate, base_resp
from .tables import ReferenceTrack

__all__ = ["NAME", "router"]

NAME = "aimlapi"

router = APIRouter(
    prefix="/v2/generate/audio/minimax",
    tags=["ai/ml api music-01 (drop-in)"],
    responses=ERROR_RESPONSES,
)


@router.post("/upload", summary="Upload a reference track (music-01)")
async def upload(
    state: StateDep,
    caller: CallerDep,
    file: Annotated[UploadFile, File(description="WAV or MP3, 10 s to 10 minutes")],
    purpose: Annotated[Literal["song", "voice", "instrumental"], Form()],
) -> dict[str, Any]:
    data = await file.read()
    try:
        result: dict[str, Any] = await run_in_threadpool(
            upload_reference, state, caller.account_id, data, purpose
        )
    except MusicGenError as exc:  # bad input 2013; anything else (a full disk or quota) 1000
        status = 2013 if isinstance(exc, InvalidInput) else 1000
        return {"base_resp": base_resp(status, f"{exc.code}: {exc.message}")}
    return result


@router.get("/references", summary="List uploaded references")
def list_references(state: StateDep, caller: CallerDep) -> dict[str, Any]:
    with state.db.session() as s:
        rows = s.scalars(
            select(ReferenceTrack).where(ReferenceTrack.account_id == caller.account_id)
        ).all()
    items = [
        {"id": r.id, "kind": r.kind, "purpose": r.purpose, "duration": r.duration,
         "separation": r.separation, "created_at": r.created_at.isoformat()}
        for r in rows
    ]  # fmt: skip
    return {"references": items, "base_resp": base_resp()}


@router.delete("/references/{ref_id}", summary="Delete an uploaded reference")
def delete_reference(ref_id: str, state: StateDep, caller: CallerDep) -> dict[str, Any]:
    with state.db.session.begin() as s:
        row = s.get(ReferenceTrack, ref_id)
        if row is None or row.account_id != caller.account_id:
            return {"base_resp": base_resp(2013, f"no reference {ref_id!r}")}
        state.storage.delete(row.key)
        s.delete(row)
    return {"deleted": ref_id, "base_resp": base_resp()}


@router.post("/generate", summary="Generate music (music-01)")
def generate(body: MusicCreate, state: StateDep, caller: CallerDep) -> dict[str, Any]:
    try:
        return generate_music(state, caller, body)
    except MusicGenError as exc:
        return {"base_resp": base_resp(2013, f"{exc.code}: {exc.message}")}


@router.get("/generate", summary="Retrieve a generation (music-01)")
def retrieve(
    state: StateDep, caller: CallerDep, generation_id: Annotated[str, Query()]
) -> dict[str, Any]:
    try:
        job = state.store.get(generation_id, caller.account_id)
    except MusicGenError as exc:
        return {"base_resp": base_resp(2013, f"{exc.code}: {exc.message}")}
    return generation_result(state, job)


@router.post("/generate/retrieve", summary="Retrieve a generation (music-01), POST form")
def retrieve_post(state: StateDep, caller: CallerDep, body: dict[str, Any]) -> dict[str, Any]:
    return retrieve(state, caller, str(body.get("generation_id", "")))
