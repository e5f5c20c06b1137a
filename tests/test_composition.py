"""CompositionPlan: JSON both ways, ElevenLabs' shape, every limit with its code, drafting."""

from __future__ import annotations

import json

import pytest

from music_gen import CompositionPlan, InvalidInput, Section, plan_from_prompt
from music_gen.composition import MAX_SECTIONS

ELEVEN = {
    "positive_global_styles": ["lofi hip hop", "mellow"],
    "negative_global_styles": ["harsh"],
    "sections": [
        {
            "section_name": "Intro",
            "positive_local_styles": ["sparse piano"],
            "negative_local_styles": ["drums"],
            "duration_ms": 5000,
            "lines": [],
        },
        {
            "section_name": "Verse",
            "positive_local_styles": ["full beat"],
            "negative_local_styles": [],
            "duration_ms": 12500,
            "lines": ["rain on the window", "coffee going cold"],
        },
    ],
}


def test_our_json_round_trips():
    plan = CompositionPlan(
        (
            Section("Intro", 4.0, ("sparse",), ("drums",)),
            Section("Chorus", 8.5, ("big",), (), ("la la la",), bpm=120, key="f# minor"),
        ),
        ("synthwave",),
        ("vocals",),
        bpm=100,
        key="C major",
    ).checked()
    again = CompositionPlan.from_json(plan.to_json())
    assert again == plan
    assert again.sections[1].key == "F# minor" and again.duration == 12.5
    assert json.loads(plan.to_json())["sections"][1]["bpm"] == 120


def test_the_elevenlabs_shape_reads_and_writes():
    plan = CompositionPlan.from_json(json.dumps(ELEVEN))
    assert plan.global_styles == ("lofi hip hop", "mellow")
    assert plan.negative_styles == ("harsh",)
    assert [s.name for s in plan.sections] == ["Intro", "Verse"]
    assert [s.duration for s in plan.sections] == [5.0, 12.5]
    assert plan.sections[0].negative_styles == ("drums",)
    assert plan.sections[1].lines == ("rain on the window", "coffee going cold")
    assert plan.to_elevenlabs() == ELEVEN
    wrapped = CompositionPlan.from_dict({"composition_plan": ELEVEN})
    assert wrapped == plan
    assert plan.lyrics == "[verse]\nrain on the window\ncoffee going cold"
    assert plan.prompt(1) == "lofi hip hop, mellow, full beat"


def _plan(*durations: float, **extra) -> dict:
    return {"sections": [{"name": f"s{i}", "duration": d} for i, d in enumerate(durations)],
            **extra}  # fmt: skip


@pytest.mark.parametrize(
    "data",
    [
        _plan(2.9),  # too short
        _plan(120.5),  # too long
        _plan(*[3.0] * (MAX_SECTIONS + 1)),  # too many
        _plan(),  # none
        {"sections": "intro"},
        {"sections": [{"name": "a", "duration": 5, "tempo": 90}]},  # unknown field
        {"sections": [{"name": "", "duration": 5}]},
        {"sections": [{"name": "a", "duration": "5"}]},
        {"sections": [{"name": "a", "duration": 5, "bpm": 900}]},
        {"sections": [{"name": "a", "duration": 5, "key": "H minor"}]},
        {"sections": [{"name": "a", "duration": 5, "styles": [3]}]},
        [1, 2],
    ],
)
def test_limits_are_invalid_plan(data):
    with pytest.raises(InvalidInput) as err:
        CompositionPlan.from_dict(data)
    assert err.value.code == "INVALID_PLAN"


def test_the_total_and_the_lyrics_have_the_models_limits():
    plan = CompositionPlan.from_dict(_plan(60, 60))
    with pytest.raises(InvalidInput) as err:
        plan.checked(max_duration=100)
    assert err.value.code == "INVALID_PLAN" and err.value.details["max_duration"] == 100
    assert plan.checked(max_duration=120).duration == 120
    long = {"sections": [{"name": "v", "duration": 10, "lines": ["x" * 150] * 80}]}
    with pytest.raises(InvalidInput) as err:
        CompositionPlan.from_dict(long)
    assert err.value.code == "INVALID_PLAN" and "lyrics" in err.value.message
    with pytest.raises(InvalidInput) as err:
        CompositionPlan.from_json("{not json")
    assert err.value.code == "INVALID_PLAN"


def test_a_drafted_plan_follows_the_composers_planner():
    plan = plan_from_prompt("slow sad jazz piano in D minor", duration=60, seed=1)
    assert plan.duration == pytest.approx(60.0, abs=1e-9)
    assert plan.key == "D minor" and plan.bpm == round(132 * 0.8)
    assert "jazz" in plan.global_styles
    assert len(plan.sections) >= 3 and all(3 <= s.duration <= 120 for s in plan.sections)
    assert CompositionPlan.from_json(plan.to_json()) == plan
    long = plan_from_prompt("ambient drone", duration=600)
    assert long.duration == pytest.approx(600.0) and max(s.duration for s in long.sections) <= 120
    with pytest.raises(InvalidInput) as err:
        plan_from_prompt("ambient", duration=2)
    assert err.value.code == "INVALID_PLAN"
