"""Tiny random MiniMax Music 3 pipelines, built offline, in the modular diffusers layout.

``make_tiny_minimax_pipeline(path)`` saves a ``MiniMaxMusic3ModularPipeline`` with the real
component classes (a ``Qwen3ForCausalLM`` language model, ``MiniMaxMusic3RVQDepthDecoder``,
``MiniMaxMusic3ConditionEncoder``, ``MiniMaxMusic3Transformer1DModel``, ``MiniMaxMusic3Vocoder``,
the flow-matching scheduler) and a ``Qwen2Tokenizer`` whose BPE is trained here with
``tokenizers``, through ``ModularPipeline.save_pretrained``: ``modular_model_index.json`` and one
folder per component, as ``MiniMaxAI/MiniMax-Music3`` lays them out. ``MusicGenerator(path)``
and ``ModularPipeline.from_pretrained(path)`` + ``load_components()`` load it back.

What is real: the layout, every config field, the audio rates (a 25 Hz autoregressive frame =
24 kHz / 960, a Flow-VAE latent = 512 samples at 44.1 kHz: the vocoder upsamples 8 x 8 x 4 x 2),
stereo, 8 codebooks of 1,024 codes, the 128 latent channels, and the language model's token
ids that the pipeline hard-codes (audio codes from 151,675, 16,384 of them: its vocabulary must
reach 168,059). What is not: the widths (16-32), the weights (random), the vocabulary (a few
hundred merges plus the prompt's special tokens), and one row: the end-of-audio token's output
row is zero, so the random model never ends a song early (a tiny song is as long as asked).

``minimax_configs("music3")`` gives the released architecture (random weights, for speed
measurements; see benchmarks/bench_minimax.py): ~11.7 B parameters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = [
    "MINIMAX_README",
    "make_minimax_pipeline",
    "make_tiny_minimax_pipeline",
    "minimax_configs",
    "minimax_tokenizer",
]

#: token ids the pipeline hard-codes (diffusers' minimax_music3/encoders.py)
AUDIO_CODE_OFFSET = 151_675
SEMANTIC_CODES = 16_384
AUDIO_END_TOKEN = 151_670
#: the special tokens of the prompt the pipeline assembles
SPECIAL_TOKENS = (
    "<|im_start|>", "<|im_end|>", "<|caption_start|>", "<|caption_end|>", "<|lyrics_start|>",
    "<|lyrics_end|>", "<|audio_start|>",
)  # fmt: skip

MINIMAX_README = """---
license: other
license_name: minimax-music3-community-license
tags:
- text-to-audio
- music-generation
---
# tiny-minimax-music3

Random weights for tests, in the layout of MiniMaxAI/MiniMax-Music3: noise, not music.
"""

_CORPUS = [
    "[verse]\nwalking down the empty street\nneon lights beneath my feet",
    "[chorus]\nsing it loud sing it high\nwe are dancing in the sky",
    "[start]\n[intro]\n[bridge]\n[outro]\nhold me close and never let go",
    "Genre: synth pop. Mood: bright, hopeful. Vocals: warm female lead.",
    "Instruments: piano, strings, drums and bass; tempo 120 bpm, key of A minor",
]


def minimax_tokenizer(vocab_size: int = 400) -> Any:
    """A ``Qwen2Tokenizer`` (byte-level BPE trained here) with the prompt's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    state = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in state["merges"]]
    qwen = Qwen2Tokenizer(vocab=state["vocab"], merges=merges)  # type: ignore[arg-type]
    qwen.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    return qwen


