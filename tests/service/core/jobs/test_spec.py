"""``JobSpec`` holds the typed request; it is stored as the same flat JSON as ever, and every
stored form loads back to the same spec."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from music_gen.params import Conditioning, Edit, Output, Request, Sampling, Song
from music_gen.service.core.jobs.spec import JobRequest, JobSpec

STORED = [  # as core.submit and the routes store them
    {"prompt": "a", "duration": 1.0, "seed": 1, "format": "wav", "temperature": 0.8,
     "top_k": 250, "top_p": 0.0, "guidance_scale": 3.0, "melody": "/d/tune.wav",
     "melody_upload_id": "up_1"},
    {"prompt": "c", "duration": 2.0, "seed": 3, "format": "wav",
     "instruments": {"bass": "funky"}},
    {"prompt": "s", "duration": 30.0, "seed": 2, "lyrics": "", "vocal_language": "en",
     "reference": "/d/ref.wav", "reference_upload_id": "up_2", "format": "mp3",
     "sample_rate": 44100, "guidance_scale": 2.0},
    {"prompt": "", "task": "complete", "source": "/d/s.wav", "duration": 3.2, "seed": 4,
     "tracks": ["drums"], "lyrics": "la", "steps": 3, "source_job_id": "j", "format": "wav"},
    {"prompt": "pads", "duration": 8.0, "seed": 5, "format": "wav", "vocal_language": "en",
     "steps": 8, "guidance_scale": 3.0, "negative_prompt": "vocals"},
]  # fmt: skip


@pytest.mark.parametrize("stored", STORED)
def test_stored_json_round_trips(stored):
    spec = JobSpec.from_stored(stored, "m")
    assert spec.stored() == {"model": "m", **stored}
    assert JobSpec.model_validate(spec.model_dump()) == spec
    assert JobSpec.model_validate_json(spec.model_dump_json()) == spec
    assert JobSpec.model_validate(spec.stored()) == spec


def test_the_spec_holds_typed_parts():
    music, _, song, edit, _ = (JobSpec.from_stored(s, "m") for s in STORED)
    assert music.request == Request(("a",), 1.0, 1, sampling=Sampling(temperature=0.8),
                                    conditioning=Conditioning("/d/tune.wav"))  # fmt: skip
    assert song.request.song == Song(lyrics="", guidance_scale=2.0, vocal_language="en",
                                     reference="/d/ref.wav")  # fmt: skip
    assert song.request.sampling is None and song.output == Output("mp3", 44100)
    assert edit.request.edit == Edit("complete", "/d/s.wav", tracks=("drums",))
    # the flat names read the parts
    assert (music.prompt, music.temperature, music.melody, music.guidance_scale) == (
        "a", 0.8, "/d/tune.wav", 3.0,
    )  # fmt: skip
    assert (edit.task, edit.source, edit.lyrics, edit.steps) == ("complete", "/d/s.wav", "la", 3)
    assert edit.input_files() == ["/d/s.wav"] and music.input_files() == ["/d/tune.wav"]


def test_a_spec_without_duration_or_seed_or_with_unknown_fields_is_refused():
    with pytest.raises(ValidationError):
        JobSpec.model_validate({"model": "m", "prompt": "x", "seed": 1})
    with pytest.raises(ValidationError):
        JobSpec.model_validate({"model": "m", "prompt": "x", "duration": 1.0, "seed": 1,
                                "mode": "melody"})  # fmt: skip


def test_job_request_takes_its_defaults_from_the_params():
    body = JobRequest(prompt="x")
    assert (body.temperature, body.top_k, body.top_p) == (
        Sampling.temperature, Sampling.top_k, Sampling.top_p,
    )  # fmt: skip


def test_a_plan_is_stored_beside_the_request_and_loads_back():
    plan = {"sections": [{"name": "intro", "duration": 4.0}], "global_styles": ["jazz"]}
    spec = JobSpec(model="composer", prompt="jazz", duration=4.0, seed=1, plan=plan)
    stored = spec.stored()
    assert stored["plan"] == plan and stored["duration"] == 4.0
    again = JobSpec.from_stored(stored, "composer")
    assert again.plan == plan and again.request == spec.request
    assert "plan" not in JobSpec(model="m", prompt="x", duration=1.0, seed=1).stored()


def test_a_negative_prompt_is_a_song_field_and_old_rows_have_none():
    """A diffusion job's guidance and negative prompt load back into its ``Song`` part (what
    the family reads), not into ``Sampling``; rows stored before the field have none."""
    spec = JobSpec.from_stored(STORED[-1], "m")
    assert spec.request.sampling is None
    assert spec.request.song == Song(steps=8, guidance_scale=3.0, vocal_language="en",
                                     negative_prompt="vocals")  # fmt: skip
    assert spec.negative_prompt == "vocals" and spec.guidance_scale == 3.0
    old = JobSpec.from_stored(STORED[2], "m")
    assert old.negative_prompt is None and "negative_prompt" not in old.stored()
