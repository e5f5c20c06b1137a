"""LoRA fine-tuning of a MusicGen decoder on a dataset (audiocraft's objective).

Every window is encoded once by the checkpoint's own EnCodec into codes ``[K, T]``. A training
example lays them out on the delay pattern (``engine.patterns.DelayPattern``: one bos column,
codebook k shifted by its delay, pad elsewhere); the decoder reads the grid without its last
column and predicts it without its first (teacher forcing). The loss is audiocraft's: the cross
entropy of each codebook over the positions that hold one of its frames, averaged over the
codebooks. The caption conditions the decoder through T5 and cross-attention; with probability
``text_dropout`` it is replaced by the null condition (zeroed text states and mask, exactly what
guidance feeds the unconditional half at inference).

LoRA (PEFT) wraps the decoder's attention and feed-forward linears; everything else is frozen.
The adapter is saved with ``PeftModel.save_pretrained`` on the decoder, so
``PeftModel.from_pretrained(model.decoder, folder)`` loads it in plain transformers.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..engine.codec import encode_audio
from ..engine.loading import LoadedModel
from ..engine.patterns import DelayPattern
from ..errors import UnsupportedFeature
from ..families.adapters import musicgen_fingerprint
from .config import MUSICGEN_TARGETS, TrainConfig
from .dataset import Dataset
from .lora import LoraTask

__all__ = ["MusicGenTask", "codes_for", "musicgen_loss"]


@torch.no_grad()
def codes_for(loaded: LoadedModel, dataset: Dataset) -> list[torch.Tensor]:
    """EnCodec codes ``[K, T]`` of every window of ``dataset``."""
    codec = loaded.model.audio_encoder
    out = []
    for w in dataset.windows:
        wav = torch.from_numpy(w.audio).to(loaded.device, loaded.dtype)[None]  # [1, C, N]
        out.append(encode_audio(codec, wav, loaded.audio_channels)[0].cpu())  # [K, T]
    return out


def musicgen_loss(
    loaded: LoadedModel,
    codes: list[torch.Tensor],
    captions: list[str],
    drop: torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[float]]:
    """Mean over codebooks of the cross entropy of ``codes`` given ``captions`` (one per item).

    ``drop[i]`` replaces caption i by the null condition. Items are cut to the shortest one.
    Returns the loss and the per-codebook losses.
    """
    model, dev = loaded.model, loaded.device
    frames = min(c.shape[-1] for c in codes)
    batch = torch.stack([c[:, :frames] for c in codes]).to(dev)  # [B, K, T]
    k = batch.shape[1]
    pattern = DelayPattern(k, loaded.audio_channels, int(model.config.decoder.pad_token_id))
    grid = pattern.build(batch, frames)  # [B, K, 1 + T + D]
    inputs, targets = grid[:, :, :-1], grid[:, :, 1:]  # [B, K, L]
    valid = torch.zeros_like(targets, dtype=torch.bool)
    for cb, delay in enumerate(pattern.delays):
        valid[:, cb, delay : delay + frames] = True
    text = loaded.tokenizer(captions, return_tensors="pt", padding=True)
    ids, mask = text["input_ids"].to(dev), text["attention_mask"].to(dev)
    with torch.no_grad():
        states = model.text_encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    if drop is not None:
        mask = mask * (~drop.to(dev))[:, None].long()
    out = model(
        encoder_outputs=(states,),
        attention_mask=mask,
        decoder_input_ids=inputs.reshape(-1, inputs.shape[-1]),  # [B * K, L]
    )
    logits = out.logits.view(*inputs.shape, -1).float()  # [B, K, L, V]
    per_codebook = []
    for cb in range(k):
        sel = valid[:, cb]
        per_codebook.append(F.cross_entropy(logits[:, cb][sel], targets[:, cb][sel]))
    losses = torch.stack(per_codebook)
    return losses.mean(), [float(v) for v in losses.detach()]


class MusicGenTask(LoraTask):
    """``TrainTask`` of one MusicGen checkpoint and one dataset."""

    def __init__(
        self, loaded: LoadedModel, dataset: Dataset, config: TrainConfig, model_name: str
    ) -> None:
        if loaded.melody:
            raise UnsupportedFeature(
                "fine-tuning melody checkpoints is not supported yet; use a text-only MusicGen",
                details={"model": model_name},
            )
        self.loaded, self.dataset, self.config = loaded, dataset, config
        self.model_name = model_name
        self.fingerprint = musicgen_fingerprint(loaded.model)
        self.codes = codes_for(loaded, dataset)
        self.captions = [w.clip.caption for w in dataset.windows]
        self.num_examples = len(self.codes)
        model = loaded.model
        model.requires_grad_(False)
        self.attach_lora(
            model.decoder, config, MUSICGEN_TARGETS, model_name, "the MusicGen decoder"
        )
        model.text_encoder.eval()
        model.audio_encoder.eval()
        model.decoder.train()
        # LoRA weights train in float32 (PEFT keeps adapters in fp32 over bf16 bases)

    def loss(self, examples: list[int]) -> tuple[torch.Tensor, dict[str, Any]]:
        drop = torch.rand(len(examples)) < self.config.text_dropout
        loss, per_cb = musicgen_loss(
            self.loaded, [self.codes[i] for i in examples], [self.captions[i] for i in examples],
            drop,
        )  # fmt: skip
        return loss, {"codebook_losses": per_cb}

    def info(self) -> dict[str, Any]:
        return {
            "family": "musicgen",
            "base_model": self.model_name,
            "base": self.fingerprint,
            "dataset": self.dataset.summary(),
        }
