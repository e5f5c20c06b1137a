"""What the adapters share: bodies parsed into a clear error, reference conditioning words."""

from __future__ import annotations

import pytest

from music_gen.errors import InvalidInput
from music_gen.service.adapters.common import Conditioning, parse_json_object


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[" * 100_000, "nests too deeply"),  # a RecursionError inside json, not a 500
        (b'{"a": ' + b"[" * 50_000, "nests too deeply"),
        (b"", "empty"),
        (b"   ", "empty"),
        (b"not json", "must be JSON"),
        (b"\xff\xfe{}", "must be JSON"),
        (b"[1, 2]", "JSON object"),
        (b"null", "empty"),
    ],
)
def test_bad_bodies_are_clear_errors(raw, message):
    with pytest.raises(InvalidInput, match=message) as caught:
        parse_json_object(raw)
    assert caught.value.code == "INVALID_BODY"


def test_a_json_object_is_returned_as_is():
    assert parse_json_object(b'{"key": "k", "temp": 0.5}') == {"key": "k", "temp": 0.5}


def test_conditioning_words_are_appended_to_the_prompt():
    assert Conditioning("tempo-and-key", prompt_words="in A minor, 96 bpm").prompt("jazz") == (
        "jazz, in A minor, 96 bpm"
    )
    assert Conditioning("melody", {"melody": "/x.wav"}).prompt("jazz") == "jazz"
