"""Model licences: read from the checkpoint's model card, else the published names' own."""

from __future__ import annotations

import shutil

import pytest

from music_gen.families import inspect_model
from music_gen.families.licenses import allows_commercial, license_of, read_card_license


def test_a_checkpoint_card_declares_its_license(checkpoints, tmp_path):
    directory = tmp_path / "nc-musicgen"
    shutil.copytree(checkpoints["mono"], directory)
    assert inspect_model(str(directory)).license == "unknown"  # no model card: unknown
    (directory / "README.md").write_text(
        "---\nlibrary_name: transformers\nlicense: CC-BY-NC-4.0\ntags:\n- music\n---\n"
        "# A tiny MusicGen\n\nlicense: mit (prose below the front matter does not count)\n"
    )
    assert inspect_model(str(directory)).license == "cc-by-nc-4.0"
    from music_gen import MusicGenerator

    gen = MusicGenerator(str(directory), device="cpu")
    assert gen.card.license == "cc-by-nc-4.0"  # the loaded model's card says it too


def test_front_matter_forms(tmp_path):
    readme = tmp_path / "README.md"
    for text, expected in [
        (
            "---\nlicense: other\nlicense_name: stabilityai-community\n---\n",
            "stabilityai-community",
        ),
        ("---\nlicense:\n- mit\n- apache-2.0\n---\n", "mit, apache-2.0"),
        ("---\ntags: [a]\n---\nlicense: mit\n", None),
        ("# no front matter\nlicense: mit\n", None),
        ("---\nlicense: [unclosed\n---\n", None),
    ]:
        readme.write_text(text)
        assert read_card_license(readme) == expected, text
    assert read_card_license(tmp_path / "missing.md") is None


@pytest.mark.parametrize(
    ("name", "licence"),
    [
        ("facebook/musicgen-small", "cc-by-nc-4.0"),
        ("musicgen-stereo-melody-large", "cc-by-nc-4.0"),
        ("ACE-Step/Ace-Step1.5", "mit"),
        ("composer", "mit"),
        ("someone/some-model", "unknown"),
    ],
)
def test_published_names(name, licence):
    assert license_of(name) == licence


def test_published_names_on_the_cards():
    assert inspect_model("composer").license == "mit"
    assert inspect_model("musicgen-small").license == "cc-by-nc-4.0"


@pytest.mark.parametrize(
    ("licence", "commercial"),
    [
        ("cc-by-nc-4.0", False),
        ("cc-by-nc-sa-4.0", False),
        ("mit, cc-by-nc-4.0", False),
        ("research-only", False),
        ("mit", True),
        ("apache-2.0", True),
        ("unknown", None),
        ("stabilityai-community", None),
    ],
)
def test_commercial_use(licence, commercial):
    assert allows_commercial(licence) is commercial
