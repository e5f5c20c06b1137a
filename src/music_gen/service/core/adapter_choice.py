"""A request's LoRA adapter at the door: which adapters fit a model, and the checks a job's
``adapter`` passes before it is queued.

The family checks what it alone knows (``MusicFamily.check_request``: the ``adapter``
capability, UNSUPPORTED_FEATURE naming it; ``params.Adapter``: the scale, 0 < s <= 2). Here
what only the service knows, from its adapter store (``infra.adapter_store``): the account may
use the adapter (ADAPTER_NOT_FOUND), it is trained (ADAPTER_NOT_READY), and its record says it
fits the model (ADAPTER_MISMATCH where its family or base model is another served model's).
What the record can not tell — an adapter of the same name trained on other weights — the
worker finds when it loads it (the fingerprint in ``families.adapters.check_adapter``): the
job fails with ADAPTER_MISMATCH and that reason.

The job stores the adapter's *name*; the backend resolves it to the folder under the store's
root when it runs (``runners.backends.ModelBackend``), so the stored job holds no server path.
"""

from __future__ import annotations

from ...errors import InvalidInput, UnsupportedFeature
from ...families import ModelCard
from ...params import Adapter
from .infra.adapter_store import AdapterRecord
from .infra.auth import Caller
from .jobs.requests import EditRequest
from .jobs.spec import JobRequest
from .state import ServiceState

__all__ = ["adapter_part", "check_adapter_choice", "fits", "same_model"]


def same_model(a: str, b: str) -> bool:
    """Whether two names name one model (``facebook/musicgen-small`` is ``musicgen-small``)."""
    return a.removeprefix("facebook/") == b.removeprefix("facebook/")


def fits(record: AdapterRecord, model: str, family: str) -> bool:
    """Whether ``record``'s adapter was trained for ``model`` (its base model's name)."""
    if record.family is not None and record.family != family:
        return False
    return record.base_model is not None and same_model(record.base_model, model)


def adapter_part(body: JobRequest | EditRequest) -> Adapter | None:
    """The request's ``adapter`` and ``adapter_scale`` as its typed part (not checked yet)."""
    if body.adapter is None:
        if body.adapter_scale is not None:
            raise InvalidInput(
                "adapter_scale is the strength of an adapter: name the adapter too",
                code="INVALID_ADAPTER_SCALE",
            )
        return None
    return Adapter(body.adapter, 1.0 if body.adapter_scale is None else body.adapter_scale)


def check_adapter_choice(
    state: ServiceState,
    caller: Caller | None,
    model: str,
    card: ModelCard,
    adapter: Adapter | None,
    whole: str | None = None,
) -> None:
    """The store's checks of a request's adapter (after the family's), for ``model``.
    ``whole``: the kind of whole job (a loop, a plan), which runs no per-request adapter."""
    if adapter is None:
        return
    if whole is not None:
        raise UnsupportedFeature(
            f"a {whole} runs without a per-request adapter; leave adapter out",
            details={"feature": "adapter", "with": whole, "model": model},
        )
    options = state.catalog.family(model).options  # what this server loads the model with
    settings = state.settings
    if ("quantize" in options and settings.quantize) or (
        "engine" in options and settings.engine != "fast"
    ):
        raise UnsupportedFeature(
            f"this server runs {model!r} with engine={settings.engine!r}, "
            f"quantize={settings.quantize!r}; per-request adapters need the fast engine "
            "unquantized",
            details={"feature": "adapter", "model": model, "engine": settings.engine,
                     "quantize": settings.quantize},
        )  # fmt: skip
    store = state.adapter_store
    account = caller.account_id if caller is not None else ""
    record = store.get(adapter.name, account)  # ADAPTER_NOT_FOUND, INVALID_ADAPTER
    store.resolve(adapter.name, account)  # ADAPTER_NOT_READY
    served = state.catalog.names()
    other = record.base_model is not None and not same_model(record.base_model, model)
    if (record.family is not None and record.family != card.family) or (
        other and any(same_model(record.base_model or "", name) for name in served)
    ):
        raise InvalidInput(
            f"adapter {adapter.name!r} was trained for {record.base_model or record.family!r}, "
            f"not for {model!r}",
            code="ADAPTER_MISMATCH",
            details={"adapter": adapter.name, "model": model, "trained_on": record.base_model},
        )
