"""The Stable Audio family: text-to-audio through diffusers' ``StableAudioPipeline``.

What it knows: how to load a pipeline in the diffusers layout (``model_index.json`` with
``_class_name`` ``StableAudioPipeline``, e.g. ``stabilityai/stable-audio-open-1.0``: 44.1 kHz
stereo, up to 47.55 s), its card from the configs alone (sample rate and channels from the VAE,
the longest clip from the transformer's ``sample_size`` × the VAE's hop), and ``generate`` /
``generate_batch`` of instrumental audio of an exact length, with a seed per output. Its
capabilities: text, stereo (two-channel VAEs), batch and loop (``generate(loop=True, ...)``).
Lyrics, melody and the like are capabilities it does not declare. It registers like every
family (``families.registry``): it claims ``model_index.json``'s ``StableAudioPipeline``.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..audio import AudioOutput
from ..params import Request
from ._diffusers import load_pipeline
from .base import Cancelled, Capability, CheckpointFiles, ModelCard, MusicFamily, Progress

if TYPE_CHECKING:  # torch and diffusers load with a pipeline, not with this module
    import torch

__all__ = ["STABLE_AUDIO_CLASS", "StableAudioFamily", "stable_audio_card"]

STABLE_AUDIO_CLASS = "StableAudioPipeline"
DEFAULT_STEPS = 100  # the pipeline's own default
DEFAULT_GUIDANCE = 7.0


def _capabilities(channels: int) -> frozenset[Capability]:
    caps = {Capability.TEXT, Capability.BATCH, Capability.LOOP}
    if channels == 2:
        caps.add(Capability.STEREO)
    return frozenset(caps)


def stable_audio_card(name: str, path: Path, max_duration: float | None = None) -> ModelCard:
    """The card of a pipeline directory, read from its configs (no weights)."""

    def config(part: str) -> dict[str, Any]:
        file = path / part / "config.json"
        return json.loads(file.read_text()) if file.is_file() else {}

    vae, dit = config("vae"), config("transformer")
    rate = int(vae.get("sampling_rate", 44100))
    channels = int(vae.get("audio_channels", 2))
    hop = int(np.prod(vae.get("downsampling_ratios", [2, 4, 4, 8, 8])))
    longest = int(dit.get("sample_size", 1024)) * hop / rate
    limit = longest if max_duration is None else min(float(max_duration), longest)
    return ModelCard(name, "stable_audio", _capabilities(channels), rate, channels, limit)


def _load_pipeline(model: str, dtype: torch.dtype, cache_dir: str | Path | None) -> Any:
    return load_pipeline("StableAudioPipeline", "Stable Audio", model, dtype, cache_dir)


class StableAudioFamily(MusicFamily):
    """Instrumental audio and sound from a Stable Audio pipeline. It takes the ``song`` part's
    ``steps`` and ``guidance_scale`` (lyrics and the rest are refused by capability) and the
    ``sampling`` part a service job carries for every model (validated, not applied: a
    diffusion model is not sampled token by token)."""

    name = "stable_audio"
    class_names = (STABLE_AUDIO_CLASS,)
    packages = ("torch", "diffusers", "transformers", "torchsde")
    parts = ("sampling", "song")

    @classmethod
    def inspect(cls, files: CheckpointFiles) -> ModelCard:
        assert files.path is not None
        return stable_audio_card(files.model, files.path)

    def __init__(
        self,
        model: str,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype | None = None,
        cache_dir: str | Path | None = None,
        *,
        max_duration: float | None = None,
    ) -> None:
        from ..engine.loading import resolve_device, resolve_dtype

        started = time.perf_counter()
        dev = resolve_device(device)
        self.pipe = _load_pipeline(model, resolve_dtype(dtype, dev), cache_dir).to(dev)
        self.pipe.set_progress_bar_config(disable=True)
        self._device = self.pipe.device
        self.model_name = model
        vae, dit = self.pipe.vae, self.pipe.transformer
        longest = int(dit.config.sample_size) * int(vae.hop_length) / int(vae.sampling_rate)
        limit = longest if max_duration is None else min(float(max_duration), longest)
        channels = int(vae.config.audio_channels)
        self.card = ModelCard(
            model, "stable_audio", _capabilities(channels), int(vae.sampling_rate), channels, limit
        )
        self.load_seconds = time.perf_counter() - started

    @property
    def device(self) -> torch.device:
        return self._device

    def __repr__(self) -> str:
        return (
            f"MusicGenerator(model={self.model_name!r}, family='stable_audio', "
            f"device={self.device})"
        )

    def _generate(
        self, request: Request, progress: Progress | None, cancelled: Cancelled | None
    ) -> list[AudioOutput]:
        """``duration`` seconds (exactly) of audio per prompt, each from its own seed."""
        import torch

        song = request.song
        steps = DEFAULT_STEPS if song is None or song.steps is None else song.steps
        guidance = DEFAULT_GUIDANCE
        if song is not None and song.guidance_scale is not None:
            guidance = song.guidance_scale
        assert request.duration is not None  # checked: the default filled in
        duration = request.duration
        texts = list(request.prompts)
        seeds = request.seeds()
        generators = [torch.Generator(self.device).manual_seed(s) for s in seeds]
        started = time.perf_counter()

        def on_step(step: int, *_: Any) -> None:
            if progress is not None:
                progress(step + 1, steps)

        with warnings.catch_warnings():  # torchsde's Brownian interval rounding notes
            warnings.filterwarnings("ignore", category=UserWarning, module="torchsde")
            result = self.pipe(
                prompt=texts,
                audio_end_in_s=duration,
                num_inference_steps=steps,
                guidance_scale=guidance,
                generator=generators,
                callback=on_step,
            )
        length = round(duration * self.sample_rate)
        audios = result.audios[..., :length].float().cpu().numpy()  # [B, C, N]
        if audios.shape[-1] < length:
            audios = np.pad(audios, ((0, 0), (0, 0), (0, length - audios.shape[-1])))
        total = time.perf_counter() - started
        return [
            AudioOutput(
                audio,
                self.sample_rate,
                {
                    "model": self.model_name,
                    "family": "stable_audio",
                    "prompt": text,
                    "seed": s,
                    "duration": duration,
                    "steps": steps,
                    "guidance_scale": guidance,
                    "batch_index": i,
                    "timings": {"total_s": total},
                    "real_time_factor": total / duration,
                },
            )
            for i, (audio, text, s) in enumerate(zip(audios, texts, seeds, strict=True))
        ]
