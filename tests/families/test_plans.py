"""Plans made by each family: section boundaries, per-window prompts, extend, replace_section."""

from __future__ import annotations

import json

import numpy as np
import pytest

from music_gen import CompositionPlan, InvalidInput, MusicGenerator
from music_gen.families import Capability

RATE = 44100
PLAN = {
    "global_styles": ["upbeat funk"],
    "negative_styles": [],
    "sections": [
        {"name": "Intro", "styles": ["sparse"], "duration": 3.3333},
        {"name": "Groove", "styles": ["horns", "slap bass"], "duration": 4.0},
        {"name": "Outro", "styles": ["calm"], "duration": 3.0, "negative_styles": ["drums"]},
    ],
}


@pytest.fixture(scope="module")
def composer():
    return MusicGenerator("composer")


@pytest.fixture(scope="module")
def made(composer):
    return composer.generate(plan=PLAN, seed=4)


def test_the_composer_makes_a_section_per_plan_section(composer, made):
    assert composer.can(Capability.PLAN)
    ends = np.cumsum([s["duration"] for s in PLAN["sections"]])
    assert made.num_samples == round(ends[-1] * RATE)
    sections = made.metadata["plan"]["sections"]
    assert [s["name"] for s in sections] == ["Intro", "Groove", "Outro"]
    for s, end in zip(sections, ends, strict=True):
        assert s["end"] == round(end * RATE) / RATE  # where the plan says, to the sample
    assert sections[0]["start"] == 0.0 and sections[1]["start"] == sections[0]["end"]
    # each section is that section composed alone from its own prompt, in one key and tempo
    engine = composer.family_impl.composer
    for s in sections:
        a, b = round(s["start"] * RATE), round(s["end"] * RATE)
        alone = engine.generate(s["prompt"], (b - a) / RATE, 4)
        np.testing.assert_array_equal(made.samples[:, a:b], alone.samples)
    assert "horns" in sections[1]["prompt"] and "no drums" in sections[2]["prompt"]
    assert all("bpm" in s["prompt"] for s in sections)
    assert made.metadata["seed"] == 4 and made.midi is not None
    assert made.metadata["plan"]["honoured"]["sections"].startswith("exact")


def test_the_composer_plays_the_plans_key_and_tempo(composer):
    import io

    import pretty_midi

    plan = {"bpm": 90, "key": "E minor", "sections": [{"name": "A", "duration": 3}]}
    out = composer.generate("rock", plan=plan, seed=1)
    midi = pretty_midi.PrettyMIDI(io.BytesIO(out.midi))
    assert midi.get_tempo_changes()[1][0] == pytest.approx(90, abs=0.01)  # MIDI: whole µs
    assert pretty_midi.key_number_to_key_name(midi.key_signature_changes[0].key_number) == "E minor"
    assert out.metadata["plan"]["global_styles"] == ["rock"]  # the prompt: one more style


def test_a_plan_is_json_too_and_a_prompt_is_optional(composer, made):
    again = composer.generate(plan=json.dumps(PLAN), seed=4)
    np.testing.assert_array_equal(again.samples, made.samples)
    with pytest.raises(InvalidInput) as err:
        composer.generate(plan=PLAN, duration=5.0)
    assert err.value.code == "INVALID_PLAN"
    with pytest.raises(InvalidInput) as err:
        MusicGenerator("composer", max_duration=8.0).generate(plan=PLAN)
    assert err.value.code == "INVALID_PLAN"


def test_replace_section_leaves_every_other_sample(composer, made):
    new = composer.replace_section(made, PLAN, "Groove", seed=11)
    s = made.metadata["plan"]["sections"][1]
    a, b = round(s["start"] * RATE), round(s["end"] * RATE)
    np.testing.assert_array_equal(new.samples[:, :a], made.samples[:, :a])
    np.testing.assert_array_equal(new.samples[:, b:], made.samples[:, b:])
    assert not np.array_equal(new.samples[:, a:b], made.samples[:, a:b])
    assert new.metadata["replaced_section"]["index"] == 1
    with pytest.raises(InvalidInput) as err:
        composer.replace_section(made, PLAN, "Bridge")
    assert err.value.code == "INVALID_PLAN"


def test_extend_starts_with_exactly_the_source(composer, made):
    longer = composer.extend(made, "calm piano", 2.5, seed=1)
    assert longer.num_samples == made.num_samples + round(2.5 * RATE)
    np.testing.assert_array_equal(longer.samples[:, : made.num_samples], made.samples)
    planned = composer.extend(made, {"sections": [{"name": "Coda", "duration": 3}]}, seed=1)
    np.testing.assert_array_equal(planned.samples[:, : made.num_samples], made.samples)
    [coda] = planned.metadata["plan"]["sections"]
    assert coda["start"] == pytest.approx(made.duration) and planned.duration == pytest.approx(
        made.duration + 3
    )


# ---------------------------------------------------------------------- MusicGen, tiny checkpoint
TWO = CompositionPlan.from_dict(
    {
        "global_styles": ["calm piano"],
        "sections": [
            {"name": "a", "styles": ["soft strings"], "duration": 3.01},
            {"name": "b", "styles": ["loud drums"], "duration": 3.0},
        ],
    }
)


