"""Tiny random MusicGen checkpoints, built offline, in the Hugging Face hub format.

No machine that runs our tests can reach a model hub, so the tests (and anyone who wants to try
the pipeline without weights) build checkpoints here: the real architectures
(T5 text encoder, EnCodec 32 kHz audio codec, MusicGen decoder; melody and stereo variants) at a
toy size with random weights, saved with ``save_pretrained`` next to a tokenizer and a
preprocessor config, exactly as ``facebook/musicgen-*`` repos are laid out. Loading them goes
through the same public path a user takes: ``MusicGenerator(model=<dir>)``.

What is real: every config field, file name and tensor layout; the codec's frame rate
(32 kHz / 640 = 50 frames/s), 4 codebooks of 2048 entries (8 for stereo), the pad/bos token 2048.
What is not: the weights (random; the audio is noise-like) and the vocabulary (a small Unigram
model trained on a few words so that no sentencepiece file is needed).

EnCodec codebooks initialise to zero; a codec whose codebooks are all zero decodes every token
sequence to the same audio, so they are randomised here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import torch

__all__ = [
    "ARCHITECTURES",
    "VARIANTS",
    "build_tokenizer",
    "make_checkpoint",
    "make_tiny_checkpoint",
]

Variant = Literal["mono", "stereo", "melody", "stereo-melody"]
VARIANTS: tuple[Variant, ...] = ("mono", "stereo", "melody", "stereo-melody")

_CORPUS = [
    "calm piano melody with soft strings",
    "upbeat jazz piano with walking bass and swing drums",
    "lofi hip hop beat with vinyl crackle",
    "epic orchestral soundtrack with choir and brass",
    "electronic dance music with heavy synth bass",
    "acoustic guitar folk song in a minor key",
    "ambient pad drone, slow and dreamy",
    "rock band with distorted guitars and loud drums",
    "80s pop track with bassy drums and synth",
    "sad violin solo, 90 bpm, rainy mood",
]

# the MusicGen melody feature extractor's preprocessor_config.json, as the hub repos ship it
_MELODY_PREPROCESSOR = {
    "chunk_length": 30,
    "feature_extractor_type": "MusicgenMelodyFeatureExtractor",
    "feature_size": 12,
    "hop_length": 4096,
    "n_fft": 16384,
    "num_chroma": 12,
    "padding_side": "right",
    "padding_value": 0.0,
    "processor_class": "MusicgenMelodyProcessor",
    "return_attention_mask": True,
    "sampling_rate": 32000,
    "stem_indices": [3, 2],
}


def build_tokenizer(vocab_size: int = 120):  # -> T5Tokenizer
    """A T5 tokenizer whose Unigram vocabulary is trained here, on a few prompts, in memory."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import T5Tokenizer

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "</s>", "<unk>"],
        unk_token="<unk>",
        shrinking_factor=0.9,
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    vocab = json.loads(tok.to_str())["model"]["vocab"]
    return T5Tokenizer(vocab=[(piece, float(score)) for piece, score in vocab], extra_ids=0)


#: The published decoders' sizes (hidden, layers, heads, ffn); all use T5-base and EnCodec 32 kHz.
ARCHITECTURES: dict[str, tuple[int, int, int, int]] = {
    "small": (1024, 24, 16, 4096),
    "medium": (1536, 48, 24, 6144),
    "large": (2048, 48, 32, 8192),
}


def _real_configs(arch: str, variant: Variant, vocab_size: int):  # -> sub-configs
    """T5-base, EnCodec 32 kHz and the decoder of ``arch``, as in the hub's config.json files."""
    from transformers import EncodecConfig, T5Config

    hidden, layers, heads, ffn = ARCHITECTURES[arch]
    stereo = variant.startswith("stereo")
    text = T5Config(  # type: ignore[call-arg]
        vocab_size=max(vocab_size, 32128), d_model=768, d_kv=64, d_ff=3072, num_layers=12,
        num_heads=12, relative_attention_num_buckets=32, dropout_rate=0.1,
        feed_forward_proj="relu", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )  # fmt: skip
    audio = EncodecConfig(
        target_bandwidths=[2.2], sampling_rate=32000, audio_channels=1, normalize=False,
        chunk_length_s=None, overlap=None, hidden_size=128, num_filters=64,
        num_residual_layers=1, upsampling_ratios=[8, 5, 4, 4], codebook_size=2048,
        codebook_dim=128, num_lstm_layers=2, use_causal_conv=False, use_conv_shortcut=False,
        norm_type="weight_norm", pad_mode="reflect", compress=2, kernel_size=7,
        last_kernel_size=7, residual_kernel_size=3, dilation_growth_rate=2,
        trim_right_ratio=1.0,
    )  # fmt: skip
    decoder = dict(
        vocab_size=2048, max_position_embeddings=2048, num_hidden_layers=layers, ffn_dim=ffn,
        num_attention_heads=heads, hidden_size=hidden, dropout=0.1, activation_function="gelu",
        num_codebooks=8 if stereo else 4, audio_channels=2 if stereo else 1,
        pad_token_id=2048, bos_token_id=2048,
    )  # fmt: skip
    return text, audio, decoder


