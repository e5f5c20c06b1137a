"""The typed request: keyword arguments become one frozen ``Request`` whose parts carry their
defaults (defined once), validated once with the library's codes."""

from __future__ import annotations

import dataclasses

import pytest

from music_gen import InvalidInput, UnsupportedFeature
from music_gen.params import (
    Conditioning,
    Edit,
    GenerationParams,
    Output,
    Request,
    Sampling,
    Song,
    SongParams,
)


def test_keywords_go_to_the_parts_a_family_takes():
    r = Request.from_keywords(["a"], ("sampling", "conditioning"), duration=2, temperature=0.5,
                              melody="tune.wav")  # fmt: skip
    assert r.sampling == Sampling(temperature=0.5) and r.conditioning == Conditioning("tune.wav")
    assert r.song is None and r.duration == 2
    song = Request.from_keywords(["a", "b"], ("song",), lyrics=["x", "y"], guidance_scale=2.0)
    assert song.song == Song(lyrics=("x", "y"), guidance_scale=2.0) and song.sampling is None
    # defaults where nothing is given: the part's own, the family's duration
    plain = Request.from_keywords(["a"], ("sampling",)).checked(60.0, default_duration=7.0)
    assert plain.sampling == Sampling() and plain.duration == 7.0 and plain.conditioning is None


def test_a_keyword_no_family_takes_is_a_type_error_one_other_families_take_is_unsupported():
    with pytest.raises(TypeError, match="durration"):
        Request.from_keywords(["a"], ("sampling",), durration=3)
    with pytest.raises(UnsupportedFeature) as err:
        Request.from_keywords(["a"], ("song",), "acestep", temperature=0.5)
    assert err.value.details == {"option": "temperature", "family": "acestep"}


def test_parts_are_frozen_and_defaults_are_defined_once():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Sampling().top_k = 3  # type: ignore[misc]
    assert GenerationParams().top_k == Sampling().top_k == 250
    assert GenerationParams().guidance_scale == Sampling().guidance_scale == 3.0
    assert SongParams(1.0).vocal_language == Song.LANGUAGE == "en"


def test_checked_normalises_and_draws_seeds():
    r = Request.from_keywords(["  hi  ", "yo"], ("song",), duration=3, bpm=120.0, key="f# min",
                              time_signature="3/4", vocal_language="EN")  # fmt: skip
    c = r.checked(600.0)
    assert c.prompts == ("hi", "yo") and c.duration == 3.0
    assert (c.song.bpm, c.song.key, c.song.time_signature, c.song.vocal_language) == (
        120, "F# minor", "3", "en",
    )  # fmt: skip
    assert isinstance(c.seed, tuple) and len(c.seed) == 2 and c.seeds() == list(c.seed)
    assert Request(("a", "b"), 1.0, 7).checked(10.0).seeds() == [7, 7]


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (Request(("a",), 11.0), "INVALID_DURATION"),
        (Request(("",), 1.0), "INVALID_PROMPT"),
        (Request(("a",), 1.0, -1), "INVALID_SEED"),
        (Request(("a", "b"), 1.0, (1,)), "INVALID_SEED"),
        (Request(("a",), 1.0, sampling=Sampling(top_p=2.0)), "INVALID_TOP_P"),
        (Request(("a",), 1.0, song=Song(bpm=301)), "INVALID_BPM"),
        (Request(("a",), 1.0, song=Song(steps=0)), "INVALID_STEPS"),
        (Request(("a", "b"), 1.0, song=Song(lyrics=("x",))), "INVALID_LYRICS"),
        (Request(("a",), None, edit=Edit("remix")), "INVALID_TASK"),
        (Request(("a",), None, edit=Edit("cover", strength=2.0)), "INVALID_STRENGTH"),
        (Request(("a",), None, edit=Edit("extract", track="kazoo")), "INVALID_TRACK"),
    ],
)
def test_bad_requests_have_the_library_codes(request_, code):
    with pytest.raises(InvalidInput) as err:
        request_.checked(10.0)
    assert err.value.code == code


def test_an_edit_may_have_no_prompt_and_its_range_lies_in_the_source():
    edit = Request(("",), None, edit=Edit("complete")).checked(10.0)
    assert edit.prompts == ("",) and edit.duration is None
    assert edit.edit.tracks == Edit.DEFAULT_TRACKS
    assert Edit("repaint", end=-1).span(4.0) == (0.0, 4.0)
    with pytest.raises(InvalidInput) as err:
        Edit("repaint", start=3.0, end=5.0).span(4.0)
    assert err.value.code == "INVALID_RANGE"


def test_output_checks_format_and_rate():
    assert Output("mp3", 44100).checked() == Output("mp3", 44100)
    for bad, code in ((Output("aiff"), "INVALID_FORMAT"), (Output(sample_rate=100),
                                                             "INVALID_SAMPLE_RATE")):  # fmt: skip
        with pytest.raises(InvalidInput) as err:
            bad.checked()
        assert err.value.code == code


def test_a_negative_prompt_is_a_song_field_checked_once():
    r = Request.from_keywords(["pads"], ("song",), negative_prompt="  vocals ", duration=1.0)
    assert r.song == Song(negative_prompt="  vocals ")
    assert r.features()["negative_prompt"] == "  vocals "  # what capabilities are asked of
    assert r.checked(10.0).song.negative_prompt == "vocals"
    blank = Request.from_keywords(["p"], ("song",), negative_prompt=" ").checked(10.0)
    assert blank.song is not None and blank.song.negative_prompt is None
    for bad in (3, "x" * 2001):
        with pytest.raises(InvalidInput) as info:
            Request(("p",), 1.0, song=Song(negative_prompt=bad)).checked(10.0)
        assert info.value.code == "INVALID_NEGATIVE_PROMPT"
    with pytest.raises(UnsupportedFeature):  # a sampled model's request has no such field
        Request.from_keywords(["p"], ("sampling",), negative_prompt="x")


def test_musicgen_refuses_a_negative_prompt_naming_the_capability(mono):
    with pytest.raises(UnsupportedFeature) as info:
        mono.generate("pop", duration=0.2, negative_prompt="vocals")
    assert info.value.code == "UNSUPPORTED_FEATURE"
    assert info.value.details["capability"] == "negative_prompt"
