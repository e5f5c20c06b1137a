"""The MiniMax Music 3 family: songs from lyrics and a caption, through diffusers'
``MiniMaxMusic3ModularPipeline``.

What it knows: how to load the modular pipeline (``MiniMaxAI/MiniMax-Music3`` or a local
directory with its ``modular_model_index.json``: ``ModularPipeline.from_pretrained`` then
``load_components``), its card from the configs alone (44.1 kHz stereo from the vocoder, the
25 Hz frame rate and 512-sample latent hop from the condition encoder), and how a request maps
onto the pipeline's call: the prompt is the caption (the music description), ``lyrics`` the
words with ``[verse]``/``[chorus]`` structure tags on their own lines, ``duration`` the
pipeline's ``audio_duration``, ``steps`` its ``num_inference_steps`` and ``guidance_scale`` its
guider's scale (both default to the pipeline's own: 30 steps, 1.7).

What it promises: for the same caption, lyrics, duration, steps, guidance and seed,
``generate`` returns exactly what the pipeline's own call returns for
``generator=torch.Generator(device).manual_seed(seed)``, sample for sample, cut to at most
``round(duration * 44100)`` samples. The language model decides where the song ends:
``duration`` is an upper bound (the pipeline's contract). The pipeline's stitched windows
make a few latent frames more than asked on long songs (+23 ms at 30 s, +0.4 s at 300 s),
which the cut removes, and a few fewer on short ones (1 s is 86 latents of 512 samples:
44,032 samples), which stay as made (no padding); ``metadata["duration"]`` is the real length,
``requested_duration`` what was asked.

What it does not take, refused by capability at the door: reference audio (the pipeline has no
reference input), BPM, key, time signature, language (the caption may say them in words), edits,
loops and instrumentals (the pipeline sings lyrics: it refuses empty ones). One prompt is one
call: several prompts run one after the other, each with its own seed.
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..audio import AudioOutput
from ..errors import GenerationFailed, InvalidInput, ModelNotAvailable, UnknownModel
from ..params import Request, Song
from .base import Cancelled, Capability, CheckpointFiles, ModelCard, MusicFamily, Progress
from .registry import checkpoint_files
from .runner import Runner

if TYPE_CHECKING:  # torch and diffusers load with a pipeline, not with this module
    import torch

__all__ = ["MINIMAX_CLASS", "MiniMaxMusic3Family", "minimax_card"]

MINIMAX_CLASS = "MiniMaxMusic3ModularPipeline"
PUBLISHED = "MiniMaxAI/MiniMax-Music3"  # the released checkpoint on the hub
CAPABILITIES = frozenset(
    {Capability.TEXT, Capability.STEREO, Capability.LYRICS, Capability.STEPS, Capability.GUIDANCE}
)
MAX_DURATION = 300.0  # MiniMax Music 3 makes songs of up to five minutes
MAX_PROMPT_TOKENS = 5000  # the pipeline's limit on the assembled caption + lyrics prompt
_CHUNK_FRAMES, _CHUNK_HOP = 200, 100  # the pipeline's denoising windows (before_denoise.py)


def minimax_card(name: str, path: Path | None, max_duration: float = MAX_DURATION) -> ModelCard:
    """The card of a pipeline directory, read from its configs (no weights; ``None``: the
    released checkpoint's values)."""

    def config(part: str) -> dict[str, Any]:
        file = None if path is None else path / part / "config.json"
        return json.loads(file.read_text()) if file is not None and file.is_file() else {}

    vocoder, condition = config("vocoder"), config("condition_encoder")
    rate = int(vocoder.get("sampling_rate", 44100))
    frame_rate = condition.get("input_sampling_rate", 24000) / condition.get(
        "input_hop_length", 960
    )
    details = {"frame_rate": frame_rate, "latent_hop": condition.get("output_hop_length", 512)}
    size = "11.7B" if name.strip().lower() == PUBLISHED.lower() else "unknown"
    return ModelCard(
        name, MiniMaxMusic3Family.name, CAPABILITIES, rate, 2, max_duration, size, details
    )


def _load_pipeline(model: str, dtype: torch.dtype, cache_dir: str | Path | None) -> Any:
    """``ModularPipeline.from_pretrained(model)`` with every component loaded in ``dtype``."""
    from diffusers import ModularPipeline
    from diffusers.utils import logging as df_logging
    from transformers.utils import logging as tf_logging

    df_logging.set_verbosity_error()  # "guiders are experimental", progress bars
    df_logging.disable_progress_bar()
    tf_logging.disable_progress_bar()  # the language model's "Loading weights"
    path = Path(model).expanduser()
    kwargs: dict[str, Any] = {}
    if cache_dir is not None and not path.is_dir():
        kwargs["cache_dir"] = str(cache_dir)
    try:
        with warnings.catch_warnings():  # torch's weight_norm deprecation, in the vocoder
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks")  # hub client
            pipe = ModularPipeline.from_pretrained(str(path) if path.is_dir() else model, **kwargs)
            if type(pipe).__name__ != MINIMAX_CLASS:
                raise ValueError(f"its index names {type(pipe).__name__}, not {MINIMAX_CLASS}")
            pipe.load_components(dtype=dtype, **kwargs)
    except (OSError, ValueError) as exc:
        if path.is_dir():
            raise UnknownModel(
                f"{model!r} is not a readable MiniMax Music 3 pipeline: {exc}",
                details={"model": model},
            ) from None
        raise ModelNotAvailable(
            f"MiniMax Music 3 pipeline {model!r} is not in the local cache and could not be "
            f"fetched ({type(exc).__name__}); download it on a connected machine or pass a "
            "directory",
            details={"model": model},
        ) from None
    return pipe


def _quiet(blocks: Any) -> None:
    """No progress bar from any block: ``ModularPipeline.set_progress_bar_config`` reaches only
    the top-level blocks, and the denoising loop is nested one level down."""
    if hasattr(blocks, "set_progress_bar_config"):
        blocks.set_progress_bar_config(disable=True)
    for sub in getattr(blocks, "sub_blocks", {}).values():
        _quiet(sub)


class _Stopped(Exception):
    """Raised from a forward hook to stop the pipeline's call between steps (cancelled)."""


class MiniMaxMusic3Family(MusicFamily):
    """Songs with sung lyrics from MiniMax Music 3 (44.1 kHz stereo, up to 5 minutes)."""

    name = "minimax_music3"
    names = (PUBLISHED,)  # known without reading its files (a card before the download)
    class_names = (MINIMAX_CLASS,)
    packages = ("torch", "diffusers", "transformers")
    parts = ("song",)
    default_duration = 60.0  # the pipeline's own audio_duration default

    @classmethod
    def inspect(cls, files: CheckpointFiles) -> ModelCard:
        """From its configs; the published name with no files here: the released
        checkpoint's (44.1 kHz stereo, 25 Hz frames, 512-sample latents)."""
        if files.path is None:  # named: its files where the cache has them
            files = checkpoint_files(files.model)
        return minimax_card(files.model, files.path)

    @classmethod
    def check_request(cls, card: ModelCard, request: Request) -> Request:
        """The base checks, then: every prompt has lyrics to sing (the pipeline takes no
        instrumental request: its input contract needs lyrics). A request naming no duration
        gets the pipeline's 60 s, or the model's (a server's) limit where that is shorter."""
        if request.duration is None and request.edit is None:
            request = replace(request, duration=min(cls.default_duration, card.max_duration))
        checked = super().check_request(card, request)
        songs = (checked.song or Song()).per_prompt(len(checked.prompts))
        if any(not (s.lyrics if isinstance(s.lyrics, str) else "").strip() for s in songs):
            raise InvalidInput(
                f"{card.name} ({card.family}) sings lyrics and makes no instrumentals: give "
                "lyrics (structure tags such as [verse] or [chorus] on lines of their own)",
                code="INVALID_LYRICS",
                details={"model": card.name, "family": card.family},
            )
        return checked

    def __init__(
        self,
        model: str,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype | None = None,
        cache_dir: str | Path | None = None,
        *,
        max_duration: float = MAX_DURATION,
    ) -> None:
        from ..engine.loading import resolve_device, resolve_dtype

        started = time.perf_counter()
        dev = resolve_device(device)
        pipe = _load_pipeline(model, resolve_dtype(dtype, dev), cache_dir)
        self._setup(pipe.to(dev), model, max_duration)
        self.load_seconds = time.perf_counter() - started

    @classmethod
    def from_pipeline(
        cls, pipe: Any, name: str = "in-memory", max_duration: float = MAX_DURATION
    ) -> MiniMaxMusic3Family:
        """Around a ``MiniMaxMusic3ModularPipeline`` already in memory (benchmarks build them
        from configs)."""
        family = cls.__new__(cls)
        family._setup(pipe, name, max_duration)
        family.load_seconds = 0.0
        return family

    def _setup(self, pipe: Any, model: str, max_duration: float) -> None:
        self.pipe = pipe
        _quiet(pipe.blocks)
        self.model_name = model
        self.dtype = pipe.transformer.dtype
        defaults = pipe.default_call_parameters
        self.default_steps = int(defaults["num_inference_steps"])
        self.default_guidance = float(pipe.guider.guidance_scale)
        self._lock = threading.Lock()  # one call at a time: a call swaps the guider and hooks
        details = {"frame_rate": float(pipe.frame_rate), "latent_hop": pipe.latent_hop_length}
        self.card = ModelCard(
            model, self.name, CAPABILITIES, int(pipe.sampling_rate), 2,
            min(float(max_duration), MAX_DURATION), details=details,
        )  # fmt: skip

    @property
    def device(self) -> torch.device:
        return self.pipe._execution_device

    @property
    def frame_seconds(self) -> float:
        return float(self.pipe.latent_hop_length) / self.sample_rate

    def __repr__(self) -> str:
        return (
            f"MusicGenerator(model={self.model_name!r}, family='minimax_music3', "
            f"device={self.device}, dtype={self.dtype})"
        )

    def check_loaded(self, request: Request) -> Request:
        """The assembled prompt (caption + lyrics) fits the pipeline's 5,000 tokens."""
        from diffusers.modular_pipelines.minimax_music3 import encoders

        songs = (request.song or Song()).per_prompt(len(request.prompts))
        for text, song in zip(request.prompts, songs, strict=True):
            lyrics = song.lyrics if isinstance(song.lyrics, str) else ""
            assembled = encoders._clean_caption(text) + encoders._normalize_lyrics(lyrics)
            tokens = len(self.pipe.tokenizer(assembled)["input_ids"]) + 8  # + the tags
            if tokens > MAX_PROMPT_TOKENS:
                raise InvalidInput(
                    f"the caption and lyrics are {tokens} tokens long; this model reads at "
                    f"most {MAX_PROMPT_TOKENS}",
                    code="INVALID_LYRICS",
                    details={"tokens": tokens, "max_tokens": MAX_PROMPT_TOKENS},
                )
        return request

    def runner(self, capacity: int = 4) -> Runner:
        """Songs one pipeline call at a time on a thread of their own (the song runner)."""
        from .acestep_runner import SongRunner

        return SongRunner(self, capacity, max_batch=1)

    # ------------------------------------------------------------------ generation
    def _generate(
        self, request: Request, progress: Progress | None, cancelled: Cancelled | None
    ) -> list[AudioOutput]:
        """One song per prompt, each the pipeline's own call with its own seed."""
        assert request.duration is not None  # checked: the default filled in
        song = request.song or Song()
        songs = song.per_prompt(len(request.prompts))
        seeds = request.seeds()
        steps = song.steps or self.default_steps
        guidance = self.default_guidance if song.guidance_scale is None else song.guidance_scale
        outputs = []
        for i, (text, one, seed) in enumerate(zip(request.prompts, songs, seeds, strict=True)):
            lyrics = one.lyrics if isinstance(one.lyrics, str) else ""
            started = time.perf_counter()
            audio = self.call(text, lyrics, request.duration, steps, guidance, seed,
                              progress, cancelled)  # fmt: skip
            audio = audio[:, : round(request.duration * self.sample_rate)]  # at most as asked
            total = time.perf_counter() - started
            length = audio.shape[-1] / self.sample_rate
            meta = {
                "model": self.model_name,
                "family": self.name,
                "prompt": text,
                "lyrics": lyrics,
                "seed": seed,
                "duration": length,
                "requested_duration": request.duration,
                "steps": steps,
                "guidance_scale": guidance,
                "device": str(self.device),
                "dtype": str(self.dtype).removeprefix("torch."),
                "sample_rate": self.sample_rate,
                "channels": self.channels,
                "batch_index": i,
                "batch_size": len(request.prompts),
                "timings": {"total_s": total},
                "real_time_factor": total / max(length, 1e-9),
            }
            outputs.append(AudioOutput(audio, self.sample_rate, meta))
        return outputs

    def call(
        self,
        prompt: str,
        lyrics: str,
        duration: float,
        steps: int,
        guidance_scale: float,
        seed: int,
        progress: Progress | None = None,
        cancelled: Cancelled | None = None,
    ) -> Any:
        """The pipeline's own call (``[channels, samples]`` float32 numpy): ``prompt`` the
        caption, ``guidance_scale`` its guider's for this call only."""
        import torch

        generator = torch.Generator(self.device).manual_seed(seed)
        watch = self._watch(duration, steps, progress, cancelled)
        with self._lock, self._guidance(guidance_scale), watch, warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # transformers' past_key_values
            try:
                audios = self.pipe(
                    prompt=prompt,
                    lyrics=lyrics,
                    audio_duration=duration,
                    num_inference_steps=steps,
                    generator=generator,
                    output="audios",
                )
            except _Stopped:
                raise GenerationFailed("cancelled", code="CANCELLED") from None
            except ValueError as exc:  # the pipeline's own checks, or a song of no frames
                if "zero audio frames" in str(exc):
                    raise GenerationFailed(
                        f"the model ended the song before its first frame: {exc}"
                    ) from None
                raise InvalidInput(str(exc), code="INVALID_INPUT") from None
        return audios[0].astype("float32", copy=False)

    @contextmanager
    def _guidance(self, scale: float) -> Iterator[None]:
        """The pipeline's guider at ``scale`` for one call (its own guider back after)."""
        own = self.pipe.guider
        if scale == own.guidance_scale:
            yield
            return
        self.pipe.update_components(guider=own.new(guidance_scale=scale))
        try:
            yield
        finally:
            self.pipe.update_components(guider=own)

    @contextmanager
    def _watch(
        self, duration: float, steps: int, progress: Progress | None, cancelled: Cancelled | None
    ) -> Iterator[None]:
        """Progress and cancellation through forward pre-hooks: one unit per autoregressive
        frame (the language model's forward), then one per denoising step (the transformer's,
        once per guider pass). A cancelled call stops before the next forward."""
        if progress is None and cancelled is None:
            yield
            return
        frames = min(int(duration * self.pipe.frame_rate), 9000)
        chunks = 1 if frames <= _CHUNK_FRAMES else len(range(0, frames - _CHUNK_HOP, _CHUNK_HOP))
        total = frames + chunks * steps
        passes = max(1, int(self.pipe.guider.num_conditions))
        seen = {"lm": 0, "dit": 0}

        def hook(kind: str) -> Any:
            def before(module: Any, args: Any) -> None:
                if cancelled is not None and cancelled():
                    raise _Stopped
                seen[kind] += 1
                done = min(seen["lm"] - 1, frames)
                if seen["dit"]:
                    done = frames + (seen["dit"] + passes - 1) // passes
                if progress is not None:
                    progress(max(0, min(done, total)), total)

            return before

        handles = [
            self.pipe.language_model.model.register_forward_pre_hook(hook("lm")),
            self.pipe.transformer.register_forward_pre_hook(hook("dit")),
        ]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()
        if progress is not None:
            progress(total, total)
