"""``/uploads`` (audio a request can name later) and ``/edit`` (edit a song).

``POST /uploads`` (multipart ``file``) keeps an audio file of up to 10 minutes for the account:
a reference voice or style for ``POST /generate`` (``reference_upload_id``) or the source of an
edit. ``POST /edit`` queues an edit of a song — repaint, cover, extract, lego, complete — on a
model with the ``edit`` capability (default: the server's song model); the source is an upload,
a finished task of the account, or a URL fetched behind the SSRF guard. The job is an ordinary
task: poll ``GET /generate/{task_id}``, or pass ``webhook_url``.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, UploadFile, status

from ...core.inputs import delete_upload, store_upload
from ...core.submit import submit
from ..deps import CallerDep, IdempotencyKey, StateDep
from ..schemas import EditCreate, JobSubmitted, UploadPublic
from ..views import submitted

__all__ = ["router"]

router = APIRouter(tags=["songs"])


@router.post("/uploads", status_code=status.HTTP_201_CREATED, response_model=UploadPublic)
async def create_upload(file: UploadFile, state: StateDep, caller: CallerDep) -> UploadPublic:
    data = await file.read(state.settings.max_upload_bytes + 1)
    upload_id, audio = store_upload(state, caller, data)
    return UploadPublic(
        upload_id=upload_id,
        duration=audio.duration,
        sample_rate=audio.sample_rate,
        channels=audio.channels,
    )


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
    job, _ = submit(state, caller, body, idempotency_key=idempotency_key)
    out = submitted(state, job)
    response.headers["Location"] = out.status_url
    return out
