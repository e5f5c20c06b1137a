"""AI/ML API music-01 routes (see the package's docstring for what each answers)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from sqlalchemy import select

from ....errors import InvalidInput, MusicGenError
from ...api.deps import CallerDep, StateDep
from ...api.schemas import ERROR_RESPONSES
from ...core.submit import check_storable
from ..common import json_body, parse_json_object
from .music import generate as generate_music
from .music import result as generation_result
from .references import upload as upload_reference
from .schemas import MusicCreate, base_resp
from .tables import ReferenceTrack

__all__ = ["NAME", "router"]

NAME = "aimlapi"
INVALID_PARAMS = 2013  # MiniMax's status_code for parameters it cannot use

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


def _invalid(message: str) -> dict[str, Any]:
    """music-01's answer to a request it cannot use: HTTP 200, ``base_resp`` 2013 (invalid
    parameters), as MiniMax answers."""
    return {"base_resp": base_resp(INVALID_PARAMS, message)}


def _field_errors(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "body"
    return f"VALIDATION_ERROR: {where}: {first.get('msg', 'invalid')}"


async def _json_body(request: Request) -> dict[str, Any]:
    body = parse_json_object(await request.body())  # INVALID_BODY: not JSON, empty, ...
    check_storable(body)  # INVALID_INPUT: text that cannot be looked up or stored
    return body


@router.post(
    "/generate",
    summary="Generate music (music-01)",
    openapi_extra=json_body(MusicCreate),
)
async def generate(request: Request, state: StateDep, caller: CallerDep) -> dict[str, Any]:
    try:
        body = MusicCreate.model_validate(await _json_body(request))
    except ValidationError as exc:
        return _invalid(_field_errors(exc))
    except MusicGenError as exc:
        return _invalid(f"{exc.code}: {exc.message}")
    try:
        result: dict[str, Any] = await run_in_threadpool(generate_music, state, caller, body)
    except MusicGenError as exc:
        return _invalid(f"{exc.code}: {exc.message}")
    return result


@router.get("/generate", summary="Retrieve a generation (music-01)")
def retrieve(
    state: StateDep, caller: CallerDep, generation_id: Annotated[str | None, Query()] = None
) -> dict[str, Any]:
    if not generation_id:
        return _invalid("generation_id is required")
    try:
        check_storable(generation_id, "generation_id")
        job = state.store.get(generation_id, caller.account_id)
    except MusicGenError as exc:
        return _invalid(f"{exc.code}: {exc.message}")
    return generation_result(state, job)


@router.post("/generate/retrieve", summary="Retrieve a generation (music-01), POST form")
async def retrieve_post(request: Request, state: StateDep, caller: CallerDep) -> dict[str, Any]:
    try:
        body = await _json_body(request)
    except MusicGenError as exc:
        return _invalid(f"{exc.code}: {exc.message}")
    generation_id = body.get("generation_id")
    if not isinstance(generation_id, str) or not generation_id:
        return _invalid("generation_id is required, as a string")
    result: dict[str, Any] = await run_in_threadpool(retrieve, state, caller, generation_id)
    return result
