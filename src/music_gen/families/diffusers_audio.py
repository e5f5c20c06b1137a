"""The diffusers text-to-audio family: every pipeline ``AutoPipelineForText2Audio`` knows.

What it knows: how to load a pipeline in its diffusers layout (a hub id or a local directory
whose ``model_index.json`` names ``StableAudioPipeline`` (Stable Audio Open),
``StableAudio3Pipeline`` (Stable Audio 3 small and medium), ``AudioLDM2Pipeline`` or
``LongCatAudioDiTPipeline``) through
``AutoPipelineForText2Audio``, each pipeline's card from its configs (``families._t2a``: rate,
channels, longest clip, default steps and guidance, edit tasks), and ``generate`` /
``generate_batch`` of audio of an exact length, with a seed per output.

What it promises: for the same prompt, duration, steps, guidance, negative prompt and seed,
the output is exactly what the pipeline's own call returns for
``generator=torch.Generator(device).manual_seed(seed)``, cut to ``round(duration × rate)``
samples; ``steps`` and ``guidance_scale`` default to the call's own. Capabilities: text,
negative prompt, steps, guidance, batch, stereo (two-channel models), loop (instrumental
models) and, on Stable Audio 3, ``edit``: ``repaint`` a range through
``StableAudio3InpaintPipeline`` (outside the range the output is the source's samples, exactly)
and ``cover`` through ``StableAudio3AudioToAudioPipeline`` (``strength`` s: the source noised to
``init_noise_level = 1 - s``; s = 0 is plain text-to-audio, s = 1 would be the source itself
and is refused). Stable Audio 3 also takes a LoRA ``adapter`` (PEFT's layout, as
``music_gen.train`` writes it): merged into the DiT at load (``adapter=``, ``adapter_scale=``), or
per request (unmerged for that request's call, then unloaded).
"""

from __future__ import annotations

import contextlib
import inspect
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..audio import AudioOutput, load_audio
from ..errors import GenerationFailed, InvalidInput
from ..params import Request, Song, check_duration
from ._diffusers import load_pipeline, splice
from ._t2a import FAMILY, SPECS, PipelineSpec, card_of, t2a_card
from .base import (
    ADAPTER_OPTIONS,
    Cancelled,
    Capability,
    CheckpointFiles,
    ModelCard,
    MusicFamily,
    Progress,
    unsupported,
)

if TYPE_CHECKING:  # torch and diffusers load with a pipeline, not with this module
    import torch

__all__ = ["COVER_STRENGTH", "DiffusersAudioFamily", "stable_audio_card"]

#: a cover's strength where the request names none (the source noised halfway)
COVER_STRENGTH = 0.5
#: crossfade (seconds) where a repainted range meets the source audio
REPAINT_FADE = 0.01


def stable_audio_card(name: str, path: Path, max_duration: float | None = None) -> ModelCard:
    """The card of a ``StableAudioPipeline`` directory (its configs, no weights)."""
    card = t2a_card(name, path, "StableAudioPipeline")
    return card if max_duration is None else replace(card, max_duration=min(
        card.max_duration, float(max_duration)))  # fmt: skip


def _unset_song_defaults(song: Song) -> Song:
    """``song`` without the "no lyrics" ``Song.checked`` writes as "": this family takes no
    lyrics, and the re-check of a stored job must not count an empty text as given."""
    return replace(song, lyrics=None if song.lyrics == "" else song.lyrics)


class _Stop(Exception):
    """Raised from the step callback to stop a cancelled call between steps."""