@pytest.fixture
def windows(mono, monkeypatch):
    """The prompts and continuation audio each MusicGen window was conditioned on."""
    family = mono.family_impl
    seen: list[tuple[tuple[str, ...], int]] = []
    prepare = family._prepare

    def spy(request):
        cond = request.conditioning
        audio = None if cond is None else cond.continuation
        seen.append((request.prompts, 0 if audio is None else audio.num_samples))
        return prepare(request)

    monkeypatch.setattr(family, "_prepare", spy)
    return seen


def test_musicgen_windows_carry_their_sections_prompt(mono, windows):
    out = mono.generate(plan=TWO, seed=5)
    assert windows == [(("calm piano, soft strings",), 0), (("calm piano, loud drums",), 96000)]
    sections = out.metadata["plan"]["sections"]
    assert [(s["start"], s["end"]) for s in sections] == [(0.0, 3.0), (3.0, 6.0)]  # 50 Hz grid
    assert out.num_samples == 6 * 32000 and out.metadata["seed"] == 5

    new = mono.replace_section(out, TWO, 1, seed=8)
    assert windows[-1] == (("calm piano, loud drums",), 96000)  # continued from section a
    np.testing.assert_array_equal(new.samples[:, :96000], out.samples[:, :96000])
    assert not np.array_equal(new.samples[:, 96000:], out.samples[:, 96000:])

    longer = mono.extend(out, "jazz", 1.0, seed=2)
    assert windows[-1] == (("jazz",), 6 * 32000)
    assert longer.num_samples == 7 * 32000
    np.testing.assert_array_equal(longer.samples[:, : out.num_samples], out.samples)


# ---------------------------------------------------------------------- ACE-Step, tiny pipeline
def test_acestep_sings_the_plans_lines_under_its_tags(songs):
    plan = {
        "global_styles": ["pop"],
        "sections": [
            {"name": "Verse", "styles": ["soft"], "duration": 3, "lines": ["hello there"]},
            {"name": "Chorus", "styles": ["loud"], "duration": 3, "lines": ["sing it"]},
        ],
    }
    out = songs.generate(plan=plan, seed=3, steps=2)
    assert out.num_samples == 6 * 48000
    assert out.metadata["lyrics"] == "[verse]\nhello there\n\n[chorus]\nsing it"
    assert out.metadata["prompt"] == "pop, soft, loud"
    assert [s["end"] for s in out.metadata["plan"]["sections"]] == [3.0, 6.0]


def test_acestep_replaces_a_section_by_repainting_it(songs):
    plan = {"sections": [{"name": "Verse", "duration": 3}, {"name": "Chorus", "duration": 3}]}
    rate = 48000
    source = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 7 * rate)).astype(np.float32)
    new = songs.replace_section(source, plan, "Chorus", seed=2, steps=2)
    assert new.num_samples == source.shape[1]
    np.testing.assert_array_equal(new.samples[:, : 3 * rate], source[:, : 3 * rate])
    np.testing.assert_array_equal(new.samples[:, 6 * rate :], source[:, 6 * rate :])
    assert not np.array_equal(new.samples[:, 3 * rate : 6 * rate], source[:, 3 * rate : 6 * rate])


def test_acestep_repaints_the_sections_whose_styles_differ(songs):
    """The song is made whole first (one caption), then each section whose styles differ from
    the whole is repainted with its own caption: its samples change, the others stay."""
    plan = CompositionPlan.from_dict({
        "global_styles": ["pop"],
        "sections": [
            {"name": "Verse", "styles": ["soft"], "duration": 3, "lines": ["hello there"]},
            {"name": "Chorus", "styles": ["pop"], "duration": 3, "lines": ["sing it"]},
            {"name": "Bridge", "styles": ["dark strings"], "duration": 3},
        ],
    })  # fmt: skip
    rate = 48000
    whole = songs.generate(plan.prompt(), lyrics=plan.lyrics, duration=9.0, seed=5, steps=2)
    pipe = songs.family_impl.pipe
    captions = []

    class Spy:  # the pipeline, recording what each call was asked for
        def __getattr__(self, name):
            return getattr(pipe, name)

        def __call__(self, **kwargs):
            captions.append((kwargs.get("task_type", "text2music"), kwargs["prompt"]))
            return pipe(**kwargs)

    songs.family_impl.pipe = Spy()
    seen = []

    def progress(done, total):
        seen.append((done, total))

    progress.detail = lambda d: seen.append(d)
    try:
        out = songs.generate(plan=plan, seed=5, steps=2, progress=progress)
    finally:
        songs.family_impl.pipe = pipe
    assert captions == [
        ("text2music", "pop, soft, dark strings"),  # the whole song: every section's styles
        ("repaint", "pop, soft"),  # the sections with styles of their own, each with its own
        ("repaint", "pop, dark strings"),
    ]
    assert [s["repainted"] for s in out.metadata["plan"]["sections"]] == [True, False, True]
    chorus = slice(3 * rate, 6 * rate)
    np.testing.assert_array_equal(out.samples[:, chorus], whole.samples[:, chorus])
    assert not np.array_equal(out.samples[:, : 3 * rate], whole.samples[:, : 3 * rate])
    assert not np.array_equal(out.samples[:, 6 * rate :], whole.samples[:, 6 * rate :])
    details = [d for d in seen if isinstance(d, dict)]
    assert {(d["stage"], d["section"], d["sections"]) for d in details} == {
        ("whole", 1, 3),
        ("repaint", 1, 3),
        ("repaint", 3, 3),
    }
    assert seen[-1] == (3000, 3000)
