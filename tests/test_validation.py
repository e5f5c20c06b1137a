"""Every bad input gets ``InvalidInput`` (or its kin) with a stable code, before any work."""

from __future__ import annotations

import numpy as np
import pytest

from music_gen import InvalidInput, MusicGenError
from music_gen.errors import GenerationFailed, ModelNotAvailable, UnknownModel, UnsupportedFeature

SR = 32000


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"prompt": ""}, "INVALID_PROMPT"),
        ({"prompt": "   \n"}, "INVALID_PROMPT"),
        ({"prompt": "x" * 2001}, "INVALID_PROMPT"),
        ({"prompt": 42}, "INVALID_PROMPT"),
        ({"duration": 0}, "INVALID_DURATION"),
        ({"duration": -1.5}, "INVALID_DURATION"),
        ({"duration": float("nan")}, "INVALID_DURATION"),
        ({"duration": "10"}, "INVALID_DURATION"),
        ({"duration": 10_000}, "INVALID_DURATION"),
        ({"temperature": -0.1}, "INVALID_TEMPERATURE"),
        ({"top_k": -1}, "INVALID_TOP_K"),
        ({"top_k": 2.5}, "INVALID_TOP_K"),
        ({"top_p": -0.01}, "INVALID_TOP_P"),
        ({"top_p": 1.5}, "INVALID_TOP_P"),
        ({"guidance_scale": -1}, "INVALID_GUIDANCE"),
        ({"seed": -3}, "INVALID_SEED"),
        ({"seed": "7"}, "INVALID_SEED"),
    ],
)
def test_bad_parameters_have_stable_codes(mono, kwargs, code):
    call = {"prompt": "piano", "duration": 0.2, **kwargs}
    with pytest.raises(InvalidInput) as err:
        mono.generate(**call)
    assert err.value.code == code
    assert err.value.to_dict()["error"]["code"] == code


def test_empty_batch_and_seed_count_mismatch(mono):
    with pytest.raises(InvalidInput) as err:
        mono.generate_batch([], duration=0.2)
    assert err.value.code == "INVALID_PROMPT"
    with pytest.raises(InvalidInput) as err:
        mono.generate_batch(["a", "b"], duration=0.2, seed=[1])
    assert err.value.code == "INVALID_SEED"


@pytest.mark.parametrize(
    "audio",
    [
        np.zeros(0, dtype=np.float32),  # empty
        np.zeros(100, dtype=np.float32),  # shorter than one codec frame
        np.full(SR, np.nan, dtype=np.float32),  # not finite
    ],
)
def test_bad_continuation_audio(mono, audio):
    with pytest.raises(InvalidInput) as err:
        mono.generate("x", duration=2.0, continuation=audio)
    assert err.value.code == "INVALID_AUDIO"


def test_unreadable_and_silent_melody(generators, tmp_path):
    gen = generators("melody")
    junk = tmp_path / "melody.wav"
    junk.write_bytes(b"this is not audio")
    for source in (junk, tmp_path / "missing.wav", np.zeros(SR, dtype=np.float32)):
        with pytest.raises(InvalidInput) as err:
            gen.generate("x", duration=0.2, melody=source)
        assert err.value.code == "INVALID_AUDIO"


def test_continuation_longer_than_a_window(mono):
    with pytest.raises(InvalidInput) as err:
        mono.generate("x", duration=60.0, continuation=np.ones(31 * SR, dtype=np.float32) * 0.1)
    assert err.value.code == "INVALID_AUDIO"


def test_bad_output_path_and_format(mono, tmp_path):
    out = mono.generate("x", duration=0.1, seed=0)
    with pytest.raises(InvalidInput) as err:
        out.save(tmp_path / "nowhere" / "out.wav")
    assert err.value.code == "INVALID_OUTPUT_PATH"
    with pytest.raises(InvalidInput) as err:
        out.save(tmp_path / "out.xyz")
    assert err.value.code == "INVALID_FORMAT"


def test_the_error_tree():
    for cls in (InvalidInput, ModelNotAvailable, UnsupportedFeature, GenerationFailed):
        assert issubclass(cls, MusicGenError)
    assert issubclass(UnknownModel, ModelNotAvailable)
    err = InvalidInput("Prompt cannot be empty", code="INVALID_PROMPT")
    assert err.to_dict() == {
        "error": {"code": "INVALID_PROMPT", "message": "Prompt cannot be empty", "details": {}}
    }
