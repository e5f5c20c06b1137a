"""A tiny random Stable Audio pipeline (diffusers ``StableAudioPipeline`` layout), built offline.

The real component classes (T5 text encoder, ``StableAudioProjectionModel``,
``StableAudioDiTModel``, ``AutoencoderOobleck``, ``CosineDPMSolverMultistepScheduler``) at a
toy size with random weights, saved with ``save_pretrained`` exactly as
``stabilityai/stable-audio-open-1.0`` is laid out, so loading goes through
``MusicGenerator(model=<dir>)`` like a real checkpoint. The codec runs at 8 kHz stereo with a
hop of 64 samples and the transformer holds 256 latent frames: at most 2.048 s per call (the
real model: 44.1 kHz, 47.55 s).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["make_tiny_audio_pipeline"]

README = """---
license: other
license_name: stabilityai-ai-community
tags:
- text-to-audio
---
# tiny-stable-audio

Random weights for tests: noise, not music.
"""


def make_tiny_audio_pipeline(directory: str | Path, seed: int = 0) -> Path:
    """Write a tiny random ``StableAudioPipeline`` to ``directory`` and return it."""
    import torch
    from diffusers import (
        AutoencoderOobleck,
        CosineDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioPipeline,
    )
    from diffusers.pipelines.stable_audio.modeling_stable_audio import StableAudioProjectionModel
    from transformers import T5Config, T5EncoderModel

    from .musicgen import build_tokenizer

    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    tokenizer.model_max_length = 64
    text_encoder = T5EncoderModel(
        T5Config(
            vocab_size=max(len(tokenizer), 128),
            d_model=32,
            d_kv=8,
            d_ff=64,
            num_layers=1,
            num_heads=4,
        )
    )
    vae = AutoencoderOobleck(
        encoder_hidden_size=6, downsampling_ratios=[2, 4, 8], channel_multiples=[1, 2, 2],
        decoder_channels=6, decoder_input_channels=4, audio_channels=2, sampling_rate=8000,
    )  # fmt: skip
    transformer = StableAudioDiTModel(
        sample_size=256, in_channels=4, num_layers=2, attention_head_dim=8,
        num_attention_heads=2, num_key_value_attention_heads=1, out_channels=4,
        cross_attention_dim=16, time_proj_dim=16, global_states_input_dim=32,
        cross_attention_input_dim=16,
    )  # fmt: skip
    projection = StableAudioProjectionModel(
        text_encoder_dim=32, conditioning_dim=16, min_value=0, max_value=512
    )
    scheduler = CosineDPMSolverMultistepScheduler(
        solver_order=2, prediction_type="v_prediction", sigma_data=1.0,
        sigma_schedule="exponential",
    )  # fmt: skip
    pipe: Any = StableAudioPipeline(
        vae=vae, text_encoder=text_encoder, projection_model=projection, tokenizer=tokenizer,
        transformer=transformer, scheduler=scheduler,
    )  # fmt: skip
    path = Path(directory)
    pipe.save_pretrained(path)
    (path / "README.md").write_text(README)
    return path
