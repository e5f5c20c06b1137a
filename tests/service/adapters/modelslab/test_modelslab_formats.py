"""ModelsLab's delivered file and temporary links, below the HTTP layer."""

from __future__ import annotations

import io
import types

import numpy as np
import pytest
import soundfile as sf

from music_gen.audio import AudioOutput
from music_gen.service.adapters import common
from music_gen.service.adapters.modelslab.answers import signature


def _frame_kbps(data: bytes) -> int:
    i = 10 + ((data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]) if data[:3] == b"ID3" \
        else 0  # fmt: skip
    while not (data[i] == 0xFF and data[i + 1] & 0xE0 == 0xE0):
        i += 1
    mpeg1 = (data[i + 1] >> 3) & 3 == 3
    table = ((0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320) if mpeg1
             else (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160))  # fmt: skip
    return table[data[i + 2] >> 4]


def _noise(rate: int, seconds: float = 1.0) -> AudioOutput:
    rng = np.random.default_rng(0)
    return AudioOutput((0.2 * rng.standard_normal((2, int(rate * seconds)))).astype(np.float32),
                       rate)  # fmt: skip


@pytest.mark.parametrize("kbps", [128, 192, 320])
@pytest.mark.parametrize("rate", [32000, 44100])
def test_mp3_is_encoded_at_the_asked_constant_bitrate(rate, kbps):
    data, audio = common.encode_mp3(_noise(rate), kbps)
    assert audio.sample_rate == rate and _frame_kbps(data) == kbps
    decoded, decoded_rate = sf.read(io.BytesIO(data))
    assert decoded_rate == rate and len(decoded) == rate


def test_a_rate_mp3_cannot_hold_is_raised_to_the_next_one():
    data, audio = common.encode_mp3(_noise(10000), 128)  # ModelsLab's minimum sampling_rate
    assert audio.sample_rate == 11025 and sf.read(io.BytesIO(data))[1] == 11025
    assert _frame_kbps(data) == common.mp3_kbps(11025, 128) == 64  # MPEG-2.5's ceiling
    assert common.encode_mp3(_noise(96000, 0.2), 320)[1].sample_rate == 48000


@pytest.mark.parametrize(
    ("rate", "asked", "kbps"),
    [(16000, 128, 128), (24000, 320, 160), (22050, 192, 160), (8000, 64, 64)],
)
def test_low_rates_get_the_bitrate_their_mpeg_version_allows(rate, asked, kbps):
    data, _ = common.encode_mp3(_noise(rate), asked)
    assert _frame_kbps(data) == common.mp3_kbps(rate, asked) == kbps


def test_temporary_links_are_signed_per_name_and_expiry():
    state = types.SimpleNamespace(link_secret=b"s" * 32)
    sig = signature(state, "job1.mp3", 2_000_000_000)  # type: ignore[arg-type]
    assert len(sig) == 32
    assert sig != signature(state, "job1.wav", 2_000_000_000)  # type: ignore[arg-type]
    assert sig != signature(state, "job1.mp3", 2_000_000_001)  # type: ignore[arg-type]
    other = types.SimpleNamespace(link_secret=b"t" * 32)
    assert sig != signature(other, "job1.mp3", 2_000_000_000)  # type: ignore[arg-type]
