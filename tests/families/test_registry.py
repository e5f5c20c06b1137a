"""The family registry: the loader asks the families which one takes a model, and a family
from another installed package (entry-point group ``music_gen.families``) works in the
library and the CLI with no line of music-gen changed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from music_gen import InvalidInput, MusicGenerator, UnknownModel, UnsupportedFeature
from music_gen.families import (
    ENTRY_POINT_GROUP,
    CheckpointFiles,
    detect_family,
    families,
    family_for,
    inspect_model,
)
from music_gen.testing.plugin import ENTRY_POINTS, TINY_TONE_SOURCE, make_family_package

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def tiny_tone(tmp_path, monkeypatch):
    """``tiny_tone`` installed into a site directory, that directory on ``sys.path``."""
    site = make_family_package(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("tiny_tone", None)


def test_built_in_families_are_found_from_the_package_modules():
    names = {cls.name for cls in families()}
    assert {"musicgen", "composer", "acestep"} <= names
    assert "tiny-tone" not in names  # not installed in this interpreter


def test_the_family_is_picked_from_files_not_names(tmp_path, checkpoints, song_pipeline):
    cls, files = family_for(str(song_pipeline))
    assert cls.name == "acestep" and files.class_name == "AceStepPipeline"
    cls, files = family_for(str(checkpoints["melody"]))
    assert cls.name == "musicgen" and files.model_type == "musicgen_melody"
    assert family_for("composer")[0].name == "composer"
    # a copy under another name is still what its files say
    other = tmp_path / "renamed"
    other.mkdir()
    (other / "config.json").write_text((checkpoints["mono"] / "config.json").read_text())
    assert detect_family(str(other)) == "musicgen"


def test_files_no_family_takes_are_refused_naming_what_they_are(tmp_path):
    pipe = tmp_path / "pipe"
    pipe.mkdir()
    (pipe / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    with pytest.raises(UnknownModel) as err:
        detect_family(str(pipe))
    assert err.value.details["class_name"] == "StableDiffusionPipeline"
    assert "AceStepPipeline" in str(err.value)
    ckpt = tmp_path / "bert"
    ckpt.mkdir()
    (ckpt / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(UnknownModel) as err:
        inspect_model(str(ckpt))
    assert err.value.details["model_type"] == "bert"
    with pytest.raises(InvalidInput):
        detect_family("  ")


def test_the_docs_show_the_example_family_that_the_tests_install():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "families.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
    assert TINY_TONE_SOURCE in blocks
    assert ENTRY_POINTS in doc and ENTRY_POINT_GROUP in doc


def test_an_installed_family_works_in_the_library(tiny_tone):
    assert "tiny-tone" in {cls.name for cls in families()}
    card = inspect_model("tiny-tone")
    assert (card.family, card.sample_rate, card.channels, card.downloads) == (
        "tiny-tone", 16000, 1, False,
    )  # fmt: skip
    gen = MusicGenerator("tiny-tone", max_duration=30.0)
    assert gen.family == "tiny-tone" and gen.max_duration == 30.0 and gen.can("stream")
    a = gen.generate("a calm tone", duration=0.5, seed=3)
    b = gen.generate("a calm tone", duration=0.5, seed=3)
    c = gen.generate("a calm tone", duration=0.5, seed=4)
    assert a.samples.shape == (1, 8000) and a.sample_rate == 16000
    np.testing.assert_array_equal(a.samples, b.samples)
    assert not np.allclose(a.samples, c.samples)
    meta = a.metadata
    assert (meta["model"], meta["family"], meta["seed"], meta["prompt"]) == (
        "tiny-tone", "tiny-tone", 3, "a calm tone",
    )  # fmt: skip
    assert meta["temperature"] == 1.0 and meta["timings"]["total_s"] >= 0
    # the shared paths: batches, streams, validation with the library's codes
    batch = gen.generate_batch(["one", "two"], duration=0.25, seed=[3, 4])
    assert [o.metadata["seed"] for o in batch] == [3, 4]
    assert [o.metadata["batch_index"] for o in batch] == [0, 1]
    chunks = list(gen.generate_stream("a calm tone", duration=0.5, seed=3, chunk_seconds=0.1))
    assert chunks[-1].metadata["final"] and len(chunks) > 2
    np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks], axis=-1), a.samples)
    with pytest.raises(InvalidInput) as err:
        gen.generate("x", duration=31.0)
    assert err.value.code == "INVALID_DURATION"
    with pytest.raises(UnsupportedFeature) as err:
        gen.generate("x", duration=0.5, lyrics="la la")
    assert err.value.details["capability"] == "lyrics"
    with pytest.raises(UnsupportedFeature):
        gen.edit("repaint", np.zeros((1, 1600), np.float32))


def test_an_installed_family_works_in_the_cli(tiny_tone, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(tiny_tone)])}
    out = tmp_path / "tone.wav"
    run = subprocess.run(
        [sys.executable, "-m", "music_gen.cli", "generate", "a calm tone", "--model",
         "tiny-tone", "--duration", "0.5", "--seed", "3", "-o", str(out), "-q"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    audio, rate = sf.read(out, dtype="float32")
    assert rate == 16000 and audio.shape == (8000,)
    expected = MusicGenerator("tiny-tone").generate("a calm tone", duration=0.5, seed=3)
    np.testing.assert_allclose(audio, expected.samples[0], atol=1e-4)  # 16-bit WAV
    listed = subprocess.run(
        [sys.executable, "-m", "music_gen.cli", "models", "list", "tiny-tone"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    row = listed.stdout.splitlines()[2]
    assert "tiny-tone" in row and "yes" in row and "stream" in row


def test_a_broken_package_does_not_take_the_others_down(tmp_path, monkeypatch, caplog):
    site = tmp_path / "broken"
    info = site / "broken_family-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-family\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[music_gen.families]\nbroken = no_such_module:X\n")
    monkeypatch.syspath_prepend(str(site))
    assert "composer" in {cls.name for cls in families()}
    assert "broken" in caplog.text


def test_claims_read_names_class_names_and_model_types():
    from music_gen.families.acestep import AceStepFamily
    from music_gen.families.musicgen import MusicGenFamily

    assert AceStepFamily.claims(CheckpointFiles("x", index={"_class_name": "AceStepPipeline"}))
    assert not AceStepFamily.claims(CheckpointFiles("x", config={"model_type": "musicgen"}))
    assert MusicGenFamily.claims(CheckpointFiles("x", config={"model_type": "musicgen"}))
    assert MusicGenFamily.claims(CheckpointFiles("musicgen-small"))  # a published name
