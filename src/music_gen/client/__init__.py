"""The Python SDK for a music-gen server (``from music_gen import APIClient``).

``APIClient`` and ``AsyncAPIClient`` speak every route of ``/api/v1`` with the typed requests
of ``_types`` and raise every failure (error answers, transport failures, timeouts) as the
library's own ``music_gen.errors``. This package imports no torch and nothing of the service.
"""

from ._async import AsyncAPIClient
from ._finetune import Finetune
from ._sync import APIClient
from ._types import (
    Adapter,
    Batch,
    EditRequest,
    GenerationRequest,
    GenerationResult,
    Health,
    Model,
    MultitrackRequest,
    Readiness,
    StreamChunk,
    Task,
    TaskList,
    Upload,
    UploadList,
)

__all__ = [
    "APIClient",
    "Adapter",
    "AsyncAPIClient",
    "Batch",
    "EditRequest",
    "Finetune",
    "GenerationRequest",
    "GenerationResult",
    "Health",
    "Model",
    "MultitrackRequest",
    "Readiness",
    "StreamChunk",
    "Task",
    "TaskList",
    "Upload",
    "UploadList",
]