class DiffusersAudioFamily(MusicFamily):
    """Audio from a diffusers text-to-audio pipeline. It takes the ``song`` part's ``steps``,
    ``guidance_scale`` and ``negative_prompt`` (lyrics, BPM and the rest are refused by
    capability)."""

    name = FAMILY
    class_names = tuple(SPECS)
    packages = ("torch", "diffusers", "transformers")
    parts = ("song",)
    options: ClassVar[Mapping[str, Any]] = ADAPTER_OPTIONS

    @classmethod
    def inspect(cls, files: CheckpointFiles) -> ModelCard:
        assert files.path is not None and files.class_name is not None
        return t2a_card(files.model, files.path, files.class_name)

    @classmethod
    def check_request(cls, card: ModelCard, request: Request) -> Request:
        """The base checks; a negative prompt needs guidance on (the pipelines ignore it at
        ``guidance_scale`` ≤ 1); an edit task this checkpoint runs; a cover's strength below 1."""
        if request.song is not None:  # what ``Song.checked`` fills in (a stored job's) is unset
            request = replace(request, song=_unset_song_defaults(request.song))
        request = super().check_request(card, request)
        if request.song is not None:
            request = replace(request, song=_unset_song_defaults(request.song))
        song = request.song or Song()
        guidance = song.guidance_scale
        if guidance is None:
            guidance = card.details.get("defaults", {}).get("guidance_scale", 1.0)
        if song.negative_prompt is not None and request.edit is None and guidance <= 1.0:
            raise InvalidInput(
                f"a negative prompt steers classifier-free guidance, which is off at "
                f"guidance_scale {guidance:g} (this model's default is "
                f"{card.details.get('defaults', {}).get('guidance_scale')}): raise guidance_scale",
                code="INVALID_NEGATIVE_PROMPT",
                details={"guidance_scale": guidance},
            )
        edit = request.edit
        if edit is not None:
            tasks = list(card.details.get("edit_tasks") or [])
            if edit.task not in tasks:
                raise InvalidInput(
                    f"model {card.name!r} cannot {edit.task}; it edits with {', '.join(tasks)}",
                    code="UNSUPPORTED_TASK",
                    details={"model": card.name, "task": edit.task, "tasks": tasks},
                )
            if edit.task == "cover" and edit.strength is not None and edit.strength >= 1.0:
                raise InvalidInput(
                    "strength must be below 1 on this model (1 would return the source itself)",
                    code="INVALID_STRENGTH",
                    details={"strength": edit.strength},
                )
            if song.negative_prompt is not None or song.guidance_scale is not None:
                raise InvalidInput(
                    "the edit pipelines take no guidance_scale or negative_prompt",
                    code="INVALID_INPUT",
                )
        return request

    def __init__(
        self,
        model: str,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype | None = None,
        cache_dir: str | Path | None = None,
        *,
        max_duration: float | None = None,
        adapter: str | Path | None = None,
        adapter_scale: float = 1.0,
    ) -> None:
        from ..engine.loading import resolve_device, resolve_dtype

        started = time.perf_counter()
        dev = resolve_device(device)
        pipe = load_pipeline(
            "AutoPipelineForText2Audio", "text-to-audio", model, resolve_dtype(dtype, dev),
            cache_dir,
        ).to(dev)  # fmt: skip
        self._setup(pipe, model, max_duration)
        if adapter is not None:  # merged into the DiT's weights (families.adapters)
            if not self.card.can(Capability.ADAPTER):
                raise unsupported(model, FAMILY, "adapter", Capability.ADAPTER)
            from .adapters import merge_stable_audio_adapter

            merged = merge_stable_audio_adapter(pipe, adapter, adapter_scale, model)
            self.card.details["adapter"] = merged
        self.load_seconds = time.perf_counter() - started

    @classmethod
    def from_pipeline(
        cls, pipe: Any, name: str = "in-memory", max_duration: float | None = None
    ) -> DiffusersAudioFamily:
        """Around a pipeline already in memory (benchmarks build them from configs)."""
        family = cls.__new__(cls)
        family._setup(pipe, name, max_duration)
        family.load_seconds = 0.0
        return family

    def _setup(self, pipe: Any, model: str, max_duration: float | None) -> None:
        spec = SPECS.get(type(pipe).__name__)
        if spec is None:
            raise InvalidInput(
                f"{model!r} is a {type(pipe).__name__}; this family runs {', '.join(SPECS)}",
                code="INVALID_MODEL",
            )
        self.spec: PipelineSpec = spec
        self.pipe = pipe
        self.pipe.set_progress_bar_config(disable=True)
        self._device = pipe.device
        self.model_name = model
        call = inspect.signature(type(pipe).__call__).parameters
        steps = call["num_inference_steps"].default
        if steps is None:  # Stable Audio 3: 8 distilled (ping-pong) steps, else 100
            steps = 8 if pipe.scheduler.config.get("stochastic_sampling") else 100
        self.default_steps = int(steps)
        self.default_guidance = float(call["guidance_scale"].default)
        rate, channels, limit = self._facts(pipe)
        edits = list(spec.edits)
        if "repaint" in edits and int(pipe.transformer.config.get("patch_size", 1)) != 1:
            edits.remove("repaint")
        self.card = card_of(spec, model, rate, channels, limit, self.default_steps, edits,
                            max_duration)  # fmt: skip
        self.card.details["defaults"]["guidance_scale"] = self.default_guidance

    def _facts(self, pipe: Any) -> tuple[int, int, float]:
        """Rate, channels and the longest clip of the loaded pipeline."""
        name = self.spec.class_name
        if name == "StableAudioPipeline":
            vae = pipe.vae
            rate = int(vae.sampling_rate)
            longest = int(pipe.transformer.config.sample_size) * int(vae.hop_length) / rate
            return rate, int(vae.config.audio_channels), longest
        if name == "StableAudio3Pipeline":
            limit = float(pipe.duration_embedder.config.max_val)
            limit = min(limit, 120.0 if "small" in self.model_name.lower() else self.spec.limit)
            return int(pipe.vae.config.sampling_rate), int(pipe.vae.config.audio_channels), limit
        if name == "AudioLDM2Pipeline":
            return int(pipe.vocoder.config.sampling_rate), 1, self.spec.limit
        return int(pipe.sample_rate), int(pipe.vae.config.in_channels), pipe.max_wav_duration

    @property
    def device(self) -> torch.device:
        return self._device

    def __repr__(self) -> str:
        return (
            f"MusicGenerator(model={self.model_name!r}, family={FAMILY!r}, "
            f"pipeline={self.spec.class_name!r}, device={self.device})"
        )

    # ------------------------------------------------------------------ generation
    def _generate(
        self, request: Request, progress: Progress | None, cancelled: Cancelled | None
    ) -> list[AudioOutput]:
        """``duration`` seconds (exactly) of audio per prompt, each from its own seed."""
        song = request.song or Song()
        assert request.duration is not None  # checked: the default filled in
        duration = float(request.duration)
        texts, seeds = list(request.prompts), request.seeds()
        steps = song.steps or self.default_steps
        guidance = self.default_guidance if song.guidance_scale is None else song.guidance_scale
        call: dict[str, Any] = {self.spec.duration_arg: self._call_seconds(duration),
                                "guidance_scale": guidance}  # fmt: skip
        if song.negative_prompt is not None:
            call["negative_prompt"] = song.negative_prompt
        meta = {"steps": steps, "guidance_scale": guidance,
                "negative_prompt": song.negative_prompt, "task": "text2audio"}  # fmt: skip
        with self._request_adapter(request) as adapter:
            meta.update(adapter)
            audio = self._call(self.pipe, texts, seeds, steps, song.steps, call, progress,
                               cancelled)  # fmt: skip
        return self._outputs(audio, duration, texts, seeds, meta)

    @contextlib.contextmanager
    def _request_adapter(self, request: Request) -> Iterator[dict[str, Any]]:
        """The request's own adapter on the DiT while its call runs (none: nothing changes);
        yields what its outputs' metadata records of it."""
        if request.adapter is None:
            yield {}
            return
        from .adapters import stable_audio_request_adapter

        a = request.adapter
        with stable_audio_request_adapter(self.pipe, a.name, a.scale, self.model_name) as info:
            yield {"adapter": info}

    def _call_seconds(self, duration: float) -> float:
        """The length argument that makes at least ``duration`` seconds: the duration itself,
        or (LongCat, which makes ``int(seconds × rate / hop)`` frames) half a frame past the
        last whole frame it needs."""
        if not self.spec.whole_frames:
            return duration
        hop = int(self.pipe.vae_scale_factor)
        frames = -(-round(duration * self.sample_rate) // hop)
        return (frames + 0.5) * hop / self.sample_rate

    def _call(
        self,
        pipe: Any,
        texts: list[str],
        seeds: list[int],
        steps: int,
        given_steps: int | None,
        call: dict[str, Any],
        progress: Progress | None,
        cancelled: Cancelled | None,
    ) -> np.ndarray:
        """The pipeline's own call (one generator per prompt); its audio as ``[B, C, N]``."""
        import torch

        generators = [torch.Generator(self.device).manual_seed(s) for s in seeds]

        def step(i: int) -> None:
            if progress is not None:
                progress(i + 1, steps)
            if cancelled is not None and cancelled():
                raise _Stop

        if self.spec.callback == "legacy":
            call["callback"] = lambda i, *_: step(i)
        else:

            def on_step_end(_pipe: Any, i: int, _t: Any, tensors: dict[str, Any]) -> Any:
                step(i)
                return tensors

            call["callback_on_step_end"] = on_step_end
        if given_steps is not None or self.spec.steps is not None:
            call["num_inference_steps"] = steps  # else the call picks it (Stable Audio 3)
        try:
            with warnings.catch_warnings():  # torchsde's Brownian interval rounding notes
                warnings.filterwarnings("ignore", category=UserWarning, module="torchsde")
                result = pipe(
                    prompt=texts if len(texts) > 1 else texts[0],
                    generator=generators if len(texts) > 1 else generators[0],
                    **call,
                )
        except _Stop:
            raise GenerationFailed("cancelled", code="CANCELLED") from None
        except ValueError as exc:  # the pipeline's own input checks
            raise InvalidInput(str(exc), code="INVALID_INPUT") from None
        audios = result.audios
        if isinstance(audios, torch.Tensor):
            audios = audios.float().cpu().numpy()
        audios = np.asarray(audios, dtype=np.float32)
        return audios[:, None, :] if audios.ndim == 2 else audios  # mono pipelines: [B, N]

    def _outputs(
        self,
        audios: np.ndarray,
        duration: float,
        texts: list[str],
        seeds: list[int],
        meta: dict[str, Any],
    ) -> list[AudioOutput]:
        length = round(duration * self.sample_rate)
        audios = audios[..., :length]
        if audios.shape[-1] < length:  # a call that rounds the length down (by a sample)
            audios = np.pad(audios, ((0, 0), (0, 0), (0, length - audios.shape[-1])))
        common = {"model": self.model_name, "family": FAMILY, "pipeline": self.spec.class_name,
                  "duration": duration, "sample_rate": self.sample_rate, **meta}  # fmt: skip
        return [
            AudioOutput(
                np.ascontiguousarray(audio),
                self.sample_rate,
                {**common, "prompt": text, "seed": s, "batch_index": i},
            )
            for i, (audio, text, s) in enumerate(zip(audios, texts, seeds, strict=True))
        ]

    # ------------------------------------------------------------------ editing
    def _edit(
        self, request: Request, progress: Progress | None, cancelled: Cancelled | None
    ) -> AudioOutput:
        """Edit the request's source (a path, bytes, array at the model's rate or AudioOutput):

        - ``repaint``: ``start..end`` seconds made again by the inpaint pipeline; outside the
          range the output is the source's samples exactly (10 ms crossfades inside it).
        - ``cover``: the audio-to-audio pipeline from the source noised to ``1 - strength``.
        The output has the source's length.
        """
        import diffusers

        edit = request.edit
        assert edit is not None
        started = time.perf_counter()
        source = self._source(edit.source)
        length = source.shape[-1] / self.sample_rate
        check_duration(length, self.max_duration)
        pipe = getattr(diffusers, self.spec.edits[edit.task])(**self.pipe.components)
        pipe.set_progress_bar_config(disable=True)
        song = request.song or Song()
        steps = song.steps or self.default_steps
        import torch

        call: dict[str, Any] = {"duration": length, "audio": torch.from_numpy(source[None])}
        meta: dict[str, Any] = {"task": edit.task, "steps": steps, "source_seconds": length}
        if edit.task == "repaint":
            lo, hi = edit.span(length)
            call.update(mask_start_seconds=lo, mask_end_seconds=hi)
            meta.update(start=lo, end=hi)
        else:
            strength = COVER_STRENGTH if edit.strength is None else float(edit.strength)
            call["init_noise_level"] = 1.0 - strength
            meta.update(strength=strength, init_noise_level=1.0 - strength)
        with self._request_adapter(request) as adapter:
            meta.update(adapter)
            [audio] = self._call(pipe, [request.prompt], request.seeds(), steps, song.steps,
                                 call, progress, cancelled)  # fmt: skip
        [out] = self._outputs(audio[None], length, [request.prompt], request.seeds(), meta)
        if edit.task == "repaint":
            samples = splice(source, out.samples, lo, hi, self.sample_rate, REPAINT_FADE)
            out = AudioOutput(samples, out.sample_rate, out.metadata)
        total = time.perf_counter() - started
        out.metadata.update(timings={"total_s": total}, real_time_factor=total / length)
        return out

    def _source(self, source: Any) -> np.ndarray:
        import torch

        rate = self.sample_rate if isinstance(source, np.ndarray | torch.Tensor) else None
        audio = load_audio(
            source, sample_rate=rate, target_sample_rate=self.sample_rate, channels=self.channels,
            name="source",
        )  # fmt: skip
        return np.ascontiguousarray(audio.samples, dtype=np.float32)
