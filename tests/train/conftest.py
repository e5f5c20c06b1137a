"""Fixtures for fine-tuning: a tiny MusicGen, composer clips, one trained adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

#: captions of the training clips and the held-out one; the composer renders each prompt
TRAIN_PROMPTS = ["funk groove with slap bass", "rock band with distorted guitars", "jazz trio"]
HELD_OUT_PROMPT = "funk bass groove, upbeat"
#: what every training run of these tests uses (tiny model, few steps, 1 s windows)
SETTINGS = dict(
    steps=8, rank=4, alpha=8.0, learning_rate=1e-2, batch_size=2, window_seconds=1.0,
    min_seconds=0.5, checkpoint_every=4, seed=3, device="cpu",
)  # fmt: skip


def write_clip(folder: Path, name: str, prompt: str, seconds: float, seed: int) -> Path:
    from music_gen import MusicGenerator

    out = MusicGenerator("composer").generate(prompt, duration=seconds, seed=seed)
    path = out.save(folder / f"{name}.wav")
    (folder / f"{name}.txt").write_text(prompt)
    return path


@pytest.fixture(scope="session")
def train_settings() -> dict:
    return dict(SETTINGS)


@pytest.fixture(scope="session")
def clip_writer():
    """``write_clip(folder, name, prompt, seconds, seed)``: a composer clip and its caption."""
    return write_clip


@pytest.fixture(scope="session")
def tiny_musicgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from music_gen.testing import make_tiny_checkpoint

    return make_tiny_checkpoint(tmp_path_factory.mktemp("train-ck") / "tiny", seed=0)


@pytest.fixture(scope="session")
def other_musicgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Same architecture as ``tiny_musicgen``, other weights."""
    from music_gen.testing import make_tiny_checkpoint

    return make_tiny_checkpoint(tmp_path_factory.mktemp("train-ck") / "other", seed=7)


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dataset")
    for i, prompt in enumerate(TRAIN_PROMPTS):
        write_clip(folder, f"clip{i}", prompt, 2.0, seed=i)
    return folder


@pytest.fixture(scope="session")
def held_out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("held-out")
    write_clip(folder, "held", HELD_OUT_PROMPT, 2.0, seed=11)
    return folder


@pytest.fixture(scope="session")
def trained(tiny_musicgen: Path, dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """One training run shared by the tests that only read its result."""
    import music_gen

    out = tmp_path_factory.mktemp("adapter") / "adapter"
    return music_gen.train(str(tiny_musicgen), dataset_dir, out, **SETTINGS)
