"""Inputs a request brings in: their length is read from the header before anything is decoded."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

import music_gen.service.core.inputs as inputs
from music_gen import InvalidInput


def _mp3(seconds: float, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    sf.write(buf, (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate, format="MP3")
    return buf.getvalue()


def test_a_long_low_bitrate_file_is_refused_from_its_header(monkeypatch):
    data = _mp3(11 * 60)  # 11 minutes: over the 10-minute limit

    def never(*args, **kwargs):
        raise AssertionError("decoded a file its header already refuses")

    monkeypatch.setattr(inputs, "load_audio", never)
    with pytest.raises(InvalidInput) as err:
        inputs.checked_audio(data, "upload", 600.0)
    assert err.value.code == "INVALID_AUDIO"
    assert err.value.details["duration"] == pytest.approx(660.0, abs=1.0)


def test_files_within_bounds_are_decoded_and_short_ones_refused():
    audio = inputs.checked_audio(_mp3(12.0), "upload", 600.0, 10.0)
    assert audio.duration == pytest.approx(12.0, abs=0.1)
    with pytest.raises(InvalidInput) as err:
        inputs.checked_audio(_mp3(3.0), "the audio", 600.0, 10.0)
    assert "10 s to 600 s" in err.value.message
    with pytest.raises(InvalidInput):
        inputs.checked_audio(b"not audio at all", "upload", 600.0)


def test_music01_uploads_check_the_length_before_decoding(monkeypatch):
    """Hostile finding 9: a 50 MB 8 kbps MP3 was decoded whole (1.8 GB) before the check."""
    from music_gen.service.adapters.aimlapi import references

    def never(*args, **kwargs):
        raise AssertionError("decoded a file its header already refuses")

    monkeypatch.setattr(inputs, "load_audio", never)
    monkeypatch.setattr(references, "load_audio", never)
    with pytest.raises(InvalidInput) as err:
        references.upload(None, "acct", _mp3(11 * 60), "voice")  # type: ignore[arg-type]
    assert err.value.code == "INVALID_AUDIO"
