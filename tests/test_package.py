"""The package's top level: every public name resolves, and the SDK alone does not load torch."""

from __future__ import annotations

import subprocess
import sys

import music_gen


def test_every_public_name_resolves():
    for name in music_gen.__all__:
        assert getattr(music_gen, name) is not None, name
    assert set(music_gen.__all__) <= set(dir(music_gen))
    assert set(music_gen.__all__) == {"__version__", *music_gen._LAZY}


def test_the_sdk_does_not_import_torch():
    """``from music_gen import APIClient`` in a fresh interpreter: no torch, no engine, no server
    (extras ``[client]`` and ``[service]`` can then be installed apart)."""
    code = (
        "import sys\n"
        "from music_gen import APIClient, AudioOutput, InvalidInput\n"
        "heavy = ('torch', 'transformers', 'diffusers', 'fastapi', 'sqlalchemy', 'uvicorn')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported: {out.stdout.strip()}"


def test_an_unknown_name_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = music_gen.Nope


#: a fresh interpreter where torch, transformers and diffusers cannot be imported, as after
#: ``pip install music-gen`` without the ``[models]`` extra
_NO_TORCH = (
    "import sys\n"
    "class Missing:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in ('torch', 'transformers', 'diffusers'):\n"
    "            raise ModuleNotFoundError(f'No module named {name!r}')\n"
    "sys.meta_path.insert(0, Missing())\n"
    "import importlib.util\n"
    "real = importlib.util.find_spec\n"
    "def find_spec(name, package=None):\n"
    "    try:\n"
    "        return real(name, package)\n"
    "    except ModuleNotFoundError:\n"
    "        return None\n"
    "importlib.util.find_spec = find_spec\n"
)


def test_the_composer_runs_without_torch_and_musicgen_says_what_to_install():
    code = _NO_TORCH + (
        "from music_gen import MusicGenerator, ModelNotAvailable\n"
        "audio = MusicGenerator('composer').generate('calm piano', duration=1.0, seed=1)\n"
        "print(audio.duration)\n"
        "try:\n"
        "    MusicGenerator('facebook/musicgen-small')\n"
        "except ModelNotAvailable as exc:\n"
        "    print(exc.code, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    duration, refusal = out.stdout.strip().splitlines()
    assert float(duration) == 1.0
    assert refusal.startswith("MODEL_NOT_AVAILABLE") and "music-gen[models]" in refusal
