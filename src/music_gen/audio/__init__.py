"""Audio in and out: the ``AudioOutput`` clip type and ``load_audio``.

The modules are implementation details; import the names from ``music_gen.audio``.
"""

from music_gen.audio.io import load_audio
from music_gen.audio.mixer import AudioMixer
from music_gen.audio.output import AUDIO_FORMATS, NORMALIZATION_STRATEGIES, AudioOutput

__all__ = ["AUDIO_FORMATS", "NORMALIZATION_STRATEGIES", "AudioMixer", "AudioOutput", "load_audio"]
