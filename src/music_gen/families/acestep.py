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

import inspect
import json
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..audio import AudioOutput, load_audio
from ..engine.generate import Progress
from ..engine.loading import resolve_device, resolve_dtype
from ..errors import GenerationFailed, InvalidInput, ModelNotAvailable, UnknownModel
from ..params import SongParams, resolve_seeds, validate_prompt
from .adapters import merge_acestep_adapter
from .base import Capability, ModelCard

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
    }
)
EDIT_TASKS = ("repaint", "cover", "extract", "lego", "complete")
#: ACE-Step 1.5's track names (extract, lego, complete)
TRACKS = (
    "vocals", "backing_vocals", "drums", "bass", "guitar", "keyboard", "percussion", "strings",
    "synth", "fx", "brass", "woodwinds",
)  # fmt: skip
MAX_DURATION = 600.0  # ACE-Step 1.5 makes songs of up to 10 minutes
MAX_LYRIC_TOKENS = 2048  # the pipeline's max_lyric_length
#: crossfade (seconds) where a repainted range meets the source audio
REPAINT_FADE = 0.01

Cancelled = Callable[[], bool]


def acestep_card(name: str, path: Path, max_duration: float = MAX_DURATION) -> ModelCard:
    """The card of a pipeline directory, read from its configs."""

    def config(part: str) -> dict[str, Any]:
        file = path / part / "config.json"
        return json.loads(file.read_text()) if file.is_file() else {}

    vae, dit = config("vae"), config("transformer")
    turbo = bool(dit.get("is_turbo")) or dit.get("model_version") == "turbo"
    return ModelCard(
        name,
        "acestep",
        ACESTEP_CAPABILITIES,
        int(vae.get("sampling_rate", 48000)),
        int(vae.get("audio_channels", 2)),
        max_duration,
        details={"turbo": turbo, "tracks": list(TRACKS), "edit_tasks": list(EDIT_TASKS)},
    )


def _load_pipeline(model: str, dtype: torch.dtype, cache_dir: str | Path | None) -> Any:
    from diffusers import AceStepPipeline
    from diffusers.utils import logging as df_logging

    df_logging.set_verbosity_error()
    df_logging.disable_progress_bar()
    path = Path(model).expanduser()
    source = str(path) if path.is_dir() else model
    kwargs: dict[str, Any] = {"dtype": dtype}
    if cache_dir is not None and not path.is_dir():
        kwargs["cache_dir"] = str(cache_dir)
    try:
        with warnings.catch_warnings():  # torch's weight_norm deprecation, inside the VAE
            warnings.simplefilter("ignore", FutureWarning)
            return AceStepPipeline.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as exc:
        if path.is_dir():
            raise UnknownModel(
                f"{model!r} is not a readable ACE-Step pipeline: {exc}", details={"model": model}
            ) from None
        raise ModelNotAvailable(
            f"ACE-Step pipeline {model!r} is not in the local cache and could not be fetched "
            f"({type(exc).__name__}); download it on a connected machine or pass a directory",
            details={"model": model},
        ) from None


