"""Shared fixtures: tiny random checkpoints built once per session, and generators over them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# never let a test reach for the network: hub look-ups must come from the local cache or fail
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from music_gen.testing import VARIANTS, make_tiny_checkpoint

    root = tmp_path_factory.mktemp("checkpoints")
    return {v: make_tiny_checkpoint(root / v, v, seed=i) for i, v in enumerate(VARIANTS)}


@pytest.fixture(scope="session")
def generators(checkpoints: dict[str, Path]):
    """One loaded ``MusicGenerator`` per variant (loaded lazily, shared by the session)."""
    from music_gen import MusicGenerator

    cache: dict[str, MusicGenerator] = {}

    def get(variant: str) -> MusicGenerator:
        if variant not in cache:
            cache[variant] = MusicGenerator(model=str(checkpoints[variant]), device="cpu")
        return cache[variant]

    return get


@pytest.fixture(scope="session")
def song_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random ACE-Step pipeline directory (diffusers layout)."""
    from music_gen.testing import make_tiny_song_pipeline

    return make_tiny_song_pipeline(tmp_path_factory.mktemp("songs") / "tiny-acestep")


@pytest.fixture(scope="session")
def songs(song_pipeline: Path):
    """A ``MusicGenerator`` over the tiny ACE-Step pipeline (shared by the session)."""
    from music_gen import MusicGenerator

    return MusicGenerator(model=str(song_pipeline), device="cpu")


@pytest.fixture
def mono(generators):
    return generators("mono")


@pytest.fixture
def decoded_codes(monkeypatch: pytest.MonkeyPatch) -> list:
    """Records the codes ``[B, K, T]`` that ``MusicGenerator`` hands to EnCodec, call by call."""
    import music_gen.engine.runtime as module

    captured: list = []
    decode = module.decode_audio

    def capture(codec, codes, channels):
        captured.append(codes.clone())
        return decode(codec, codes, channels)

    monkeypatch.setattr(module, "decode_audio", capture)
    return captured
