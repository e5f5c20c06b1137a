"""A tiny random LongCat-Audio-DiT pipeline (diffusers ``LongCatAudioDiTPipeline`` layout), built
offline: ``LongCatAudioDiTVae`` with the real hop (strides 2·4·4·8·8 = 2048 samples at 24 kHz)
and tiny channels, a ``UMT5EncoderModel`` text encoder with the BPE tokenizer trained here,
``LongCatAudioDiTTransformer`` and the pipeline's ``FlowMatchEulerDiscreteScheduler``, saved
with ``save_pretrained`` so it loads through ``MusicGenerator(model=<dir>)`` like a real one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["make_tiny_longcat_pipeline"]

README = """---
license: mit
tags:
- text-to-audio
---
# tiny-longcat-audio-dit

Random weights for tests: noise, not sound.
"""


def make_tiny_longcat_pipeline(directory: str | Path, seed: int = 0) -> Path:
    """Write a tiny random ``LongCatAudioDiTPipeline`` to ``directory`` and return it."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, LongCatAudioDiTPipeline
    from diffusers.models.autoencoders.autoencoder_longcat_audio_dit import LongCatAudioDiTVae
    from diffusers.models.transformers.transformer_longcat_audio_dit import (
        LongCatAudioDiTTransformer,
    )
    from transformers import UMT5Config, UMT5EncoderModel

    from .musicgen import build_tokenizer

    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    tokenizer.model_max_length = 64
    vae = LongCatAudioDiTVae(
        channels=8, c_mults=[1, 1, 1, 1, 2], strides=[2, 4, 4, 8, 8], latent_dim=8,
        encoder_latent_dim=16, downsampling_ratio=2048, sample_rate=24000,
    )  # fmt: skip
    encoder = UMT5EncoderModel(
        UMT5Config(
            vocab_size=max(len(tokenizer), 128),
            d_model=16,
            d_kv=8,
            d_ff=32,
            num_layers=1,
            num_heads=2,
        )
    )
    dit = LongCatAudioDiTTransformer(
        dit_dim=32, dit_depth=2, dit_heads=2, dit_text_dim=16, latent_dim=8
    )
    pipe: Any = LongCatAudioDiTPipeline(
        vae=vae, text_encoder=encoder.eval(), tokenizer=tokenizer, transformer=dit,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0, invert_sigmas=True),
    )  # fmt: skip
    path = Path(directory)
    pipe.save_pretrained(path)
    (path / "README.md").write_text(README)
    return path
