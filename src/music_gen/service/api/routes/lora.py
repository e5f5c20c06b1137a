"""``/adapters``: the LoRA adapters a request's ``adapter`` may name.

``GET /adapters`` lists the account's own adapters and the shared ones the operator placed in
the store (``?model=``: those trained for that served model); ``GET /adapters/{name}`` one of
them; ``DELETE /adapters/{name}`` deletes one of the account's own with its files (shared ones:
409 ADAPTER_SHARED). Another account's adapter is 404 ADAPTER_NOT_FOUND, as is an unknown name.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from ....errors import MusicGenError
from ...core.adapter_choice import fits
from ...core.infra.adapter_store import AdapterRecord
from ...core.state import ServiceState
from ..deps import CallerDep, StateDep
from ..schemas import AdapterList, AdapterPublic

__all__ = ["adapter_public", "router"]

router = APIRouter(tags=["adapters"])


def _served_for(state: ServiceState, record: AdapterRecord) -> list[str]:
    """The served models ``record``'s adapter was trained for."""
    out = []
    for name in state.catalog.names():
        try:
            family = state.catalog.card(name).family
        except MusicGenError:  # a model whose files can not be read fits no adapter
            continue
        if fits(record, name, family):
            out.append(name)
    return out


def adapter_public(state: ServiceState, record: AdapterRecord) -> AdapterPublic:
    return AdapterPublic(
        name=record.name,
        shared=record.shared,
        base_model=record.base_model,
        family=record.family,
        ready=record.ready,
        created_at=dt.datetime.fromtimestamp(record.created_at, dt.UTC),
        size_bytes=record.size_bytes,
        rank=record.rank,
        steps=record.steps,
        final_loss=record.final_loss,
        models=_served_for(state, record),
    )


@router.get("/adapters", response_model=AdapterList)
def list_adapters(
    state: StateDep,
    caller: CallerDep,
    model: Annotated[
        str | None, Query(max_length=500, description="Only those for this served model.")
    ] = None,
) -> AdapterList:
    """The account's adapters and the shared ones, by name."""
    records = state.adapter_store.list(caller.account_id)
    adapters = [adapter_public(state, r) for r in records]
    if model is not None:
        served = state.catalog.resolve(model)  # UNKNOWN_MODEL
        adapters = [a for a in adapters if served in a.models]
    return AdapterList(adapters=adapters)


@router.get("/adapters/{name}", response_model=AdapterPublic)
def get_adapter(name: str, state: StateDep, caller: CallerDep) -> AdapterPublic:
    return adapter_public(state, state.adapter_store.get(name, caller.account_id))


@router.delete("/adapters/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_adapter(name: str, state: StateDep, caller: CallerDep) -> Response:
    """The account's own adapter and its files (jobs queued with it fail: its files are gone)."""
    state.adapter_store.delete(name, caller.account_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
