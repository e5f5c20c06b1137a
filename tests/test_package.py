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
