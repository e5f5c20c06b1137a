"""The SDK's request classes mirror the service's request bodies field for field (they are
written apart so that the SDK imports neither pydantic models of the service nor torch)."""

from __future__ import annotations

import dataclasses

import pytest

from music_gen.client import EditRequest, GenerationRequest, MultitrackRequest
from music_gen.service.api.schemas import EditCreate, JobCreate, MultiInstrumentCreate


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (GenerationRequest, JobCreate),
        (EditRequest, EditCreate),
        (MultitrackRequest, MultiInstrumentCreate),
    ],
)
def test_each_request_has_the_fields_of_the_service_body(ours, theirs):
    assert [f.name for f in dataclasses.fields(ours)] == list(theirs.model_fields)
    required = {name for name, field in theirs.model_fields.items() if field.is_required()}
    assert required == {
        f.name
        for f in dataclasses.fields(ours)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }


def test_a_request_sends_only_what_was_set_and_the_service_reads_it_back():
    request = GenerationRequest(prompt="jazz", duration=2.5, seed=4, lyrics="[verse] la")
    body = request.to_json()
    assert body == {"prompt": "jazz", "duration": 2.5, "seed": 4, "lyrics": "[verse] la"}
    parsed = JobCreate.model_validate(body)
    assert (parsed.prompt, parsed.duration, parsed.seed) == ("jazz", 2.5, 4)
    edit = EditRequest(task="repaint", source_job_id="t1", start=1.0, end=2.0)
    assert EditCreate.model_validate(edit.to_json()).source_job_id == "t1"
    mix = MultitrackRequest(instruments={"piano": "soft"}, mix_preset="lofi")
    assert MultiInstrumentCreate.model_validate(mix.to_json()).duration == 30.0


def test_requests_are_frozen_and_refuse_unknown_fields():
    request = GenerationRequest(prompt="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.prompt = "y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        GenerationRequest(prompt="x", tempo=120)  # type: ignore[call-arg]


def test_a_plan_request_leaves_the_duration_to_the_plan():
    plan = {"sections": [{"name": "intro", "duration": 4}]}
    body = GenerationRequest(prompt="", plan=plan).to_json()
    assert body == {"prompt": "", "plan": plan}
    parsed = JobCreate.model_validate(body)
    assert parsed.plan == plan and "duration" not in parsed.model_fields_set