class AceStepFamily:
    """Songs with sung lyrics from an ACE-Step 1.5 pipeline (48 kHz stereo)."""

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
    ) -> None:
        started = time.perf_counter()
        dev = resolve_device(device)
        pipe = _load_pipeline(model, resolve_dtype(dtype, dev), cache_dir).to(dev)
        merged = None
        if adapter is not None:  # fused into the DiT's weights (families.adapters)
            merged = merge_acestep_adapter(pipe, adapter, adapter_scale, model)
        self._setup(pipe, model, max_duration)
        if merged is not None:
            self.card.details["adapter"] = merged
        self.load_seconds = time.perf_counter() - started

    @classmethod
    def from_pipeline(
        cls, pipe: Any, name: str = "in-memory", max_duration: float = MAX_DURATION
    ) -> AceStepFamily:
        """Around an ``AceStepPipeline`` already in memory (benchmarks build them from configs)."""
        family = cls.__new__(cls)
        family._setup(pipe, name, max_duration)
        family.load_seconds = 0.0
        return family

    def _setup(self, pipe: Any, model: str, max_duration: float) -> None:
        self.pipe = pipe
        self.device = pipe.device
        self.dtype = pipe.transformer.dtype
        self.pipe.set_progress_bar_config(disable=True)
        self.model_name = model
        defaults = inspect.signature(self.pipe.__call__).parameters
        self.default_steps = int(defaults["num_inference_steps"].default)
        guidance = float(defaults["guidance_scale"].default)
        self.default_guidance = 1.0 if self.pipe.is_turbo else guidance
        self.card = ModelCard(
            model,
            "acestep",
            ACESTEP_CAPABILITIES,
            int(self.pipe.sample_rate),
            int(self.pipe.vae.config.audio_channels),
            min(float(max_duration), MAX_DURATION),
            details={"turbo": self.pipe.is_turbo, "tracks": list(TRACKS)},
        )

    # ------------------------------------------------------------------ facts
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
            f"MusicGenerator(model={self.model_name!r}, family='acestep', device={self.device}, "
            f"dtype={self.dtype}, turbo={self.pipe.is_turbo})"
        )

    # ------------------------------------------------------------------ text2music
    def generate(
        self,
        prompt: str,
        lyrics: str | None = None,
        duration: float = 30.0,
        seed: int | None = None,
        steps: int | None = None,
        guidance_scale: float | None = None,
        bpm: int | None = None,
        key: str | None = None,
        time_signature: str | None = None,
        vocal_language: str = "en",
        reference: Any = None,
        progress: Progress | None = None,
        *,
        cancelled: Cancelled | None = None,
    ) -> AudioOutput:
        """A song of exactly ``duration`` seconds; ``lyrics`` with [verse]/[chorus] tags."""
        return self.generate_batch(
            [prompt], None if lyrics is None else [lyrics], duration, seed, steps, guidance_scale,
            bpm, key, time_signature, vocal_language, reference, progress, cancelled=cancelled,
        )[0]  # fmt: skip

    def generate_batch(
        self,
        prompts: Sequence[str],
        lyrics: str | Sequence[str] | None = None,
        duration: float = 30.0,
        seed: int | Sequence[int] | None = None,
        steps: int | None = None,
        guidance_scale: float | None = None,
        bpm: int | None = None,
        key: str | None = None,
        time_signature: str | None = None,
        vocal_language: str = "en",
        reference: Any = None,
        progress: Progress | None = None,
        *,
        cancelled: Cancelled | None = None,
    ) -> list[AudioOutput]:
        """One song per prompt; prompts whose text and lyrics are of equal token length share one
        pipeline call. With one seed per prompt each output equals its single run (each row
        draws its noise from its own generator)."""
        texts = _prompts(prompts)
        lyric_list = _per_prompt(lyrics, len(texts))
        checked = [self._song(duration, lyr, steps, guidance_scale, bpm, key, time_signature,
                              vocal_language) for lyr in lyric_list]  # fmt: skip
        seeds = resolve_seeds(seed, len(texts))
        call: dict[str, Any] = {}
        if reference is not None:
            call["reference_audio"] = torch.from_numpy(self._audio(reference, "reference"))
        meta = {"task": "text2music", "reference": reference is not None}
        outputs: dict[int, AudioOutput] = {}
        for rows in self._groups(texts, checked):
            done = self._run(
                [texts[i] for i in rows], [checked[i] for i in rows], [seeds[i] for i in rows],
                call, progress, cancelled, meta,
            )  # fmt: skip
            for i, out in zip(rows, done, strict=True):
                out.metadata.update(batch_index=i, batch_size=len(texts))
                outputs[i] = out
        return [outputs[i] for i in range(len(texts))]

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

    def generate_stream(self, prompt: str, **kwargs: Any) -> Iterator[AudioOutput]:
        """The whole song as one final chunk (a diffusion model has no partial audio)."""
        out = self.generate(prompt, **kwargs)
        out.metadata.update(chunk_index=0, start_s=0.0, final=True)
        yield out

    # ------------------------------------------------------------------ editing
    def edit(
        self,
        task: str,
        source: Any,
        prompt: str = "",
        lyrics: str | None = None,
        *,
        start: float | None = None,
        end: float | None = None,
        strength: float = 1.0,
        track: str | None = None,
        tracks: Sequence[str] | None = None,
        seed: int | None = None,
        steps: int | None = None,
        guidance_scale: float | None = None,
        bpm: int | None = None,
        key: str | None = None,
        time_signature: str | None = None,
        vocal_language: str = "en",
        reference: Any = None,
        progress: Progress | None = None,
        cancelled: Cancelled | None = None,
    ) -> AudioOutput:
        """Edit ``source`` (a path, bytes, array at 48 kHz or AudioOutput):

        - ``repaint``: regenerate ``start..end`` seconds; outside it the audio is the source's
          (spliced back with 10 ms crossfades).
        - ``cover``: restyle the whole source after ``prompt``/``lyrics``; ``strength`` in
          [0, 1] (1 follows the source most closely).
        - ``extract``: the ``track`` (vocals, drums, bass, ...) of the source.
        - ``lego``: add a ``track`` to the source (optionally only within ``start..end``).
        - ``complete``: add ``tracks`` to the source.
        The output has the source's length.
        """
        if task not in EDIT_TASKS:
            raise InvalidInput(
                f"unknown edit task {task!r}; choose one of {', '.join(EDIT_TASKS)}",
                code="INVALID_TASK",
                details={"task": task, "tasks": list(EDIT_TASKS)},
            )
        src = self._audio(source, "source")
        length = src.shape[-1] / self.sample_rate
        text = validate_prompt(prompt) if (prompt or "").strip() else ""
        song = self._song(length, lyrics, steps, guidance_scale, bpm, key, time_signature,
                          vocal_language)  # fmt: skip
        call: dict[str, Any] = {"task_type": task, "src_audio": torch.from_numpy(src)}
        if task in ("repaint", "lego") and (start is not None or end is not None):
            lo, hi = _range(start, end, length)
            call.update(repainting_start=lo, repainting_end=hi)
        if task == "cover":
            if (
                isinstance(strength, bool)
                or not isinstance(strength, int | float)
                or not (0.0 <= strength <= 1.0)
            ):
                raise InvalidInput("strength must be within [0, 1]", code="INVALID_STRENGTH")
            if self.pipe.audio_tokenizer is None:
                raise InvalidInput(
                    f"{self.model_name!r} has no audio tokenizer, which cover needs",
                    code="UNSUPPORTED_TASK",
                )
            call["audio_cover_strength"] = float(strength)
        if task in ("extract", "lego"):
            call["track_name"] = _track(track)
        if task == "complete":
            call["complete_track_classes"] = [_track(t) for t in (tracks or ["drums", "bass"])]
        if reference is not None:
            call["reference_audio"] = torch.from_numpy(self._audio(reference, "reference"))
        meta = {"task": task, "source_seconds": length, **_task_meta(call)}
        [out] = self._run([text], [song], resolve_seeds(seed, 1), call, progress, cancelled, meta)
        if task == "repaint":
            lo, hi = call.get("repainting_start", 0.0), call.get("repainting_end", length)
            out = AudioOutput(
                _splice(src, out.samples, lo, hi, self.sample_rate), out.sample_rate, out.metadata
            )
        return out

    # ------------------------------------------------------------------ internals
    def _song(
        self,
        duration: Any,
        lyrics: Any,
        steps: Any,
        guidance: Any,
        bpm: Any,
        key: Any,
        time_signature: Any,
        language: Any,
    ) -> SongParams:
        song = SongParams.validate(
            duration=duration, max_duration=self.max_duration, lyrics=lyrics, steps=steps,
            guidance_scale=guidance, bpm=bpm, key=key, time_signature=time_signature,
            vocal_language=language,
        )  # fmt: skip
        if song.lyrics:
            tokens = len(self.pipe.tokenizer(song.lyrics)["input_ids"])
            if tokens > MAX_LYRIC_TOKENS - 32:  # the language header takes a few
                raise InvalidInput(
                    f"lyrics are {tokens} tokens long; this model reads at most "
                    f"{MAX_LYRIC_TOKENS - 32}",
                    code="INVALID_LYRICS",
                    details={"tokens": tokens, "max_tokens": MAX_LYRIC_TOKENS - 32},
                )
        return song

    def _audio(self, source: Any, name: str) -> np.ndarray:
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


