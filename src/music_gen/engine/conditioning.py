"""What the decoder is conditioned on: the encoded prompt, the melody, and the null condition.

Classifier-free guidance runs the decoder on a doubled batch: the conditional rows first, then
the same rows with the *null condition* (no text, no melody). This module builds both halves,
as transformers' MusicGen does, so that our decoding matches its ``generate`` exactly:

- text (``musicgen``): T5 hidden states ``[B, S, D]`` with their mask; the null text is zeros
  with an all-zero mask. The decoder cross-attends to them.
- text + melody (``musicgen_melody``): a *prefix* the decoder self-attends to:
  ``[chroma projected to the decoder width (chroma_length frames), text projected]``; the null
  melody is a chroma one-hot on pitch class 0 (what MusicGen-melody was trained with), the null
  text zeros.

It does not tokenize, resample or compute chroma (see ``music_gen.audio.chroma``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["Condition", "encode_condition", "null_chroma"]


@dataclass
class Condition:
    """Encoded conditioning for one decoder pass, already doubled when guidance is on.

    ``hidden``: ``[B or 2B, S, D]`` text states (``musicgen``) or the decoder prefix
    (``musicgen_melody``); ``mask``: ``[B or 2B, S]`` (1 = attend); ``guided``: doubled or not.
    ``padded``: some row's text is shorter than ``S`` (the prefix then needs masking).
    """

    hidden: torch.Tensor
    mask: torch.Tensor
    guided: bool
    padded: bool


def null_chroma(batch: int, frames: int, n_chroma: int, device, dtype) -> torch.Tensor:
    """The melody model's "no melody" input: one-hot pitch class 0 in every frame."""
    chroma = torch.zeros((batch, frames, n_chroma), device=device, dtype=dtype)
    chroma[:, :, 0] = 1
    return chroma


@torch.no_grad()
def encode_condition(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    guided: bool,
    chroma: torch.Tensor | None = None,
) -> Condition:
    """Encode ``input_ids [B, S]`` (and, for melody models, ``chroma [B, F, 12]``)."""
    text_states = model.text_encoder(
        input_ids=input_ids, attention_mask=attention_mask
    ).last_hidden_state  # [B, S, Dt]
    padded = bool((attention_mask == 0).any())
    if model.config.model_type != "musicgen_melody":
        if guided:
            text_states = torch.cat([text_states, torch.zeros_like(text_states)], dim=0)
            attention_mask = torch.cat([attention_mask, torch.zeros_like(attention_mask)], dim=0)
        return Condition(text_states, attention_mask, guided, padded)
    return _melody_prefix(model, text_states, attention_mask, chroma, guided, padded)


def _melody_prefix(
    model,
    text_states: torch.Tensor,
    attention_mask: torch.Tensor,
    chroma: torch.Tensor | None,
    guided: bool,
    padded: bool,
) -> Condition:
    config = model.config
    if config.text_encoder.hidden_size != config.decoder.hidden_size:
        text_states = model.enc_to_dec_proj(text_states)
    text_mask = attention_mask
    batch = text_states.shape[0]
    null = null_chroma(
        batch,
        1 if chroma is None else chroma.shape[1],
        config.num_chroma,
        text_states.device,
        text_states.dtype,
    )
    audio = null if chroma is None else chroma.to(text_states.dtype)
    if guided:
        text_states = torch.cat([text_states, torch.zeros_like(text_states)], dim=0)
        attention_mask = torch.cat([attention_mask, torch.zeros_like(attention_mask)], dim=0)
        audio = torch.cat([audio, null], dim=0)
        text_mask = torch.cat([text_mask, text_mask], dim=0)
    text_states = text_states * attention_mask[..., None]
    if config.num_chroma != config.decoder.hidden_size:
        audio = model.audio_enc_to_dec_proj(audio)
    if audio.shape[1] < config.chroma_length:  # repeat a short melody to the chroma length
        audio = audio.repeat(1, math.ceil(config.chroma_length / audio.shape[1]), 1)
    audio = audio[:, : config.chroma_length]
    prefix = torch.cat([audio, text_states], dim=1)  # [B, chroma_length + S, D]
    # padded text positions are masked out of the prefix (transformers attends to them as
    # zeros); with no padding the mask is all ones and unused, so single prompts match it exactly
    prefix_mask = torch.cat(
        [torch.ones_like(text_mask[:, :1]).expand(-1, audio.shape[1]), text_mask], dim=1
    )
    return Condition(prefix, prefix_mask, guided, padded)
