"""The Stable Audio family: text-to-audio through diffusers' ``StableAudioPipeline``.

What it knows: how to load a pipeline in the diffusers layout (``model_index.json`` with
``_class_name`` ``StableAudioPipeline``, e.g. ``stabilityai/stable-audio-open-1.0``: 44.1 kHz
stereo, up to 47.55 s), its card from the configs alone (sample rate and channels from the VAE,
the longest clip from the transformer's ``sample_size`` × the VAE's hop), and ``generate`` /
``generate_batch`` of instrumental audio of an exact length, with a seed per output. Its
capabilities: text, stereo (two-channel VAEs), batch and loop (``generate(loop=True, ...)``).
Lyrics, melody and the like are capabilities it does not declare.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..audio import AudioOutput
from ..engine.generate import Progress
from ..engine.loading import resolve_device, resolve_dtype
from ..errors import InvalidInput, ModelNotAvailable, UnknownModel
from ..params import GenerationParams, resolve_seeds, validate_prompt
from .base import Capability, ModelCard

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
    from diffusers import StableAudioPipeline
    from diffusers.utils import logging as df_logging

    df_logging.set_verbosity_error()
    path = Path(model).expanduser()
    kwargs: dict[str, Any] = {"torch_dtype": dtype}
    if cache_dir is not None and not path.is_dir():
        kwargs["cache_dir"] = str(cache_dir)
    try:
        with warnings.catch_warnings():  # torch's weight_norm deprecation, inside the VAE
            warnings.simplefilter("ignore", FutureWarning)
            return StableAudioPipeline.from_pretrained(
                str(path) if path.is_dir() else model, **kwargs
            )
    except (OSError, ValueError) as exc:
        if path.is_dir():
            raise UnknownModel(
                f"{model!r} is not a readable Stable Audio pipeline: {exc}",
                details={"model": model},
            ) from None
        raise ModelNotAvailable(
            f"Stable Audio pipeline {model!r} is not in the local cache and could not be "
            f"fetched ({type(exc).__name__}); download it on a connected machine or pass a "
            "directory",
            details={"model": model},
        ) from None


class StableAudioFamily:
    """Instrumental audio and sound from a Stable Audio pipeline."""

    def __init__(
        self,
        model: str,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype | None = None,
        cache_dir: str | Path | None = None,
        *,
        max_duration: float | None = None,
    ) -> None:
        started = time.perf_counter()
        dev = resolve_device(device)
        self.pipe = _load_pipeline(model, resolve_dtype(dtype, dev), cache_dir).to(dev)
        self.pipe.set_progress_bar_config(disable=True)
        self.device = self.pipe.device
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
    def sample_rate(self) -> int:
        return self.card.sample_rate

    @property
    def channels(self) -> int:
        return self.card.channels

    @property
    def max_duration(self) -> float:
        return self.card.max_duration

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self.card.capabilities

    def __repr__(self) -> str:
        return (
            f"MusicGenerator(model={self.model_name!r}, family='stable_audio', "
            f"device={self.device})"
        )

    def generate(
        self,
        prompt: str,
        duration: float = 10.0,
        seed: int | None = None,
        steps: int | None = None,
        guidance_scale: float | None = None,
        negative_prompt: str | None = None,
        progress: Progress | None = None,
        **sampling: Any,
    ) -> AudioOutput:
        """``duration`` seconds (exactly) of audio for ``prompt``."""
        return self.generate_batch(
            [prompt], duration, seed, steps, guidance_scale, negative_prompt, progress, **sampling
        )[0]

    def generate_batch(
        self,
        prompts: Sequence[str],
        duration: float = 10.0,
        seed: int | Sequence[int] | None = None,
        steps: int | None = None,
        guidance_scale: float | None = None,
        negative_prompt: str | None = None,
        progress: Progress | None = None,
        *,
        temperature: float = 1.0,
        top_k: int = 250,
        top_p: float = 0.0,
    ) -> list[AudioOutput]:
        """One output per prompt. ``temperature``, ``top_k`` and ``top_p`` (what a service job
        carries for every model) are validated and do not apply: a diffusion model is not
        sampled token by token."""
        if isinstance(prompts, str) or not prompts:
            raise InvalidInput("prompts must be a non-empty list of strings", code="INVALID_PROMPT")
        texts = [validate_prompt(p) for p in prompts]
        params = GenerationParams.validate(
            duration=duration,
            guidance_scale=DEFAULT_GUIDANCE if guidance_scale is None else guidance_scale,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            max_duration=self.max_duration,
        )
        n_steps = DEFAULT_STEPS if steps is None else steps
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or not 1 <= n_steps <= 500:
            raise InvalidInput(f"steps must be an integer in 1..500, got {steps!r}",
                               code="INVALID_STEPS")  # fmt: skip
        seeds = resolve_seeds(seed, len(texts))
        generators = [torch.Generator(self.device).manual_seed(s) for s in seeds]
        started = time.perf_counter()

        def on_step(step: int, *_: Any) -> None:
            if progress is not None:
                progress(step + 1, n_steps)

        with warnings.catch_warnings():  # torchsde's Brownian interval rounding notes
            warnings.filterwarnings("ignore", category=UserWarning, module="torchsde")
            result = self.pipe(
                prompt=texts,
                negative_prompt=None if negative_prompt is None else [negative_prompt] * len(texts),
                audio_end_in_s=params.duration,
                num_inference_steps=n_steps,
                guidance_scale=params.guidance_scale,
                generator=generators,
                callback=on_step,
            )
        length = round(params.duration * self.sample_rate)
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
                    "duration": params.duration,
                    "steps": n_steps,
                    "guidance_scale": params.guidance_scale,
                    "batch_index": i,
                    "timings": {"total_s": total},
                    "real_time_factor": total / params.duration,
                },
            )
            for i, (audio, text, s) in enumerate(zip(audios, texts, seeds, strict=True))
        ]

    def generate_stream(self, prompt: str, *args: Any, **kwargs: Any) -> Iterator[AudioOutput]:
        """No streaming: the whole output, as one final chunk."""
        out = self.generate(prompt, *args, **kwargs)
        out.metadata.update(chunk_index=0, start_s=0.0, final=True)
        yield out