def minimax_configs(arch: str | None = None) -> dict[str, dict[str, Any]]:
    """Constructor arguments of each component: tiny (``arch=None``) or ``"music3"`` (the
    released checkpoint's geometry: a Qwen3-8B-shaped language model with a 200,000-token
    vocabulary, a 4-layer depth decoder 4096 wide, a 36-layer 2048-wide flow-matching
    transformer, the DAC-style vocoder 1536 wide)."""
    if arch not in (None, "music3"):
        raise ValueError(f"unknown MiniMax Music 3 architecture {arch!r}")
    real = arch == "music3"
    hidden = 4096 if real else 16
    lm = (
        {"vocab_size": 200_000, "hidden_size": 4096, "num_hidden_layers": 36,
         "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
         "intermediate_size": 12288, "max_position_embeddings": 10240}
        if real
        else {"vocab_size": AUDIO_CODE_OFFSET + SEMANTIC_CODES + 5, "hidden_size": hidden,
              "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
              "head_dim": 8, "intermediate_size": 32, "max_position_embeddings": 4096}
    )  # fmt: skip
    return {
        "language_model": {**lm, "rope_theta": 1_000_000.0, "tie_word_embeddings": False},
        "rvq_depth_decoder": {
            "hidden_size": hidden,
            "num_layers": 4 if real else 1,
            "num_attention_heads": 16 if real else 2,
            "intermediate_size": 6144 if real else 32,
            "audio_vocab_size": 1024,
            "num_codebooks": 8,
            "max_position_embeddings": 16,
        },
        "condition_encoder": {
            "condition_hidden_dim": hidden,
            "num_condition_layers": 8,
            "out_dim": 2048 if real else 32,
            "input_sampling_rate": 24000,
            "input_hop_length": 960,
            "output_sampling_rate": 44100,
            "output_hop_length": 512,
        },
        "transformer": {
            "in_channels": 128,
            "condition_dim": 2048 if real else 32,
            "num_layers": 36 if real else 1,
            "num_attention_heads": 32 if real else 2,
            "attention_head_dim": 64 if real else 16,
            "ff_inner_dim": 8192 if real else 64,
            "rotary_dim": 32 if real else 8,
            "fourier_embedding_dim": 256 if real else 16,
        },
        "vocoder": {
            "latent_channels": 128,
            "decoder_input_dim": 1024 if real else 16,
            "decoder_hidden_dim": 1536 if real else 32,
            "upsampling_ratios": [8, 8, 4, 2],
            "sampling_rate": 44100,
        },
        "scheduler": {"num_train_timesteps": 1, "shift": 1.0, "invert_sigmas": True},
    }


def make_minimax_pipeline(arch: str | None = None, seed: int = 0, device: Any = "cpu") -> Any:
    """A ``MiniMaxMusic3ModularPipeline`` in memory with random weights (tiny, or ``"music3"``,
    built on ``device`` in bfloat16 there: 11.7 B parameters are ~23 GB)."""
    import torch
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        MiniMaxMusic3ConditionEncoder,
        MiniMaxMusic3ModularPipeline,
        MiniMaxMusic3RVQDepthDecoder,
        MiniMaxMusic3Transformer1DModel,
        MiniMaxMusic3Vocoder,
    )
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    cfg = minimax_configs(arch)
    dtype = torch.bfloat16 if arch is not None else torch.float32
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            parts: dict[str, Any] = {
                "language_model": Qwen3ForCausalLM(Qwen3Config(**cfg["language_model"])),
                "rvq_depth_decoder": MiniMaxMusic3RVQDepthDecoder(**cfg["rvq_depth_decoder"]),
                "condition_encoder": MiniMaxMusic3ConditionEncoder(**cfg["condition_encoder"]),
                "transformer": MiniMaxMusic3Transformer1DModel(**cfg["transformer"]),
                "vocoder": MiniMaxMusic3Vocoder(**cfg["vocoder"]),
            }
    finally:
        torch.set_default_dtype(previous)
    if arch is None:  # the random model never ends a song early (module docstring)
        with torch.no_grad():
            parts["language_model"].lm_head.weight[AUDIO_END_TOKEN].zero_()
    pipe: Any = MiniMaxMusic3ModularPipeline()
    pipe.update_components(
        tokenizer=minimax_tokenizer(),
        scheduler=FlowMatchEulerDiscreteScheduler(**cfg["scheduler"]),
        **parts,
    )
    return pipe


def make_tiny_minimax_pipeline(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny random MiniMax Music 3 pipeline at ``path`` (modular diffusers layout,
    with a model card declaring the real checkpoint's licence) and return it."""
    import warnings

    from diffusers.utils import logging as df_logging

    path = Path(path)
    level = df_logging.get_verbosity()
    df_logging.set_verbosity_error()  # "guiders are experimental"
    try:
        with warnings.catch_warnings():  # torch's weight_norm deprecation, in the vocoder
            warnings.simplefilter("ignore", FutureWarning)
            pipe = make_minimax_pipeline(None, seed)
            pipe.save_pretrained(str(path), overwrite_modular_index=True)
    finally:
        df_logging.set_verbosity(level)
    (path / "README.md").write_text(MINIMAX_README)
    return path
