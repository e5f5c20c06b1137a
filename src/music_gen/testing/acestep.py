"""Tiny random ACE-Step 1.5 pipelines, built offline, in the diffusers layout.

``make_tiny_song_pipeline(path)`` saves an ``AceStepPipeline`` with the real component classes
(``AceStepTransformer1DModel``, ``AceStepConditionEncoder``, a ``Qwen3Model`` text encoder,
``AutoencoderOobleck``, the audio tokenizer/detokenizer that cover needs, the flow-matching
scheduler) and a BPE tokenizer trained here with ``tokenizers``, exactly as a hub repo lays them
out; ``MusicGenerator(model=path)`` loads it through the user's path.

What is real: the file layout, every config field, the VAE's hop (1920 samples at 48 kHz = 25
latent frames a second, downsampling ratios 2, 4, 4, 6, 10), stereo, the turbo flag. What is
not: the sizes (a few channels), the weights (random), the vocabulary (a few hundred merges).
Keeping the real hop matters: with a hop of 2 the transformer would see 24,000 frames a second.

``acestep_configs("turbo")`` gives the real architecture's configs (random weights, for speed
measurements; see benchmarks/bench_songs.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

__all__ = [
    "ACESTEP_ARCHITECTURES",
    "acestep_configs",
    "make_song_pipeline",
    "make_tiny_song_pipeline",
]

_LYRICS = [
    "[verse]\nwalking down the empty street\nneon lights beneath my feet",
    "[chorus]\nsing it loud sing it high\nwe are dancing in the sky",
    "[bridge]\nhold me close and never let go",
    "# Languages\nen\n\n# Lyric\n",
    "# Instruction\nFill the audio semantic mask based on the given conditions:",
    "# Caption\nupbeat pop song with bright vocals\n\n# Metas\n- bpm: 120\n- keyscale: C major",
    "- timesignature: 4\n- duration: 30 seconds",
]

#: the released architectures' sizes. "turbo": ACE-Step 1.5 turbo as diffusers' defaults give it
#: (DiT 2048 x 24 layers; Qwen3-Embedding-0.6B text encoder; Oobleck VAE 128/64 channels).
#: "xl-turbo": the XL DiT (2560 wide, fed by a 2048-wide condition encoder, as diffusers'
#: AceStepTransformer1DModel documents it), 32 layers, 20 heads of 128 (10 key/value heads) —
#: layer and head counts are our assumption (no hub access here to read its config).
ACESTEP_ARCHITECTURES: dict[str, dict[str, int]] = {
    "turbo": {
        "hidden": 2048,
        "encoder_hidden": 2048,
        "layers": 24,
        "heads": 16,
        "kv": 8,
        "ffn": 6144,
    },
    "xl-turbo": {
        "hidden": 2560,
        "encoder_hidden": 2048,
        "layers": 32,
        "heads": 20,
        "kv": 10,
        "ffn": 9728,
    },
}


def _tokenizer(vocab_size: int = 400) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from .musicgen import _CORPUS

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>", "<pad>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS + _LYRICS, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<pad>", unk_token="<unk>"
    )


def acestep_configs(arch: str | None = None, vocab_size: int = 400) -> dict[str, dict[str, Any]]:
    """Constructor arguments of each component: tiny (``arch=None``) or a real architecture."""
    acoustic = 64 if arch else 8
    if arch is None:
        hidden, enc_hidden, layers, heads, ffn, head_dim, kv = 32, 32, 2, 2, 64, 16, 1
        text = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                "num_key_value_heads": 1, "head_dim": 16, "intermediate_size": 64}  # fmt: skip
        vae = {"encoder_hidden_size": 2 * acoustic, "decoder_channels": 8,
               "channel_multiples": [1, 1, 1, 1, 1]}  # fmt: skip
        cond_layers = (1, 1)
    else:
        a = ACESTEP_ARCHITECTURES[arch]
        hidden, enc_hidden, layers, heads, ffn = (
            a["hidden"], a["encoder_hidden"], a["layers"], a["heads"], a["ffn"],
        )  # fmt: skip
        head_dim, kv, vocab_size = 128, a["kv"], 151669
        text = {"hidden_size": 1024, "num_hidden_layers": 28, "num_attention_heads": 16,
                "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 3072}  # fmt: skip
        vae = {"encoder_hidden_size": 128, "decoder_channels": 128,
               "channel_multiples": [1, 2, 4, 8, 16]}  # fmt: skip
        cond_layers = (8, 4)
    attn = {"num_attention_heads": heads, "num_key_value_heads": kv, "head_dim": head_dim}
    enc_heads = enc_hidden // head_dim
    enc_attn = {
        **attn,
        "num_attention_heads": enc_heads,
        "num_key_value_heads": min(kv, enc_heads // 2) if arch else kv,
    }
    return {
        "text_encoder": {"vocab_size": vocab_size, "max_position_embeddings": 4096, **text},
        "condition_encoder": {
            "hidden_size": enc_hidden,
            "intermediate_size": ffn if arch is None else 6144,
            "text_hidden_dim": text["hidden_size"],
            "timbre_hidden_dim": acoustic,
            "num_lyric_encoder_hidden_layers": cond_layers[0],
            "num_timbre_encoder_hidden_layers": cond_layers[1],
            **enc_attn,
        },
        "transformer": {
            "hidden_size": hidden,
            "intermediate_size": ffn,
            "num_hidden_layers": layers,
            "in_channels": 3 * acoustic,
            "audio_acoustic_hidden_dim": acoustic,
            "patch_size": 2,
            "encoder_hidden_size": enc_hidden,
            "is_turbo": True,
            "model_version": "turbo",
            **attn,
        },
        "vae": {
            "downsampling_ratios": [2, 4, 4, 6, 10],
            "decoder_input_channels": acoustic,
            "audio_channels": 2,
            "sampling_rate": 48000,
            **vae,
        },
        "audio_tokenizer": {
            "hidden_size": enc_hidden,
            "intermediate_size": 2 * enc_hidden,
            "audio_acoustic_hidden_dim": acoustic,
            "pool_window_size": 5,
            "fsq_dim": enc_hidden,
            "fsq_input_levels": [8, 5, 5] if arch is None else [8, 8, 8, 5, 5, 5],
            "num_attention_pooler_hidden_layers": 1 if arch is None else 2,
            **enc_attn,
        },
        "audio_token_detokenizer": {
            "hidden_size": enc_hidden,
            "intermediate_size": 2 * enc_hidden,
            "audio_acoustic_hidden_dim": acoustic,
            "pool_window_size": 5,
            "num_attention_pooler_hidden_layers": 1 if arch is None else 2,
            **enc_attn,
        },
    }


def make_song_pipeline(arch: str | None = None, seed: int = 0, dtype: torch.dtype = torch.float32):
    """An ``AceStepPipeline`` in memory with random weights (tiny, or a real architecture)."""
    from diffusers import (
        AceStepConditionEncoder,
        AceStepPipeline,
        AceStepTransformer1DModel,
        AutoencoderOobleck,
        FlowMatchEulerDiscreteScheduler,
    )
    from diffusers.pipelines.ace_step.modeling_ace_step import (
        AceStepAudioTokenDetokenizer,
        AceStepAudioTokenizer,
    )
    from transformers import Qwen3Config, Qwen3Model

    torch.manual_seed(seed)
    tokenizer = _tokenizer()
    cfg = acestep_configs(arch, len(tokenizer) if arch is None else 151669)
    with torch.device("cpu"):
        parts = {
            "vae": AutoencoderOobleck(**cfg["vae"]),
            "text_encoder": Qwen3Model(Qwen3Config(**cfg["text_encoder"])),
            "tokenizer": tokenizer,
            "transformer": AceStepTransformer1DModel(**cfg["transformer"]),
            "condition_encoder": AceStepConditionEncoder(**cfg["condition_encoder"]),
            "scheduler": FlowMatchEulerDiscreteScheduler(num_train_timesteps=1, shift=1.0),
            "audio_tokenizer": AceStepAudioTokenizer(**cfg["audio_tokenizer"]),
            "audio_token_detokenizer": AceStepAudioTokenDetokenizer(
                **cfg["audio_token_detokenizer"]
            ),
        }
    pipe = AceStepPipeline(**parts)
    return pipe if dtype == torch.float32 else pipe.to(dtype=dtype)  # type: ignore[attr-defined]


def make_tiny_song_pipeline(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny random ACE-Step pipeline at ``path`` (diffusers layout) and return it."""
    path = Path(path)
    make_song_pipeline(None, seed).save_pretrained(path)
    return path
