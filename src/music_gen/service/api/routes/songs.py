"""``/uploads`` (audio a request can name later) and ``/edit`` (edit a song).

``POST /uploads`` (multipart ``file``: wav, flac, ogg or mp3) keeps an audio file of up to 10
minutes for the account, as sent: a reference voice or style for ``POST /generate``
(``reference_upload_id``) or the source of an edit. ``GET /uploads`` lists them with the
account's storage usage and quota (also ``GET /account/storage``). ``POST /edit`` queues an
edit of a song — repaint, cover, extract, lego, complete — on a model with the ``edit``
capability (default: the server's song model); the source is an upload,
a finished task of the account, or a URL fetched behind the SSRF guard. The job is an ordinary
task: poll ``GET /generate/{task_id}``, or pass ``webhook_url``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, UploadFile, status

from ...core.infra.db import Upload
from ...core.infra.quota import quota_bytes, usage
from ...core.inputs import delete_upload, list_uploads, store_upload
from ..deps import CallerDep, IdempotencyKey, StateDep
from ..schemas import EditCreate, JobSubmitted, StorageUsage, UploadList, UploadPublic
from ..views import accept

__all__ = ["router"]

router = APIRouter(tags=["songs"])


@router.post("/uploads", status_code=status.HTTP_201_CREATED, response_model=UploadPublic)
def create_upload(file: UploadFile, state: StateDep, caller: CallerDep) -> UploadPublic:
    """Kept as sent once checked whole (a sync route: checking runs in the thread pool, never
    on the event loop). 413 STORAGE_QUOTA_EXCEEDED when the account's storage is full, 503
    STORAGE_FULL when the disk is."""
    data = file.file.read(state.settings.max_upload_bytes + 1)
    row, _ = store_upload(state, caller, data)
    return _upload_public(row)


@router.get("/uploads", response_model=UploadList)
def get_uploads(
    state: StateDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> UploadList:
    """The account's uploads (oldest first), and its storage usage and quota."""
    uploads = [_upload_public(row) for row in list_uploads(state, caller, limit, offset)]
    return UploadList(uploads=uploads, storage=_storage(state, caller))


@router.get("/account/storage", response_model=StorageUsage)
def get_storage(state: StateDep, caller: CallerDep) -> StorageUsage:
    """Bytes the account keeps (uploads, results, adapters' files) and its quota."""
    return _storage(state, caller)


def _storage(state: StateDep, caller: CallerDep) -> StorageUsage:
    return StorageUsage(usage=usage(state, caller.account_id), quota=quota_bytes(state))


def _upload_public(row: Upload) -> UploadPublic:
    return UploadPublic(
        upload_id=row.id, duration=row.duration, sample_rate=row.sample_rate,
        channels=row.channels, format=row.format, size=row.size, created_at=row.created_at,
    )  # fmt: skip


@router.delete("/uploads/{upload_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_upload(upload_id: str, state: StateDep, caller: CallerDep) -> Response:
    delete_upload(state, caller, upload_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/edit", status_code=status.HTTP_202_ACCEPTED, response_model=JobSubmitted)
def create_edit(
    body: EditCreate,
    state: StateDep,
    caller: CallerDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobSubmitted:
    return accept(state, caller, body, response, idempotency_key)
