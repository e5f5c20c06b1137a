"""MultiInstrumentGenerator: one plan drives every stem; stems line up; the mix is mastered."""

from __future__ import annotations

import io

import numpy as np
import pretty_midi
import pytest

from music_gen import InvalidInput
from music_gen.multitrack import MultiInstrumentGenerator

PROMPTS = {"piano": "Jazz piano comping", "bass": "Walking bass line", "drums": "Swing pattern"}


@pytest.fixture(scope="module")
def composer_multi():
    return MultiInstrumentGenerator(model="composer")


def test_composer_stems_share_one_plan(composer_multi):
    out = composer_multi.generate_multi_track(PROMPTS, 6.0, {"preset": "jazz_club"}, seed=3)
    assert set(out) == {"piano", "bass", "drums", "mix"}
    assert len({a.num_samples for a in out.values()}) == 1
    assert out["bass"].metadata["program"] == 32  # "Walking bass" → acoustic bass
    mix = out["mix"]
    assert mix.metadata["plan"]["genre"] == "jazz" and mix.metadata["mix"]["preset"] == "jazz_club"
    assert abs(mix.metadata["master"]["lufs"] + 14) < 0.5
    midi = pretty_midi.PrettyMIDI(io.BytesIO(mix.midi))
    assert sorted(i.name for i in midi.instruments) == ["bass", "drums", "piano"]
    # the stems are the mix's ingredients: their sum correlates with the mix
    total = sum(out[n].samples for n in PROMPTS)
    corr = np.corrcoef(total.mean(axis=0), mix.samples.mean(axis=0))[0, 1]
    assert corr > 0.8
    again = composer_multi.generate_multi_track(PROMPTS, 6.0, {"preset": "jazz_club"}, seed=3)
    np.testing.assert_array_equal(again["mix"].samples, mix.samples)


def test_bad_multitrack_requests(composer_multi):
    with pytest.raises(InvalidInput):
        composer_multi.generate_multi_track({}, 4.0)
    with pytest.raises(InvalidInput):
        composer_multi.generate_multi_track({"piano": ""}, 4.0)
    with pytest.raises(InvalidInput):
        composer_multi.generate_multi_track(PROMPTS, 4.0, {"preset": "polka"})
    with pytest.raises(InvalidInput):
        composer_multi.generate_multi_track(PROMPTS, 4.0, {"reverb": True})


@pytest.mark.parametrize("variant", ["mono", "melody"])
def test_musicgen_stems_carry_tempo_key_and_harmony(checkpoints, variant):
    multi = MultiInstrumentGenerator(model=str(checkpoints[variant]), device="cpu")
    out = multi.generate_multi_track({"piano": "piano", "bass": "bass"}, 1.3, seed=2)
    plan = out["mix"].metadata["plan"]
    assert {a.num_samples for a in out.values()} == {round(1.3 * 32000)}
    for name in ("piano", "bass"):
        stem_prompt = out[name].metadata["stem_prompt"]
        assert f"{plan['tempo']:g} bpm" in stem_prompt and f"in {plan['key']}" in stem_prompt
    assert out["mix"].metadata["engine"] == "musicgen" and out["mix"].channels == 2
    # melody checkpoints are conditioned on the plan's chords rendered to audio
    assert out["piano"].metadata["melody"] is (variant == "melody")
