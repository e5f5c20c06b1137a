"""Tiny random checkpoints of every model family, built offline in their real file formats.

- ``make_tiny_checkpoint`` / ``make_checkpoint``: MusicGen (transformers layout).
- ``make_tiny_song_pipeline`` / ``acestep_configs``: ACE-Step 1.5 (diffusers layout).
- ``make_tiny_audio_pipeline``: Stable Audio Open (diffusers ``StableAudioPipeline`` layout).
- ``make_tiny_sa3_pipeline`` / ``make_sa3_pipeline``: Stable Audio 3 (``StableAudio3Pipeline``).
- ``make_tiny_longcat_pipeline``: LongCat-Audio-DiT (``LongCatAudioDiTPipeline``).
- ``make_tiny_minimax_pipeline`` / ``minimax_configs``: MiniMax Music 3 (modular diffusers
  layout, ``modular_model_index.json``).
"""

from .acestep import (
    ACESTEP_ARCHITECTURES,
    acestep_configs,
    make_song_pipeline,
    make_tiny_song_pipeline,
)
from .longcat import make_tiny_longcat_pipeline
from .minimax import make_minimax_pipeline, make_tiny_minimax_pipeline, minimax_configs
from .musicgen import (
    ARCHITECTURES,
    VARIANTS,
    build_tokenizer,
    make_checkpoint,
    make_tiny_checkpoint,
)
from .stable_audio import make_tiny_audio_pipeline
from .stable_audio_3 import (
    SA3_SMALL,
    build_gemma_tokenizer,
    make_sa3_pipeline,
    make_tiny_sa3_pipeline,
)

__all__ = [
    "ACESTEP_ARCHITECTURES",
    "ARCHITECTURES",
    "SA3_SMALL",
    "VARIANTS",
    "acestep_configs",
    "build_gemma_tokenizer",
    "build_tokenizer",
    "make_checkpoint",
    "make_minimax_pipeline",
    "make_sa3_pipeline",
    "make_song_pipeline",
    "make_tiny_audio_pipeline",
    "make_tiny_checkpoint",
    "make_tiny_longcat_pipeline",
    "make_tiny_minimax_pipeline",
    "make_tiny_sa3_pipeline",
    "make_tiny_song_pipeline",
    "minimax_configs",
]