def _prompts(prompts: Sequence[str]) -> list[str]:
    if isinstance(prompts, str) or not isinstance(prompts, Sequence) or not prompts:
        raise InvalidInput("prompts must be a non-empty list of strings", code="INVALID_PROMPT")
    return [validate_prompt(p) for p in prompts]


def _per_prompt(lyrics: str | Sequence[str] | None, count: int) -> list[str | None]:
    if lyrics is None or isinstance(lyrics, str):
        return [lyrics] * count
    values: list[str | None] = list(lyrics)
    if len(values) != count:
        raise InvalidInput(f"{len(values)} lyrics given for {count} prompts", code="INVALID_LYRICS")
    return values


def _range(start: float | None, end: float | None, length: float) -> tuple[float, float]:
    lo = 0.0 if start is None else float(start)
    hi = length if end is None or end < 0 else float(end)
    if not 0.0 <= lo < hi <= length + 1e-6:
        raise InvalidInput(
            f"the range {lo:g}..{hi:g} s must lie within the source's 0..{length:g} s",
            code="INVALID_RANGE",
            details={"start": lo, "end": hi, "source_seconds": length},
        )
    return lo, min(hi, length)


def _track(name: Any) -> str:
    if not isinstance(name, str) or name.strip().lower() not in TRACKS:
        raise InvalidInput(
            f"unknown track {name!r}; choose one of {', '.join(TRACKS)}",
            code="INVALID_TRACK",
            details={"tracks": list(TRACKS)},
        )
    return name.strip().lower()


def _task_meta(call: dict[str, Any]) -> dict[str, Any]:
    keys = ("repainting_start", "repainting_end", "audio_cover_strength", "track_name",
            "complete_track_classes")  # fmt: skip
    return {k: call[k] for k in keys if k in call}


def _splice(src: np.ndarray, new: np.ndarray, start: float, end: float, rate: int) -> np.ndarray:
    """``new`` inside ``start..end`` seconds, exactly ``src`` outside; 10 ms linear crossfades
    just inside the range's edges."""
    n = min(src.shape[-1], new.shape[-1])
    lo, hi = round(start * rate), min(n, round(end * rate))
    fade = max(1, round(REPAINT_FADE * rate))
    w = np.zeros(n, dtype=np.float32)  # 1 = new audio; fades lie inside the range
    w[lo:hi] = 1.0
    edge = min(fade, (hi - lo) // 2)
    if lo > 0 and edge:
        w[lo : lo + edge] = np.linspace(0.0, 1.0, edge, endpoint=False, dtype=np.float32)
    if hi < n and edge:
        w[hi - edge : hi] = np.linspace(1.0, 0.0, edge, endpoint=False, dtype=np.float32)
    return (src[:, :n] * (1.0 - w) + new[:, :n] * w).astype(np.float32)
