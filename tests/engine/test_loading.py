"""Resolving and loading checkpoints: local directories, hub ids offline, devices, dtypes."""

from __future__ import annotations

import shutil

import pytest
import torch

from music_gen import MusicGenerator
from music_gen.engine.loading import (
    KNOWN_MODELS,
    is_cached,
    resolve_checkpoint,
    resolve_device,
    resolve_dtype,
)
from music_gen.errors import InvalidInput, ModelNotAvailable, UnknownModel


def test_known_checkpoints_cover_the_family():
    names = set(KNOWN_MODELS)
    assert {
        "musicgen-small",
        "musicgen-medium",
        "musicgen-large",
        "musicgen-melody",
        "musicgen-melody-large",
        "musicgen-stereo-small",
        "musicgen-stereo-medium",
        "musicgen-stereo-large",
        "musicgen-stereo-melody",
        "musicgen-stereo-melody-large",
    } <= names
    assert KNOWN_MODELS["musicgen-stereo-melody"].channels == 2
    assert KNOWN_MODELS["musicgen-stereo-melody"].melody


def test_uncached_hub_model_offline_names_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailable) as err:
        MusicGenerator("facebook/musicgen-small", device="cpu", cache_dir=tmp_path)
    assert err.value.code == "MODEL_NOT_AVAILABLE"
    assert "facebook/musicgen-small" in err.value.message
    assert "music-gen models pull facebook/musicgen-small" in err.value.message


def test_uncached_hub_model_with_the_hub_unreachable(tmp_path, monkeypatch):
    """With downloads allowed but no route to the hub, still one clear error, no traceback."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on port 9
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(ModelNotAvailable) as err:
        resolve_checkpoint("musicgen-small", cache_dir=tmp_path)
    assert type(err.value) is ModelNotAvailable
    assert "music-gen models pull facebook/musicgen-small" in err.value.message


@pytest.mark.parametrize("name", ["not-a-model", "./missing-dir", "/no/such/checkpoint"])
def test_unknown_names(name):
    with pytest.raises(UnknownModel) as err:
        resolve_checkpoint(name)
    assert err.value.code == "UNKNOWN_MODEL"


def test_a_directory_that_is_not_a_checkpoint(tmp_path):
    with pytest.raises(UnknownModel):
        MusicGenerator(str(tmp_path), device="cpu")


def test_a_checkpoint_copied_into_the_hub_cache_loads_by_hub_id(checkpoints, tmp_path):
    """The hub-id path: a snapshot in the cache layout loads by name with no network."""
    snap = tmp_path / "models--facebook--musicgen-small" / "snapshots" / "abc123"
    shutil.copytree(checkpoints["mono"], snap)
    refs = tmp_path / "models--facebook--musicgen-small" / "refs"
    refs.mkdir()
    (refs / "main").write_text("abc123")
    assert is_cached("musicgen-small", tmp_path)
    gen = MusicGenerator("musicgen-small", device="cpu", cache_dir=tmp_path)
    out = gen.generate("piano", duration=0.2, seed=0)
    assert out.metadata["model"] == "musicgen-small"
    assert out.num_samples == 6400


def test_device_and_dtype_defaults():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    assert resolve_dtype(None, torch.device("cpu")) == torch.float32
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(InvalidInput) as err:
        resolve_dtype("int3", torch.device("cpu"))
    assert err.value.code == "INVALID_DTYPE"
    with pytest.raises(InvalidInput):
        resolve_device("quantum")


def test_bfloat16_on_cpu_generates(checkpoints):
    gen = MusicGenerator(str(checkpoints["mono"]), device="cpu", dtype="bfloat16")
    out = gen.generate("piano", duration=0.3, seed=1)
    assert out.samples.dtype.name == "float32"
    assert out.num_samples == 9600
    assert out.metadata["dtype"] == "bfloat16"