def _configs(variant: Variant, vocab_size: int, seed_hidden: int = 32):  # -> sub-configs
    from transformers import EncodecConfig, T5Config

    stereo = variant.startswith("stereo")
    text = T5Config(  # type: ignore[call-arg]
        vocab_size=vocab_size,
        d_model=24,  # narrower than the decoder, so enc_to_dec_proj is exercised as in real ones
        d_kv=6,
        d_ff=48,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        dropout_rate=0.0,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    audio = EncodecConfig(
        target_bandwidths=[2.2],
        sampling_rate=32000,
        audio_channels=1,  # MusicGen stereo encodes/decodes left and right separately
        normalize=False,
        chunk_length_s=None,
        overlap=None,
        hidden_size=16,
        num_filters=4,
        num_residual_layers=1,
        upsampling_ratios=[8, 5, 4, 4],
        codebook_size=2048,
        codebook_dim=16,
        num_lstm_layers=1,
        use_causal_conv=False,
    )
    decoder = dict(
        vocab_size=2048,
        max_position_embeddings=4096,
        num_hidden_layers=2,
        ffn_dim=64,
        num_attention_heads=4,
        hidden_size=seed_hidden,
        dropout=0.0,
        num_codebooks=8 if stereo else 4,
        audio_channels=2 if stereo else 1,
        pad_token_id=2048,
        bos_token_id=2048,
    )
    return text, audio, decoder


def make_tiny_checkpoint(
    path: str | Path, variant: Variant = "mono", *, seed: int = 0, hidden_size: int = 32
) -> Path:
    """Build a tiny random MusicGen checkpoint of ``variant`` and save it at ``path``."""
    return make_checkpoint(path, variant, seed=seed, hidden_size=hidden_size)


def make_checkpoint(
    path: str | Path,
    variant: Variant = "mono",
    *,
    arch: str = "tiny",
    seed: int = 0,
    hidden_size: int = 32,
) -> Path:
    """Build a random MusicGen checkpoint (``arch``: tiny, or a real size) and save it.

    ``arch="small"|"medium"|"large"`` gives the published architectures with random weights
    (for benchmarks: speed does not depend on weight values). The directory gets
    ``config.json``, ``model.safetensors``, ``generation_config.json``, the tokenizer files and
    ``preprocessor_config.json``: what ``from_pretrained`` reads from a hub snapshot. Returns
    the directory.
    """
    from transformers import (
        EncodecFeatureExtractor,
        GenerationConfig,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        MusicgenMelodyConfig,
        MusicgenMelodyDecoderConfig,
        MusicgenMelodyForConditionalGeneration,
        MusicgenProcessor,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # toy token ids and save progress bars are not news here
    hf_logging.disable_progress_bar()
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}")
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    if arch == "tiny":
        text, audio, decoder_kwargs = _configs(variant, len(tokenizer), hidden_size)
    elif arch in ARCHITECTURES:
        text, audio, decoder_kwargs = _real_configs(arch, variant, len(tokenizer))
    else:
        raise ValueError(f"unknown arch {arch!r}; choose tiny or one of {list(ARCHITECTURES)}")

    devnull_rng = torch.random.fork_rng()
    with devnull_rng:
        torch.manual_seed(seed)
        model: MusicgenForConditionalGeneration | MusicgenMelodyForConditionalGeneration
        if "melody" in variant:
            melody_config = MusicgenMelodyConfig(
                text_encoder=text.to_dict(),
                audio_encoder=audio.to_dict(),
                decoder=MusicgenMelodyDecoderConfig(**decoder_kwargs).to_dict(),
                num_chroma=12,
                # real checkpoints: 235 (30 s); short keeps the tiny model's text audible
                chroma_length=24 if arch == "tiny" else 235,
            )
            model = MusicgenMelodyForConditionalGeneration(melody_config)
        else:
            config = MusicgenConfig(
                text_encoder=text.to_dict(),
                audio_encoder=audio.to_dict(),
                decoder=MusicgenDecoderConfig(**decoder_kwargs).to_dict(),
            )
            model = MusicgenForConditionalGeneration(config)
        _randomise_codec(model)
        if arch == "tiny":
            _amplify_conditioning(model)
        # the real checkpoints' generation defaults
        model.generation_config = GenerationConfig(
            decoder_start_token_id=2048,
            pad_token_id=2048,
            bos_token_id=2048,
            do_sample=True,
            guidance_scale=3.0,
            max_length=1500,
            top_k=250,
        )
    model.eval()
    model.save_pretrained(out)
    if "melody" in variant:
        tokenizer.save_pretrained(out)
        (out / "preprocessor_config.json").write_text(json.dumps(_MELODY_PREPROCESSOR, indent=2))
    else:
        feature_extractor = EncodecFeatureExtractor(
            feature_size=1, sampling_rate=32000, padding_value=0.0
        )
        MusicgenProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(
            out
        )
    return out


@torch.no_grad()
def _amplify_conditioning(model: torch.nn.Module) -> None:
    """Scale up the toy model's condition projections (initialised at std 0.02) so that the
    prompt and the melody move its greedy choices, as they do in trained checkpoints."""
    for name in ("enc_to_dec_proj", "audio_enc_to_dec_proj"):
        proj = getattr(model, name, None)
        if proj is not None:
            proj.weight.normal_(0.0, 1.0)


@torch.no_grad()
def _randomise_codec(model: torch.nn.Module) -> None:
    """Give the EnCodec quantizer random codebooks (they initialise to zero).

    The codebooks get a large spread and the codec decoder's biases are zeroed, so that the
    decoded audio is driven by the tokens rather than by a fixed bias pattern: different tokens
    must give audibly (and measurably) different audio for the tests to mean anything.
    """
    codec = model.audio_encoder
    for name, param in codec.decoder.named_parameters():  # type: ignore[union-attr]
        if name.endswith("bias"):
            param.zero_()
    for layer in codec.quantizer.layers:  # type: ignore[union-attr]
        codebook = layer.codebook
        codebook.embed.normal_(0.0, 30.0)
        codebook.embed_avg.copy_(codebook.embed)
        codebook.cluster_size.fill_(1.0)
        codebook.inited.fill_(True)
