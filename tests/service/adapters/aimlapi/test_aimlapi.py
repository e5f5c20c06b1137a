"""AI/ML API music-01: uploads for all three purposes (song split into vocals and accompaniment),
generation conditioned on a reference, lyrics refused clearly, results in hex."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
import soundfile as sf
from service_helpers import wait_until

from music_gen import load_audio
from music_gen.audio.separate import separate_vocals

SR = 32000
BASE = "/v2/generate/audio/minimax"


def _song(seconds: float = 12.0, sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(int(seconds * sr)) / sr
    loop_t = np.arange(sr) / sr
    loop = 0.2 * np.sin(2 * np.pi * 110 * loop_t) + 0.12 * np.sin(2 * np.pi * 330 * loop_t) * (
        loop_t < 0.5
    )
    accompaniment = np.tile(loop, int(np.ceil(seconds)))[: t.size]
    pitch = 400 + 200 * np.sin(2 * np.pi * 0.13 * t)
    vocals = 0.2 * np.sin(2 * np.pi * np.cumsum(pitch) / sr) * (np.sin(2 * np.pi * 0.5 * t) > -0.3)
    return accompaniment, vocals


def _file(samples: np.ndarray, fmt: str = "WAV", sr: int = SR) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples.astype(np.float32), sr, format=fmt)
    return buf.getvalue()


def test_separation_splits_repeating_accompaniment_from_vocals():
    from music_gen import AudioOutput

    acc, voc = _song()
    vocals, accompaniment = separate_vocals(AudioOutput((acc + voc)[None], SR))
    assert np.corrcoef(vocals.samples[0], voc)[0, 1] > 0.85
    assert np.corrcoef(accompaniment.samples[0], acc)[0, 1] > 0.85
    assert abs(np.corrcoef(vocals.samples[0], acc)[0, 1]) < 0.2
    assert vocals.num_samples == acc.size and vocals.metadata["separation"].startswith("repet")


@pytest.fixture(scope="module")
def api(server):
    return httpx.Client(base_url=server.settings.base_url, timeout=120,
                        headers={"Authorization": f"Bearer {server.key('aiml')}"})  # fmt: skip


def _upload(api, data: bytes, purpose: str, name: str = "track.wav"):
    return api.post(f"{BASE}/upload", files={"file": (name, data)}, data={"purpose": purpose})


def test_uploads_for_every_purpose(api):
    acc, voc = _song()
    song = _upload(api, _file(acc + voc), "song").json()
    assert song["base_resp"] == {"status_code": 0, "status_msg": "success"}
    assert song["voice_id"].startswith("vocal-") and song["instrumental_id"].startswith("instr")
    voice = _upload(api, _file(voc, "MP3"), "voice", "take.mp3").json()  # MP3, sniffed
    assert set(voice) >= {"voice_id", "base_resp"} and "instrumental_id" not in voice
    inst = _upload(api, _file(acc), "instrumental").json()
    assert set(inst) >= {"instrumental_id", "base_resp"} and "voice_id" not in inst
    refs = api.get(f"{BASE}/references").json()["references"]
    ids = {r["id"] for r in refs}
    assert {song["voice_id"], song["instrumental_id"], voice["voice_id"],
            inst["instrumental_id"]} <= ids  # fmt: skip
    assert (
        api.delete(f"{BASE}/references/{voice['voice_id']}").json()["base_resp"]["status_code"] == 0
    )
    assert voice["voice_id"] not in {r["id"] for r in api.get(f"{BASE}/references").json()[
        "references"]}  # fmt: skip


@pytest.mark.parametrize(
    ("data", "name", "purpose"),
    [
        (b"just some text, not audio" * 100, "fake.wav", "song"),
        (None, "short.wav", "instrumental"),  # 5 s: under the 10 s minimum
        (None, "flac.wav", "voice"),  # FLAC bytes under a .wav name: neither WAV nor MP3
    ],
)
def test_bad_uploads(api, data, name, purpose):
    acc, _ = _song(5.0)
    if data is None:
        data = _file(acc, "FLAC" if name.startswith("flac") else "WAV")
    out = _upload(api, data, purpose, name).json()
    assert out["base_resp"]["status_code"] == 2013 and "INVALID_AUDIO" in out["base_resp"][
        "status_msg"]  # fmt: skip
    bad_purpose = _upload(api, _file(_song()[0]), "karaoke")
    assert bad_purpose.status_code == 422


def _wait(api, generation_id: str) -> dict:
    def ended() -> dict | None:
        out = api.get(f"{BASE}/generate", params={"generation_id": generation_id}).json()
        return out if out["data"]["status"] != 1 else None

    return wait_until(ended, 120, f"generation {generation_id} to end", interval=0.1)


@pytest.mark.parametrize("fmt", ["mp3", "wav", "pcm"])
def test_generate_conditioned_on_a_reference(api, fmt):
    acc, _ = _song()
    inst = _upload(api, _file(acc), "instrumental").json()["instrumental_id"]
    started = api.post(f"{BASE}/generate", json={
        "model": "music-01",
        "lyrics": "##\n\n##",  # accompaniment only: nothing to sing
        "refer_instrumental": inst,
        "audio_setting": {"sample_rate": 44100, "bitrate": 256000, "format": fmt},
        "duration": 2.0,
    }).json()  # fmt: skip
    assert started["base_resp"]["status_code"] == 0 and started["generation_id"]
    out = _wait(api, started["generation_id"])
    assert out["base_resp"]["status_code"] == 0 and out["data"]["status"] == 2
    audio = bytes.fromhex(out["data"]["audio"])
    info = out["extra_info"]
    assert info["audio_sample_rate"] == 44100 and info["audio_length"] == 2000
    assert info["audio_size"] == len(audio)
    if fmt == "pcm":
        assert len(audio) == 2 * 44100 * 2  # 16-bit mono
    else:
        decoded = load_audio(audio)
        assert decoded.sample_rate == 44100 and abs(decoded.duration - 2.0) < 0.05
    if fmt == "mp3":  # constant 256 kbit/s, as asked: 2 s are 64,000 bytes (+ a frame or two)
        assert info["audio_bitrate"] == 256000 and 64000 <= len(audio) < 64000 * 1.05
    if fmt == "wav":  # text-only checkpoint: the reference is the continuation prompt
        ref = load_audio(_file(acc)).resample(44100).samples[0, :44100]
        assert np.corrcoef(load_audio(audio).samples[0, 2000:40000], ref[2000:40000])[0, 1] > 0.9


def test_lyrics_to_sing_fail_clearly_and_bad_references(api, server):
    acc, voc = _song()
    song = _upload(api, _file(acc + voc), "song").json()
    out = api.post(f"{BASE}/generate", json={
        "model": "music-01", "lyrics": "Side by side, through thick and thin",
        "refer_voice": song["voice_id"], "refer_instrumental": song["instrumental_id"],
    }).json()  # fmt: skip
    assert out["base_resp"]["status_code"] == 2060 and "singing" in out["base_resp"]["status_msg"]
    none = api.post(f"{BASE}/generate", json={"model": "music-01"}).json()
    assert none["base_resp"]["status_code"] == 2013
    auth = {"Authorization": f"Bearer {server.key('aiml-other')}"}
    other = httpx.Client(base_url=server.settings.base_url, headers=auth)
    theirs = other.post(f"{BASE}/generate", json={"refer_instrumental": song["instrumental_id"]})
    assert theirs.json()["base_resp"]["status_code"] == 2013  # references are per account
    wrong_model = api.post(f"{BASE}/generate", json={"model": "music-02",
                                                     "refer_voice": song["voice_id"]})  # fmt: skip
    assert wrong_model.status_code == 200  # MiniMax's shape: 200 with base_resp 2013
    assert wrong_model.json()["base_resp"]["status_code"] == 2013


@pytest.mark.parametrize(
    ("method", "path", "content"),
    [
        ("POST", "/generate", b"not json"),
        ("POST", "/generate", b""),
        ("POST", "/generate", b"[1, 2]"),
        ("POST", "/generate", b'{"refer_voice": 5, "audio_setting": "loud"}'),
        ("POST", "/generate", b'{"refer_voice": "x", "audio_setting": {"sample_rate": 1}}'),
        ("POST", "/generate", b'{"duration": "long", "refer_voice": "x"}'),
        ("GET", "/generate", None),  # no generation_id
        ("POST", "/generate/retrieve", b"not json"),
        ("POST", "/generate/retrieve", b"{}"),
        ("POST", "/generate/retrieve", b'{"generation_id": 5}'),
    ],
)
def test_bad_bodies_answer_in_minimax_shape(api, method, path, content):
    """music-01 answers a request it cannot use with HTTP 200 and base_resp 2013 (invalid
    parameters), never the core's 422 {"error": ...} a MiniMax client cannot read."""
    headers = {"Content-Type": "application/json"}
    r = api.request(method, f"{BASE}{path}", content=content, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["base_resp"]["status_code"] == 2013 and body["base_resp"]["status_msg"], body
    assert "error" not in body


def test_a_neural_separator_is_used_when_installed(monkeypatch):
    """The Demucs path's plumbing, with a stand-in model (no Demucs weights exist here)."""
    import sys
    import types

    import torch

    from music_gen import AudioOutput
    from music_gen.audio import separate as module

    class FakeModel:
        samplerate, audio_channels = 44100, 2
        sources = ("drums", "bass", "other", "vocals")

    def apply_model(model, x, progress=False):  # [1, C, N] -> [1, S, C, N]: vocals = the input
        out = torch.zeros((1, 4, *x.shape[1:]), dtype=x.dtype)
        out[0, 3], out[0, 0] = x[0], 0.5 * x[0]
        return out

    pretrained = types.SimpleNamespace(get_model=lambda name: FakeModel())
    fake = types.SimpleNamespace(apply=types.SimpleNamespace(apply_model=apply_model),
                                 pretrained=pretrained)  # fmt: skip
    monkeypatch.setitem(sys.modules, "demucs", fake)
    monkeypatch.setitem(sys.modules, "demucs.apply", fake.apply)
    monkeypatch.setitem(sys.modules, "demucs.pretrained", pretrained)
    acc, voc = _song(2.0)
    vocals, accompaniment, method = module.separate(AudioOutput((acc + voc)[None], SR))
    assert method.startswith("demucs") and vocals.sample_rate == SR
    np.testing.assert_allclose(accompaniment.samples, 0.5 * vocals.samples, atol=1e-5)
    monkeypatch.delitem(sys.modules, "demucs")
    monkeypatch.setitem(sys.modules, "demucs.apply", None)  # not installed: REPET-SIM
    assert module.separate(AudioOutput((acc + voc)[None], SR))[2].startswith("repet")
