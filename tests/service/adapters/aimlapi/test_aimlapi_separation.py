"""music-01 song uploads are separated a minute at a time (a 10-minute song separated whole
took 5.9 GB): segments cover the song exactly, crossfaded so the parts add back up."""

from __future__ import annotations

import numpy as np

from music_gen.audio import AudioOutput
from music_gen.service.adapters.aimlapi import references


def test_a_long_song_is_separated_in_segments_that_add_back_up(monkeypatch):
    seen: list[int] = []

    def identity(audio: AudioOutput):  # "vocals": the input itself; accompaniment: its half
        seen.append(audio.num_samples)
        return audio, AudioOutput(audio.samples * 0.5, audio.sample_rate), "test"

    monkeypatch.setattr(references, "separate", identity)
    rate = 8000
    song = np.random.default_rng(0).uniform(-0.5, 0.5, (2, int(150.3 * rate))).astype(np.float32)
    vocals, accompaniment, how = references._separate(AudioOutput(song, rate))
    assert how == "test" and len(seen) == 3  # 150 s: three segments of ~50 s
    assert max(seen) <= (references.SEGMENT_SECONDS + 2 * references.FADE_SECONDS) * rate
    np.testing.assert_allclose(vocals.samples, song, atol=1e-6)
    np.testing.assert_allclose(accompaniment.samples, 0.5 * song, atol=1e-6)


def test_a_song_of_a_minute_or_less_is_separated_whole(monkeypatch):
    seen: list[int] = []

    def record(audio: AudioOutput):
        seen.append(audio.num_samples)
        return audio, audio, "test"

    monkeypatch.setattr(references, "separate", record)
    references._separate(AudioOutput(np.zeros((1, 8000 * 60), np.float32), 8000))
    assert seen == [8000 * 60]
