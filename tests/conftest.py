"""Shared fixtures: tiny random checkpoints built once per session, and generators over them."""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

# never let a test reach for the network: hub look-ups must come from the local cache or fail
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Ray (2.60) turns token authentication on for a local ray.init() and, finding no token, writes
# one to ~/.ray/auth_token, which every later `ray start` on the machine then requires: the test
# clusters get a token of their own in a temporary directory instead, and the home is left alone
_ray_dir = tempfile.mkdtemp(prefix="music-gen-test-ray-")
atexit.register(shutil.rmtree, _ray_dir, ignore_errors=True)
(Path(_ray_dir) / "auth_token").write_text(secrets.token_hex(32))
os.environ["RAY_AUTH_TOKEN_PATH"] = str(Path(_ray_dir) / "auth_token")
os.environ.pop("RAY_AUTH_TOKEN", None)


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
    """A ``MusicGenerator`` over the tiny ACE-Step pipeline (shared by the session): the plain
    float32 pipeline (sample-exact with diffusers'), not the CPU default's int8 setting, which
    ``tests/families/test_acestep_cpu.py`` bounds against it."""
    from music_gen import MusicGenerator

    return MusicGenerator(model=str(song_pipeline), device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def sa3_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Stable Audio 3 pipeline directory (diffusers layout)."""
    from music_gen.testing import make_tiny_sa3_pipeline

    return make_tiny_sa3_pipeline(tmp_path_factory.mktemp("sa3") / "tiny-stable-audio-3")


@pytest.fixture(scope="session")
def sa3(sa3_pipeline: Path):
    """A ``MusicGenerator`` over the tiny Stable Audio 3 pipeline (shared by the session)."""
    from music_gen import MusicGenerator

    return MusicGenerator(model=str(sa3_pipeline), device="cpu")


@pytest.fixture(scope="session")
def minimax_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random MiniMax Music 3 pipeline directory (modular diffusers layout)."""
    from music_gen.testing import make_tiny_minimax_pipeline

    return make_tiny_minimax_pipeline(tmp_path_factory.mktemp("minimax") / "tiny-minimax")


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
