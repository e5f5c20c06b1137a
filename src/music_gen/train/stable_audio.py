"""LoRA fine-tuning of a Stable Audio 3 pipeline's DiT with the pipeline's flow-matching objective.

Every window is encoded once by the pipeline's VAE (``AutoencoderSAME``, padded with silence to
a whole latent frame) into latents ``x0 [1, D, T]``, and its caption once through the
pipeline's own conditioning path, as ``StableAudio3Pipeline.__call__`` forms it: the T5Gemma
text embeddings (``encode_prompt``), the window's duration embedding (``encode_duration``) as the
global condition and appended as one more context token (``prepare_cross_attention``). The
empty caption is encoded the same way: it is what guidance's unconditional branch sees, and
what a caption is replaced by with probability ``text_dropout``.

A training example draws a noise level ``σ = sigmoid(-λ)`` with the log-SNR ``λ`` uniform over
the pipeline's sampling range ``[logsnr_min, logsnr_max] = [-6.2, 2.0]`` and noise ``ε``, forms
``x_σ = (1 - σ) x0 + σ ε`` (``FlowMatchEulerDiscreteScheduler.scale_noise``) and regresses the
DiT's velocity, called at the timestep the pipeline gives it (``σ · num_train_timesteps``), on
``ε - x0`` (mean squared error): the scheduler's step takes ``x̂0 = x_σ - σ v``, which is ``x0``
exactly for that velocity.

LoRA (PEFT) wraps the DiT blocks' attention (``to_qkv``, ``to_q``, ``to_kv``, ``to_out``) and
feed-forward (``ff.proj_in``, ``ff.proj_out``) linears. The adapter is saved in PEFT's layout
(``PeftModel.from_pretrained(pipe.transformer, folder)`` reads it). diffusers 0.42 has no LoRA
loader for ``StableAudio3Pipeline`` (no ``load_lora_weights``), so there is no diffusers LoRA file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..families.adapters import stable_audio_fingerprint
from .config import TrainConfig
from .dataset import Dataset
from .lora import LoraTask

__all__ = [
    "SA3_TARGETS",
    "StableAudioTask",
    "sa3_eval_loss",
    "sa3_examples",
    "sa3_flow_matching_loss",
]

SA3_TARGETS = ("to_qkv", "to_q", "to_kv", "to_out", "ff.proj_in", "ff.proj_out")
#: the log-SNR range of the pipeline's sampling schedule (``StableAudio3Pipeline.__call__``)
LOGSNR_MIN, LOGSNR_MAX = -6.2, 2.0


@dataclass(frozen=True)
class Example:
    """One window's latents and its conditioning, with and without its caption."""

    x0: torch.Tensor  # [1, D, T]
    cond: tuple[torch.Tensor, ...]  # context [1, S + 1, H], its mask [1, S + 1], global [1, G]
    null: tuple[torch.Tensor, ...]  # the same for the empty caption


@torch.no_grad()
def _condition(pipe: Any, caption: str, seconds: float) -> tuple[torch.Tensor, ...]:
    dev = pipe.device
    embeds, mask = pipe.encode_prompt(caption, dev, 1)
    global_states = pipe.encode_duration(seconds, dev, 1, 1)  # [1, G]
    context, context_mask = pipe.prepare_cross_attention(embeds, mask, global_states)
    dtype = pipe.transformer.dtype
    return context.to(dtype), context_mask, global_states.to(dtype)


@torch.no_grad()
def sa3_examples(pipe: Any, dataset: Dataset) -> list[Example]:
    """The latents ``x0 [1, D, T]`` and conditions of every window of ``dataset``."""
    dev, dtype = pipe.device, pipe.transformer.dtype
    hop = int(pipe.vae.downsampling_ratio)
    out = []
    for w in dataset.windows:
        audio = torch.from_numpy(w.audio).to(dev, pipe.vae.dtype)[None]  # [1, C, N]
        seconds = audio.shape[-1] / dataset.sample_rate
        audio = F.pad(audio, (0, -audio.shape[-1] % hop))  # whole latent frames, as the call
        x0 = pipe.vae.encode(audio).latents.to(dtype)  # [1, D, N / hop]
        out.append(Example(x0, _condition(pipe, w.clip.caption, seconds),
                           _condition(pipe, "", seconds)))  # fmt: skip
    return out


def sa3_flow_matching_loss(
    pipe: Any,
    example: Example,
    drop: bool,
    sigma: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """The DiT's velocity error on ``example`` at noise level ``sigma`` (default: drawn, log-SNR
    uniform over the sampling range) with ``noise`` (default: drawn); ``drop``: no caption."""
    x0 = example.x0
    dev, dtype = x0.device, x0.dtype
    context, mask, global_states = example.null if drop else example.cond
    if sigma is None:
        logsnr = LOGSNR_MIN + (LOGSNR_MAX - LOGSNR_MIN) * torch.rand(1)
        sigma = torch.sigmoid(-logsnr)
    sigma = sigma.to(dev, dtype)  # [1]
    if noise is None:
        noise = torch.randn(x0.shape)
    noise = noise.to(dev, dtype)
    xt = (1 - sigma[:, None, None]) * x0 + sigma[:, None, None] * noise
    timestep = sigma * float(pipe.scheduler.config.num_train_timesteps)  # as the call's timesteps
    velocity = pipe.transformer(
        xt, timestep, encoder_hidden_states=context, global_hidden_states=global_states,
        encoder_attention_mask=mask, return_dict=False,
    )[0]  # fmt: skip
    return F.mse_loss(velocity.float(), (noise - x0).float())


@torch.no_grad()
def sa3_eval_loss(pipe: Any, examples: list[Example]) -> float:
    """Mean flow-matching error over ``examples`` at σ = 0.25, 0.5, 0.75, noise from seed 0."""
    g = torch.Generator().manual_seed(0)
    losses = []
    for ex in examples:
        for s in (0.25, 0.5, 0.75):
            noise = torch.randn(ex.x0.shape, generator=g)
            losses.append(float(sa3_flow_matching_loss(pipe, ex, False, torch.tensor([s]), noise)))
    return sum(losses) / len(losses)


class StableAudioTask(LoraTask):
    """``TrainTask`` of one Stable Audio 3 pipeline and one dataset."""

    def __init__(self, pipe: Any, dataset: Dataset, config: TrainConfig, model_name: str):
        self.pipe, self.dataset, self.config, self.model_name = pipe, dataset, config, model_name
        self.fingerprint = stable_audio_fingerprint(pipe)
        for part in ("vae", "text_encoder", "duration_embedder", "transformer"):
            getattr(pipe, part).requires_grad_(False).eval()
        self.examples = sa3_examples(pipe, dataset)
        self.num_examples = len(self.examples)
        self.attach_lora(
            pipe.transformer, config, SA3_TARGETS, model_name, "the Stable Audio 3 DiT"
        )
        pipe.transformer.train()

    def loss(self, examples: list[int]) -> tuple[torch.Tensor, dict[str, Any]]:
        drops = (torch.rand(len(examples)) < self.config.text_dropout).tolist()
        losses = [
            sa3_flow_matching_loss(self.pipe, self.examples[i], drop)
            for i, drop in zip(examples, drops, strict=True)
        ]
        return torch.stack(losses).mean(), {}

    def info(self) -> dict[str, Any]:
        return {
            "family": "diffusers_audio",
            "pipeline": type(self.pipe).__name__,
            "base_model": self.model_name,
            "base": self.fingerprint,
            "dataset": self.dataset.summary(),
        }
