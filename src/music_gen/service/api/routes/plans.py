"""``POST /plans``: draft a composition plan from a prompt, or check one (either JSON shape)."""

from __future__ import annotations

from fastapi import APIRouter

from ....composition import CompositionPlan, plan_from_prompt
from ....errors import InvalidInput
from ..deps import CallerDep, StateDep
from ..schemas import PlanCreate, PlanPublic

router = APIRouter(tags=["plans"])


@router.post("/plans", response_model=PlanPublic)
def create_plan(body: PlanCreate, state: StateDep, caller: CallerDep) -> PlanPublic:
    """A plan drafted offline from ``prompt`` (form, tempo and key from its words), or ``plan``
    checked: every limit an ``INVALID_PLAN`` (422); ``model``: the total within its limit."""
    if (body.plan is None) == (body.prompt is None):
        raise InvalidInput("give a prompt to draft a plan, or a plan to check", code="INVALID_PLAN")
    if body.plan is not None:
        plan = CompositionPlan.from_dict(body.plan)
    else:
        plan = plan_from_prompt(body.prompt or "", body.duration, body.seed)
    if body.model is not None:
        plan = plan.checked(state.catalog.card(state.catalog.resolve(body.model)).max_duration)
    return PlanPublic(
        plan=plan.to_dict(),
        composition_plan=plan.to_elevenlabs(),
        duration=plan.duration,
        sections=len(plan.sections),
    )
