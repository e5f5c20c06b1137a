"""LoRA fine-tuning of an ACE-Step pipeline's DiT with the pipeline's flow-matching objective.

Every window is encoded once by the pipeline's VAE into latents ``x0 [T, D]`` (the posterior's
mode) and its caption, lyrics, BPM and key once through the pipeline's own prompt path
(``encode_prompt`` with the text2music instruction, then the condition encoder with the silence
reference, as ``AceStepPipeline.__call__`` does). A training example draws a time
``t = sigmoid(n)``, ``n ~ N(0, 1)`` (logit-normal) and noise ``ε``, forms
``x_t = t ε + (1 - t) x0`` — the path the pipeline's Euler sampler integrates from ``t = 1``
(noise) to ``t = 0`` — and regresses the DiT's velocity on ``ε - x0`` (mean squared error).
With probability ``text_dropout`` the condition is replaced by the learned
``null_condition_emb`` (what guidance uses at inference). The DiT sees no padding mask, so the
items of a micro-batch are run one by one and their losses averaged.

LoRA (PEFT) wraps the DiT's attention (``to_q``, ``to_k``, ``to_v``, ``to_out.0``) and MLP
(``gate_proj``, ``up_proj``, ``down_proj``) linears. The adapter is saved in PEFT's layout and,
with ``AceStepPipeline.save_lora_weights``, as ``pytorch_lora_weights.safetensors`` (rank and
alpha in its metadata) which ``AceStepPipeline.load_lora_weights`` reads.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..families.adapters import ACESTEP_LORA_FILE, acestep_fingerprint
from .config import TrainConfig
from .dataset import Dataset
from .lora import LoraTask

__all__ = [
    "ACESTEP_TARGETS",
    "AceStepTask",
    "acestep_eval_loss",
    "acestep_examples",
    "flow_matching_loss",
]

ACESTEP_TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "gate_proj", "up_proj", "down_proj")


@torch.no_grad()
def acestep_examples(pipe: Any, dataset: Dataset) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(x0 [1, T, D], condition [1, S, H])`` of every window of ``dataset``."""
    dev, dtype = pipe.device, pipe.transformer.dtype
    instruction = pipe._get_task_instruction(task_type="text2music")
    timbre_frames = math.ceil(30 * pipe.latents_per_second)
    silence = pipe.condition_encoder.silence_latent.to(dev, dtype)
    out = []
    for w in dataset.windows:
        wav = torch.from_numpy(w.audio).to(dev, pipe.vae.dtype)[None]  # [1, C, N]
        x0 = pipe.vae.encode(wav).latent_dist.mode().transpose(1, 2).to(dtype)  # [1, T, D]
        clip = w.clip
        text, text_mask, lyric, lyric_mask = pipe.encode_prompt(
            prompt=[clip.caption], lyrics=[clip.lyrics], device=dev,
            audio_duration=(w.end - w.start) / dataset.sample_rate, instruction=instruction,
            bpm=None if clip.bpm is None else round(clip.bpm), keyscale=clip.key,
        )  # fmt: skip
        cond, _ = pipe.condition_encoder(
            text_hidden_states=text.to(dtype),
            text_attention_mask=text_mask,
            lyric_hidden_states=lyric.to(dtype),
            lyric_attention_mask=lyric_mask,
            refer_audio_acoustic_hidden_states_packed=silence[:, :timbre_frames].contiguous(),
            refer_audio_order_mask=torch.zeros(1, device=dev, dtype=torch.long),
        )
        out.append((x0, cond))
    return out


def flow_matching_loss(
    pipe: Any,
    x0: torch.Tensor,
    cond: torch.Tensor,
    drop: bool,
    t: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """The DiT's velocity error on one example ``x0 [1, T, D]`` at time ``t`` (default: drawn
    logit-normal) with ``noise`` (default: drawn)."""
    dev, dtype = x0.device, x0.dtype
    if drop:
        cond = pipe.condition_encoder.null_condition_emb.to(dev, dtype).expand_as(cond)
    if t is None:
        t = torch.sigmoid(torch.randn(1))
    t = t.to(dev, dtype)  # [1]
    if noise is None:
        noise = torch.randn(x0.shape)
    noise = noise.to(dev, dtype)
    xt = t[:, None, None] * noise + (1 - t[:, None, None]) * x0
    length, dim = x0.shape[1], x0.shape[2]
    silence = pipe.condition_encoder.silence_latent.to(dev, dtype)
    reps = math.ceil(length / silence.shape[1])
    src = silence.repeat(1, reps, 1)[:, :length]  # text2music: silence source, all generated
    context = torch.cat([src, torch.ones(1, length, dim, device=dev, dtype=dtype)], dim=-1)
    velocity = pipe.transformer(
        hidden_states=xt, timestep=t, timestep_r=t, encoder_hidden_states=cond,
        context_latents=context, return_dict=False,
    )[0]  # fmt: skip
    return F.mse_loss(velocity.float(), (noise - x0).float())


@torch.no_grad()
def acestep_eval_loss(pipe: Any, examples: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Mean flow-matching error over ``examples`` at t = 0.25, 0.5, 0.75, noise from seed 0."""
    g = torch.Generator().manual_seed(0)
    losses = []
    for x0, cond in examples:
        for t in (0.25, 0.5, 0.75):
            noise = torch.randn(x0.shape, generator=g)
            losses.append(
                float(flow_matching_loss(pipe, x0, cond, False, torch.tensor([t]), noise))
            )
    return sum(losses) / len(losses)


class AceStepTask(LoraTask):
    """``TrainTask`` of one ACE-Step pipeline and one dataset."""

    def __init__(self, pipe: Any, dataset: Dataset, config: TrainConfig, model_name: str):
        self.pipe, self.dataset, self.config, self.model_name = pipe, dataset, config, model_name
        self.fingerprint = acestep_fingerprint(pipe)
        for part in ("vae", "text_encoder", "condition_encoder", "transformer"):
            getattr(pipe, part).requires_grad_(False).eval()
        self.examples = acestep_examples(pipe, dataset)
        self.num_examples = len(self.examples)
        self.attach_lora(pipe.transformer, config, ACESTEP_TARGETS, model_name, "the ACE-Step DiT")
        pipe.transformer.train()

    def loss(self, examples: list[int]) -> tuple[torch.Tensor, dict[str, Any]]:
        drops = (torch.rand(len(examples)) < self.config.text_dropout).tolist()
        losses = [
            flow_matching_loss(self.pipe, *self.examples[i], drop)
            for i, drop in zip(examples, drops, strict=True)
        ]
        return torch.stack(losses).mean(), {}

    def save_adapter(self, directory: Path) -> None:
        from diffusers import AceStepPipeline
        from peft import get_peft_model_state_dict

        super().save_adapter(directory)  # PEFT's layout, and diffusers' LoRA file beside it
        state = get_peft_model_state_dict(self.peft, save_embedding_layers=False)
        layers = {k.removeprefix("base_model.model."): v for k, v in state.items()}
        AceStepPipeline.save_lora_weights(
            str(directory),
            transformer_lora_layers=layers,
            weight_name=ACESTEP_LORA_FILE,
            transformer_lora_adapter_metadata=self.lora.to_dict(),
        )

    def info(self) -> dict[str, Any]:
        return {
            "family": "acestep",
            "base_model": self.model_name,
            "base": self.fingerprint,
            "dataset": self.dataset.summary(),
        }
