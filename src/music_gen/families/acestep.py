"""The ACE-Step family: songs with sung lyrics, through diffusers' ``AceStepPipeline``.

What it knows: how to load an ACE-Step 1.5 pipeline (a hub id or a local directory in the
diffusers layout), the checkpoint's own defaults (turbo checkpoints: 8 steps, no guidance), how
to validate a song request (``params.SongParams``: lyrics, BPM, key, time signature, language),
and how each task maps onto the pipeline's call: text2music (``generate``), and ``edit`` for
repaint, cover, extract, lego and complete. It reports progress per denoising step and stops
between steps when asked to.

What it promises: with the same prompt, lyrics, duration, steps, guidance and seed,
``generate`` returns exactly what ``AceStepPipeline.__call__`` returns for
``generator=torch.Generator(device).manual_seed(seed)``, cut to ``round(duration * 48000)``
samples (the pipeline makes whole latent frames of 1920 samples). No loudness change: the
pipeline's own -1 dBFS peak normalisation is all there is.

What it does not do: stream audio while it is made (a diffusion model finishes all of it at the
last step); the service sends progress, then the audio.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..audio import AudioOutput, load_audio
from ..composition import CompositionPlan
from ..errors import GenerationFailed, InvalidInput
from ..params import EDIT_TASKS, MAX_SEED, TRACKS, Edit, Request, Song, SongParams
from ._diffusers import load_pipeline, splice
from .base import (
    ADAPTER_OPTIONS,
    Cancelled,
    Capability,
    CheckpointFiles,
    ModelCard,
    MusicFamily,
    Progress,
)
from .plans import PlanProgress, differing_sections, plan_metadata, sample_bounds
from .runner import Runner

if TYPE_CHECKING:  # torch and diffusers load with a pipeline, not with this module
    import torch

__all__ = ["EDIT_TASKS", "TRACKS", "AceStepFamily", "acestep_card"]

ACESTEP_CAPABILITIES = frozenset(
    {
        Capability.TEXT,
        Capability.STEREO,
        Capability.LYRICS,
        Capability.BPM,
        Capability.KEY,
        Capability.TIME_SIGNATURE,
        Capability.LANGUAGE,
        Capability.REFERENCE_AUDIO,
        Capability.EDIT,
        Capability.STEMS,
        Capability.BATCH,
        Capability.LOOP,  # instrumental only: a loop takes no lyrics
        Capability.PLAN,  # sections as structure tags in the lyrics, styles in the caption
        Capability.STEPS,
        Capability.GUIDANCE,
        Capability.ADAPTER,  # per request: loaded for its pipeline call, then unloaded
    }
)
MAX_DURATION = 600.0  # ACE-Step 1.5 makes songs of up to 10 minutes
MAX_LYRIC_TOKENS = 2048  # the pipeline's max_lyric_length
#: crossfade (seconds) where a repainted range meets the source audio
REPAINT_FADE = 0.01


def acestep_card(name: str, path: Path, max_duration: float = MAX_DURATION) -> ModelCard:
    """The card of a pipeline directory, read from its configs."""
    import json

    def config(part: str) -> dict[str, Any]:
        file = path / part / "config.json"
        return json.loads(file.read_text()) if file.is_file() else {}

    vae, dit = config("vae"), config("transformer")
    turbo = bool(dit.get("is_turbo")) or dit.get("model_version") == "turbo"
    index_file = path / "model_index.json"
    index = json.loads(index_file.read_text()) if index_file.is_file() else {}
    tokenizer = index.get("audio_tokenizer", [None]) if index else ["unknown"]
    # cover re-encodes the source through the audio tokenizer: a pipeline saved without one
    # cannot cover (an unreadable index says nothing: every task is kept)
    tasks = [t for t in EDIT_TASKS if t != "cover" or (tokenizer and tokenizer[0])]
    return ModelCard(
        name,
        AceStepFamily.name,
        ACESTEP_CAPABILITIES,
        int(vae.get("sampling_rate", 48000)),
        int(vae.get("audio_channels", 2)),
        max_duration,
        details={"turbo": turbo, "tracks": list(TRACKS), "edit_tasks": tasks},
    )


def _load_pipeline(model: str, dtype: torch.dtype, cache_dir: str | Path | None) -> Any:
    return load_pipeline("AceStepPipeline", "ACE-Step", model, dtype, cache_dir)


class AceStepFamily(MusicFamily):
    """Songs with sung lyrics from an ACE-Step 1.5 pipeline (48 kHz stereo)."""

    name = "acestep"
    class_names = ("AceStepPipeline",)
    packages = ("torch", "diffusers")
    options: ClassVar[Mapping[str, Any]] = {
        **ADAPTER_OPTIONS,
        "fast_cpu": True,
        "cpu_compile": True,
    }
    parts = ("song",)
    default_duration = 30.0

    @classmethod
    def inspect(cls, files: CheckpointFiles) -> ModelCard:
        assert files.path is not None
        return acestep_card(files.model, files.path)

    @classmethod
    def check_request(cls, card: ModelCard, request: Request) -> Request:
        """The base checks, with the language sung filled in where none is given (English:
        the job records what the song was sung in)."""
        checked = super().check_request(card, request)
        if checked.song is not None and checked.song.vocal_language is None:
            song = replace(checked.song, vocal_language=Song.LANGUAGE)
            checked = replace(checked, song=song)
        return checked

    def __init__(
        self,
        model: str,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype | None = None,
        cache_dir: str | Path | None = None,
        *,
        max_duration: float = MAX_DURATION,
        adapter: str | Path | None = None,
        adapter_scale: float = 1.0,
        fast_cpu: bool = True,
        cpu_compile: bool = True,
    ) -> None:
        """On the CPU with no ``dtype`` given, the pipeline gets the CPU setting
        (``families.acestep_cpu``: int8 DiT linears, bfloat16 VAE decoder, compiled where a C++
        compiler is found unless ``cpu_compile=False``, timbre cached) unless
        ``fast_cpu=False``; an explicit ``dtype`` gives the plain pipeline in that dtype."""
        from ..engine.loading import resolve_device, resolve_dtype

        started = time.perf_counter()
        dev = resolve_device(device)
        pipe = _load_pipeline(model, resolve_dtype(dtype, dev), cache_dir).to(dev)
        merged = None
        if adapter is not None:  # fused into the DiT's weights (families.adapters)
            from .adapters import merge_acestep_adapter

            merged = merge_acestep_adapter(pipe, adapter, adapter_scale, model)
        setting = None
        if fast_cpu and dtype is None and dev.type == "cpu":  # after the merge: int8 is final
            from .acestep_cpu import apply_cpu_setting

            setting = apply_cpu_setting(pipe, compile=None if cpu_compile else False)
        self._setup(pipe, model, max_duration, setting)
        if merged is not None:
            self.card.details["adapter"] = merged
        self.load_seconds = time.perf_counter() - started

    @classmethod
    def from_pipeline(
        cls,
        pipe: Any,
        name: str = "in-memory",
        max_duration: float = MAX_DURATION,
        *,
        fast_cpu: bool = False,
        cpu_compile: bool = True,
    ) -> AceStepFamily:
        """Around an ``AceStepPipeline`` already in memory (benchmarks build them from configs);
        ``fast_cpu``: apply the CPU setting to it (in place) first (``cpu_compile=False``:
        without ``torch.compile``)."""
        setting = None
        if fast_cpu:
            from .acestep_cpu import apply_cpu_setting

            setting = apply_cpu_setting(pipe, compile=None if cpu_compile else False)
        family = cls.__new__(cls)
        family._setup(pipe, name, max_duration, setting)
        family.load_seconds = 0.0
        return family

    def _setup(self, pipe: Any, model: str, max_duration: float, setting: str | None) -> None:
        self.pipe = pipe
        self.cpu_setting = setting
        self._device = pipe.device
        self.dtype = pipe.transformer.dtype
        self.pipe.set_progress_bar_config(disable=True)
        self.model_name = model
        defaults = inspect.signature(self.pipe.__call__).parameters
        self.default_steps = int(defaults["num_inference_steps"].default)
        guidance = float(defaults["guidance_scale"].default)
        self.default_guidance = 1.0 if self.pipe.is_turbo else guidance
        self.card = ModelCard(
            model,
            self.name,
            ACESTEP_CAPABILITIES,
            int(self.pipe.sample_rate),
            int(self.pipe.vae.config.audio_channels),
            min(float(max_duration), MAX_DURATION),
            details={"turbo": self.pipe.is_turbo, "tracks": list(TRACKS)},
        )
        if setting is not None:
            self.card.details["cpu_setting"] = setting

    @property
    def device(self) -> torch.device:
        return self._device

    def __repr__(self) -> str:
        return (
            f"MusicGenerator(model={self.model_name!r}, family='acestep', device={self.device}, "
            f"dtype={self.dtype}, turbo={self.pipe.is_turbo}"
            + (f", cpu_setting={self.cpu_setting!r})" if self.cpu_setting else ")")
        )

    def check_loaded(self, request: Request) -> Request:
        """The lyrics fit the pipeline's text encoder."""
        for song in (request.song or Song()).per_prompt(len(request.prompts)):
            if song.lyrics:
                tokens = len(self.pipe.tokenizer(song.lyrics)["input_ids"])
                if tokens > MAX_LYRIC_TOKENS - 32:  # the language header takes a few
                    raise InvalidInput(
                        f"lyrics are {tokens} tokens long; this model reads at most "
                        f"{MAX_LYRIC_TOKENS - 32}",
                        code="INVALID_LYRICS",
                        details={"tokens": tokens, "max_tokens": MAX_LYRIC_TOKENS - 32},
                    )
        return request

    # ------------------------------------------------------------------ text2music
    def runner(self, capacity: int = 4) -> Runner:
        """Songs one pipeline call at a time on a thread of their own
        (``families.acestep_runner``)."""
        from .acestep_runner import SongRunner

        return SongRunner(self, capacity, max_batch=capacity)

    def _generate(
        self, request: Request, progress: Progress | None, cancelled: Cancelled | None
    ) -> list[AudioOutput]:
        """One song of exactly ``duration`` seconds per prompt (``lyrics`` with
        [verse]/[chorus] tags); prompts whose text and lyrics are of equal token length share
        one pipeline call. With one seed per prompt each output equals its single run (each
        row draws its noise from its own generator)."""
        import torch

        texts = list(request.prompts)
        duration = float(request.duration or self.default_duration)
        song = request.song or Song()
        checked = [SongParams.of(duration, s) for s in song.per_prompt(len(texts))]
        seeds = request.seeds()
        call: dict[str, Any] = {}
        if song.reference is not None:
            call["reference_audio"] = torch.from_numpy(self._audio(song.reference, "reference"))
        meta = {"task": "text2music", "reference": song.reference is not None}
        outputs: dict[int, AudioOutput] = {}
        with self._request_adapter(request) as adapter:
            meta.update(adapter)
            for rows in self._groups(texts, checked):
                done = self._run(
                    [texts[i] for i in rows], [checked[i] for i in rows],
                    [seeds[i] for i in rows], call, progress, cancelled, meta,
                )  # fmt: skip
                for i, out in zip(rows, done, strict=True):
                    out.metadata.update(batch_index=i, batch_size=len(texts))
                    outputs[i] = out
        return [outputs[i] for i in range(len(texts))]

    @contextlib.contextmanager
    def _request_adapter(self, request: Request) -> Iterator[dict[str, Any]]:
        """The request's own adapter on the DiT while its calls run (none: nothing changes);
        yields what its outputs' metadata records of it."""
        if request.adapter is None:
            yield {}
            return
        from .adapters import acestep_request_adapter

        a = request.adapter
        with contextlib.ExitStack() as stack:
            if self.cpu_setting:  # PEFT wraps float linears: dequantized for this request
                from .acestep_cpu import float_linears

                stack.enter_context(float_linears(self.pipe.transformer))
            info = stack.enter_context(
                acestep_request_adapter(self.pipe, a.name, a.scale, self.model_name)
            )
            yield {"adapter": info}

    def _generate_plan(
        self,
        plan: CompositionPlan,
        seed: int,
        params: Mapping[str, Any],
        progress: Progress | None,
        cancelled: Cancelled | None,
    ) -> AudioOutput:
        """One song as long as the plan: the caption is the global styles and every section's
        (in order), the lyrics each section's lines under its ``[name]`` tag (the plan's lines
        win over ``lyrics=``), BPM and key the plan's (else the first section's). Then each
        section whose styles differ from the whole (``plans.differing_sections``) is repainted
        over that song with its own caption (the global styles and its own), seed ``seed + 1 +
        i``: outside the section every sample stays (the repaint contract)."""
        first = plan.sections[0]
        keywords = dict(params)
        if plan.lyrics:
            keywords["lyrics"] = plan.lyrics
        keywords.setdefault("bpm", plan.bpm if plan.bpm is not None else first.bpm)
        keywords.setdefault("key", plan.key if plan.key is not None else first.key)
        request = self.check_inputs(
            self.request([plan.prompt()], duration=plan.duration, seed=seed, **keywords)
        )
        repaint = differing_sections(plan)
        n = len(plan.sections)
        tracker = PlanProgress(progress, 1 + len(repaint))
        step = tracker.part(0, "whole song", "whole", 0, n)
        [out] = self._generate(request, step, cancelled)
        bounds = sample_bounds(plan, self)
        rate = self.sample_rate
        captions = {}
        for part, i in enumerate(repaint, start=1):
            a, b = bounds[i]
            caption = plan.prompt(i)
            section = replace(
                request,
                prompts=(caption,),
                seed=(seed + 1 + i) % (MAX_SEED + 1),
                edit=Edit("repaint", out.samples, a / rate, b / rate),
            )
            step = tracker.part(part, plan.sections[i].name, "repaint", i, n)
            painted = self._edit(self.check_loaded(section), step, cancelled)
            out = AudioOutput(painted.samples, rate, out.metadata)
            captions[i] = caption
        honoured = {"sections": "approximate (structure tags in the lyrics)", "lines": "exact",
                    "styles": "approximate (the song's caption, then each section whose styles "
                    "differ repainted with its own)", "bpm": "exact", "key": "exact",
                    "negative_styles": "ignored"}  # fmt: skip
        prompts = [plan.prompt(i) for i in range(n)]
        out.metadata["plan"] = plan_metadata(plan, bounds, rate, prompts, honoured)
        for i, section in enumerate(out.metadata["plan"]["sections"]):
            section["repainted"] = i in captions
        return out

    def _groups(self, texts: list[str], songs: list[SongParams]) -> list[list[int]]:
        """Rows that share one pipeline call: those whose prompt and lyrics tokenize to the same
        lengths. The pipeline does not mask padding out of the DiT's cross-attention, so a padded
        row would not equal its single run; equal lengths need no padding."""
        groups: dict[tuple[int, int], list[int]] = {}
        for i, (text, song) in enumerate(zip(texts, songs, strict=True)):
            caption, lyric = self.pipe._format_prompt(
                text, song.lyrics, song.vocal_language, song.duration, None, song.bpm, song.key,
                song.time_signature,
            )  # fmt: skip
            key = (len(self.pipe.tokenizer(caption)["input_ids"]),
                   len(self.pipe.tokenizer(lyric)["input_ids"]))  # fmt: skip
            groups.setdefault(key, []).append(i)
        return list(groups.values())

    # ------------------------------------------------------------------ editing
    def _edit(
        self, request: Request, progress: Progress | None, cancelled: Cancelled | None
    ) -> AudioOutput:
        """Edit the request's source (a path, bytes, array at 48 kHz or AudioOutput):

        - ``repaint``: regenerate ``start..end`` seconds; outside it the audio is the source's
          (spliced back with 10 ms crossfades).
        - ``cover``: restyle the whole source after ``prompt``/``lyrics``; ``strength`` in
          [0, 1] (1 follows the source most closely).
        - ``extract``: the ``track`` (vocals, drums, bass, ...) of the source.
        - ``lego``: add a ``track`` to the source (optionally only within ``start..end``).
        - ``complete``: add ``tracks`` to the source.
        The output has the source's length.
        """
        import torch

        from ..params import check_duration

        edit: Edit | None = request.edit
        assert edit is not None
        src = self._audio(edit.source, "source")
        length = src.shape[-1] / self.sample_rate
        check_duration(length, self.max_duration)
        song = SongParams.of(length, request.song or Song())
        task = edit.task
        call: dict[str, Any] = {"task_type": task, "src_audio": torch.from_numpy(src)}
        if task in ("repaint", "lego") and (edit.start is not None or edit.end is not None):
            lo, hi = edit.span(length)
            call.update(repainting_start=lo, repainting_end=hi)
        if task == "cover":
            if self.pipe.audio_tokenizer is None:
                raise InvalidInput(
                    f"{self.model_name!r} has no audio tokenizer, which cover needs",
                    code="UNSUPPORTED_TASK",
                )
            call["audio_cover_strength"] = float(
                Edit.STRENGTH if edit.strength is None else edit.strength
            )
        if task in ("extract", "lego"):
            call["track_name"] = edit.track
        if task == "complete":
            call["complete_track_classes"] = list(edit.tracks or Edit.DEFAULT_TRACKS)
        reference = request.song.reference if request.song is not None else None
        if reference is not None:
            call["reference_audio"] = torch.from_numpy(self._audio(reference, "reference"))
        meta = {"task": task, "source_seconds": length, **_task_meta(call)}
        with self._request_adapter(request) as adapter:
            meta.update(adapter)
            [out] = self._run(
                [request.prompt], [song], request.seeds(), call, progress, cancelled, meta
            )
        if task == "repaint":
            lo, hi = call.get("repainting_start", 0.0), call.get("repainting_end", length)
            out = AudioOutput(
                splice(src, out.samples, lo, hi, self.sample_rate, REPAINT_FADE),
                out.sample_rate,
                out.metadata,
            )
        return out

    # ------------------------------------------------------------------ internals
    def _audio(self, source: Any, name: str) -> np.ndarray:
        import torch

        rate = self.sample_rate if isinstance(source, np.ndarray | torch.Tensor) else None
        audio = load_audio(
            source, sample_rate=rate, target_sample_rate=self.sample_rate, channels=self.channels,
            name=name,
        )  # fmt: skip
        return np.ascontiguousarray(audio.samples, dtype=np.float32)

    def _run(
        self,
        texts: list[str],
        songs: list[SongParams],
        seeds: list[int],
        call: dict[str, Any],
        progress: Progress | None,
        cancelled: Cancelled | None,
        meta: dict[str, Any],
    ) -> list[AudioOutput]:
        import torch

        started = time.perf_counter()
        first = songs[0]
        steps = first.steps or self.default_steps
        guidance = self.default_guidance if first.guidance_scale is None else first.guidance_scale
        generators = [torch.Generator(self.device).manual_seed(s) for s in seeds]

        def on_step(pipe: Any, i: int, t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            if progress is not None:
                progress(i + 1, steps)
            if cancelled is not None and cancelled():
                pipe._interrupt = True
            return tensors

        try:
            result = self.pipe(
                prompt=texts if len(texts) > 1 else texts[0],
                lyrics=[s.lyrics for s in songs] if len(texts) > 1 else first.lyrics,
                audio_duration=first.duration,
                vocal_language=[s.vocal_language for s in songs]
                if len(texts) > 1
                else first.vocal_language,
                num_inference_steps=steps,
                guidance_scale=guidance,
                generator=generators if len(texts) > 1 else generators[0],
                bpm=first.bpm,
                keyscale=first.key,
                timesignature=first.time_signature,
                callback_on_step_end=on_step,
                **call,
            )
        except ValueError as exc:  # the pipeline's own input checks
            raise InvalidInput(str(exc), code="INVALID_INPUT") from None
        if cancelled is not None and cancelled():
            raise GenerationFailed("cancelled", code="CANCELLED")
        n = round(first.duration * self.sample_rate)
        audio = result.audios[..., :n].float().cpu().numpy()  # [B, C, N]
        total = time.perf_counter() - started
        common = {
            "model": self.model_name,
            "family": "acestep",
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "steps": steps,
            "guidance_scale": guidance,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "timings": {"total_s": total},
            "real_time_factor": total / first.duration,
            "batch_size": len(texts),
            **({"cpu_setting": self.cpu_setting} if self.cpu_setting else {}),
            **meta,
        }
        return [
            AudioOutput(
                audio[i],
                self.sample_rate,
                {
                    **songs[i].to_dict(),
                    **common,
                    "prompt": texts[i],
                    "seed": seeds[i],
                    "batch_index": i,
                },
            )
            for i in range(len(texts))
        ]


def _task_meta(call: dict[str, Any]) -> dict[str, Any]:
    keys = ("repainting_start", "repainting_end", "audio_cover_strength", "track_name",
            "complete_track_classes")  # fmt: skip
    return {k: call[k] for k in keys if k in call}
