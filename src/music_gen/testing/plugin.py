"""A model family in a package of its own, installed the way pip installs one: the example of
``docs/families.md``, built for the tests (``make_family_package``).

``tiny_tone`` registers ``TinyToneFamily`` under the entry-point group ``music_gen.families``;
once its directory is on ``sys.path`` (``PYTHONPATH``), ``MusicGenerator("tiny-tone")``, the CLI
(``music-gen generate --model tiny-tone``), the service's GET /models and its jobs run it, with
no line of music-gen changed.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ENTRY_POINTS", "TINY_TONE_SOURCE", "make_family_package"]

#: the package's one module, ``tiny_tone.py`` (docs/families.md shows the same code)
TINY_TONE_SOURCE = '''\
"""tiny_tone: a music-gen model family in a package of its own."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from music_gen.audio import AudioOutput
from music_gen.families import Capability, CheckpointFiles, ModelCard, MusicFamily


class TinyToneFamily(MusicFamily):
    """Deterministic tones, no weights: the seed picks the pitch, the prompt's length the
    loudness. It takes prompt, duration and seed, and (validated, recorded, unused) sampling."""

    name = "tiny-tone"  # ModelCard.family
    names = ("tiny-tone",)  # the models it takes by name (or: class_names, model_types)
    SAMPLE_RATE = 16000

    @classmethod
    def inspect(cls, files: CheckpointFiles) -> ModelCard:
        caps = frozenset({Capability.TEXT, Capability.STREAM, Capability.BATCH})
        return ModelCard(files.model, cls.name, caps, cls.SAMPLE_RATE, 1, 60.0, size="0",
                         downloads=False)

    def __init__(self, model="tiny-tone", device="auto", dtype=None, cache_dir=None, *,
                 max_duration=60.0):
        self.model_name = model
        card = self.inspect(CheckpointFiles(model))
        self.card = replace(card, max_duration=min(card.max_duration, float(max_duration)))

    def _generate(self, request, progress, cancelled):
        n = round(request.duration * self.sample_rate)
        t = np.arange(n, dtype=np.float64) / self.sample_rate
        outputs = []
        for i, (prompt, seed) in enumerate(zip(request.prompts, request.seeds(), strict=True)):
            pitch = 220.0 * 2 ** ((seed % 12) / 12)
            level = 0.1 + 0.4 * min(len(prompt), 100) / 100
            wave = (level * np.sin(2 * np.pi * pitch * t)).astype(np.float32)
            outputs.append(AudioOutput(wave[None], self.sample_rate, {"pitch_hz": pitch}))
            if progress is not None:
                progress(i + 1, len(request.prompts))
        return outputs
'''

#: its ``entry_points.txt``: what makes music-gen find it
ENTRY_POINTS = """\
[music_gen.families]
tiny-tone = tiny_tone:TinyToneFamily
"""


def make_family_package(directory: str | Path) -> Path:
    """Install ``tiny_tone`` into ``directory`` as pip would (``pip install --target``): the
    module and its ``.dist-info`` with the entry point. Put ``directory`` on ``sys.path`` (or
    ``PYTHONPATH``) to use it."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    (root / "tiny_tone.py").write_text(TINY_TONE_SOURCE)
    info = root / "tiny_tone-0.1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-tone\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    (info / "RECORD").write_text("")
    return root
