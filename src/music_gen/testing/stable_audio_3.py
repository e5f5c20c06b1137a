"""A tiny random Stable Audio 3 pipeline (diffusers ``StableAudio3Pipeline`` layout), built
offline, and the real Stable Audio 3 small architecture's configs (for benchmarks).

The real component classes: ``AutoencoderSAME`` (the real hop: patch 256 × stride 16 = 4096
samples at 44.1 kHz, tiny channels), ``T5GemmaEncoderModel`` with a ``GemmaTokenizer`` whose BPE
vocabulary is trained here with ``tokenizers``, ``StableAudio3DurationEmbedder``,
``StableAudio3DiTModel`` and ``FlowMatchEulerDiscreteScheduler`` (stochastic ping-pong
sampling, as the distilled checkpoints), saved with ``save_pretrained`` exactly as a converted
``stabilityai/stable-audio-3-*`` checkpoint is laid out, so loading goes through
``MusicGenerator(model=<dir>)`` like a real one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["SA3_SMALL", "build_gemma_tokenizer", "make_sa3_pipeline", "make_tiny_sa3_pipeline"]

README = """---
license: other
license_name: stabilityai-community
tags:
- text-to-audio
---
# tiny-stable-audio-3

Random weights for tests: noise, not music.
"""

_CORPUS = [
    "warm analog synth pads with a slow arpeggio", "punchy drums and deep bass at 120 bpm",
    "rain on a tin roof", "soft piano melody with strings", "lofi hip hop beat with vinyl crackle",
    "bright acoustic guitar strumming", "dark ambient drone", "funk groove with slap bass",
    "orchestral swell with brass", "glitchy electronic percussion loop", "vocals low quality",
]  # fmt: skip

#: the real Stable Audio 3 small (music) architecture: SAME-S autoencoder (the class defaults),
#: a T5Gemma b-b encoder and a 1024-wide, 20-deep DiT with standard attention
SA3_SMALL: dict[str, dict[str, Any]] = {
    "vae": {},  # AutoencoderSAME's defaults are SAME-S
    "text_encoder": {
        "vocab_size": 256000, "hidden_size": 768, "intermediate_size": 2048,
        "num_hidden_layers": 12, "num_attention_heads": 12, "num_key_value_heads": 12,
        "head_dim": 64, "query_pre_attn_scalar": 64,
    },
    "duration_embedder": {"output_dim": 768, "fourier_dim": 256, "max_val": 384.0},
    "transformer": {
        "io_channels": 256, "embed_dim": 1024, "depth": 20, "num_heads": 16,
        "cond_token_dim": 768, "global_cond_dim": 768, "local_add_cond_dim": 257,
        "timestep_features_dim": 256, "ff_mult": 4.0, "num_memory_tokens": 64,
        "use_differential_attention": False,
    },
    "scheduler": {"stochastic_sampling": True},
}  # fmt: skip

TINY: dict[str, dict[str, Any]] = {
    "vae": {
        "patch_size": 256, "encoder_channels": 8, "encoder_c_mults": [2],
        "encoder_strides": [16], "encoder_transformer_depths": [1], "latent_dim": 8,
        "dim_heads": 8, "ff_mult": 2,
    },
    "text_encoder": {
        "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
        "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8,
        "query_pre_attn_scalar": 8,
    },
    "duration_embedder": {"output_dim": 16, "fourier_dim": 16, "max_val": 384.0},
    "transformer": {
        "io_channels": 8, "embed_dim": 32, "depth": 2, "num_heads": 2, "cond_token_dim": 16,
        "global_cond_dim": 16, "local_add_cond_dim": 9, "timestep_features_dim": 16,
        "ff_mult": 2.0, "num_memory_tokens": 4, "use_differential_attention": True,
    },
    "scheduler": {"stochastic_sampling": True},
}  # fmt: skip


def build_gemma_tokenizer(vocab_size: int = 400, max_length: int = 16) -> Any:
    """A ``GemmaTokenizer`` (BPE with byte fallback, "▁" for spaces) whose vocabulary and merges
    are trained here on a few prompts with ``tokenizers``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import GemmaTokenizer

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split(" ", behavior="merged_with_previous")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials + [f"<0x{i:02X}>" for i in range(256)],
        show_progress=False,
    )  # fmt: skip
    tok.train_from_iterator(_CORPUS, trainer)
    vocab = tok.get_vocab()
    merges = _merges(tok)
    return GemmaTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)


def _merges(tok: Any) -> list[Any]:
    import json

    merges = json.loads(tok.to_str())["model"]["merges"]
    return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]


def make_sa3_pipeline(configs: dict[str, dict[str, Any]] | None = None, seed: int = 0) -> Any:
    """A ``StableAudio3Pipeline`` with random weights (``configs``: ``TINY`` or ``SA3_SMALL``)."""
    import torch
    from diffusers import (
        AutoencoderSAME,
        FlowMatchEulerDiscreteScheduler,
        StableAudio3DiTModel,
        StableAudio3DurationEmbedder,
        StableAudio3Pipeline,
    )
    from transformers import T5GemmaConfig, T5GemmaEncoderModel

    cfg = TINY if configs is None else configs
    torch.manual_seed(seed)
    tokenizer = build_gemma_tokenizer(max_length=16 if cfg is TINY else 256)
    text = dict(cfg["text_encoder"])
    text.setdefault("vocab_size", max(len(tokenizer), 256))
    encoder = T5GemmaEncoderModel(
        T5GemmaConfig(
            encoder=text, decoder=text, is_encoder_decoder=False, vocab_size=text["vocab_size"]
        )
    )
    vae, dit = AutoencoderSAME(**cfg["vae"]), StableAudio3DiTModel(**cfg["transformer"])
    for model in (vae, dit):  # zero-initialised output layers would make the audio constant
        _randomize_zeros(model)
    return StableAudio3Pipeline(
        vae=vae,
        text_encoder=encoder.eval(),
        tokenizer=tokenizer,
        duration_embedder=StableAudio3DurationEmbedder(**cfg["duration_embedder"]),
        transformer=dit,
        scheduler=FlowMatchEulerDiscreteScheduler(**cfg["scheduler"]),
    )


def _randomize_zeros(model: Any) -> None:
    """Random weights where the class initialises weights to (nearly) zero: zero output layers
    and the decoder's 1e-5-scaled output tokens (a trained model's are not; untouched, the
    decoder's output would not depend on the latent)."""
    import torch

    with torch.no_grad():
        for param in model.parameters():
            if param.dim() >= 2 and param.abs().max() < 1e-3:  # zeros, and 1e-5 · randn
                param.normal_(0.0, 0.5)


def make_tiny_sa3_pipeline(directory: str | Path, seed: int = 0) -> Path:
    """Write a tiny random ``StableAudio3Pipeline`` to ``directory`` and return it."""
    path = Path(directory)
    make_sa3_pipeline(seed=seed).save_pretrained(path)
    (path / "README.md").write_text(README)
    return path
