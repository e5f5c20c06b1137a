"""``MusicGenerator``: the library's front door.

It validates what the user asks for, turns prompts, melody and continuation audio into model
inputs (``inputs``), runs the decoding loop (``engine.generate``) on the chosen engine, decodes
codes to audio — at once, or chunk by chunk while decoding (``generate_stream``) — and wraps the
result in ``AudioOutput`` with metadata that tells exactly how it was made (model, engine, every
parameter, the seed actually used, timings).

Durations map to frames exactly: ``round(duration * 32000)`` output samples need
``ceil(samples / 640)`` codec frames at 50 frames/s, plus the delay pattern's 3 extra steps
(mono/stereo alike); the decoded audio is cut to the exact sample count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .audio import AudioOutput
from .engine.codec import decode_audio, encode_audio
from .engine.conditioning import Condition, encode_condition
from .engine.engine import Engine
from .engine.generate import CodeStream, DecodePlan, Progress
from .engine.loading import LoadedModel, load_model
from .engine.patterns import DelayPattern
from .engine.sampling import SamplingParams
from .engine.streaming import ChunkDecoder, chunk_bounds
from .errors import GenerationFailed, InvalidInput
from .inputs import (
    AudioSource,
    continuation_audio,
    melody_audio,
    prompt_groups,
    window_chroma,
)
from .params import GenerationParams, resolve_seeds, validate_prompt

__all__ = ["MusicGenerator"]

#: crossfade (samples) where a continuation's own audio hands over to the generated audio
_SPLICE_FADE = 320


@dataclass
class _Request:
    """One validated call, its inputs prepared for the decoder."""

    texts: list[str]
    params: GenerationParams
    seeds: list[int]
    num_samples: int
    total_frames: int
    melody: np.ndarray | None
    prompt_audio: np.ndarray | None  # [C, N] continuation samples
    prompt_codes: torch.Tensor | None  # [1, K, P]
    started: float


class MusicGenerator:
    """Text-to-music with a MusicGen checkpoint.

    ``model`` is a hub id (``"facebook/musicgen-small"``, or a short name such as
    ``"musicgen-melody"``) or a local checkpoint directory in the Hugging Face format.
    ``device="auto"`` picks cuda, then mps, then cpu; ``dtype`` defaults to bfloat16/float16 on
    GPU and float32 on CPU. The checkpoint loads in the constructor.

    One window is ``window_seconds`` (30 s, what MusicGen was trained on); longer outputs are
    made window by window, each re-prompted with the previous window's last
    ``window_seconds - stride_seconds`` seconds; ``max_duration`` caps one request.

    ``engine="fast"`` (default) decodes with our own decoder (static KV cache; CUDA graphs on
    GPU); ``engine="reference"`` with transformers' decoder modules (token-exact with its
    ``generate``). ``quantize="int8"`` stores the fast decoder's linear weights in int8
    (weight-only, per-channel scales).
    """

    def __new__(cls, model: str = "facebook/musicgen-small", *args: Any, **kwargs: Any) -> Any:
        """``model="composer"`` gives the composer engine (no weights) behind this interface."""
        if cls is MusicGenerator and isinstance(model, str) and model.strip() == "composer":
            from .compose.generator import ComposerGenerator

            return super().__new__(ComposerGenerator)
        return super().__new__(cls)

    def __init__(
        self,
        model: str = "facebook/musicgen-small",
        device: str | torch.device = "auto",
        dtype: str | torch.dtype | None = None,
        cache_dir: str | Path | None = None,
        *,
        max_duration: float = 300.0,
        window_seconds: float = 30.0,
        stride_seconds: float = 18.0,
        engine: str = "fast",
        quantize: str | None = None,
    ) -> None:
        if not 0 < stride_seconds < window_seconds:
            raise InvalidInput("stride_seconds must be within (0, window_seconds)")
        started = time.perf_counter()
        self.loaded: LoadedModel = load_model(model, device, dtype, cache_dir)
        self.engine = Engine(self.loaded, engine, quantize)
        self.load_seconds = time.perf_counter() - started
        self.model_name = model
        self.max_duration = float(max_duration)
        self.window_seconds = float(window_seconds)
        self.stride_seconds = float(stride_seconds)
        config = self.loaded.model.decoder.config
        pad = self.loaded.model.generation_config.pad_token_id
        self.pattern = DelayPattern(
            config.num_codebooks, config.audio_channels, config.pad_token_id if pad is None else pad
        )

    # ------------------------------------------------------------------ facts about the model
    @property
    def sample_rate(self) -> int:
        return self.loaded.sample_rate

    @property
    def channels(self) -> int:
        return self.loaded.audio_channels

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.loaded.hop_length

    @property
    def supports_melody(self) -> bool:
        return self.loaded.melody

    @property
    def device(self) -> torch.device:
        return self.loaded.device

    def __repr__(self) -> str:
        return (
            f"MusicGenerator(model={self.model_name!r}, engine={self.engine.name!r}, "
            f"device={self.device}, dtype={self.loaded.dtype}, channels={self.channels}, "
            f"melody={self.supports_melody})"
        )

    # ------------------------------------------------------------------ generation
    def generate(
        self,
        prompt: str,
        duration: float = 10.0,
        temperature: float = 1.0,
        top_k: int = 250,
        top_p: float = 0.0,
        seed: int | None = None,
        guidance_scale: float = 3.0,
        melody: AudioSource | None = None,
        continuation: AudioSource | None = None,
        progress: Progress | None = None,
    ) -> AudioOutput:
        """Generate ``duration`` seconds of audio for ``prompt``.

        ``melody`` (melody checkpoints only) conditions on the chroma of an audio file, array or
        AudioOutput; ``continuation`` continues an audio prompt: the output starts with that
        audio and ``duration`` is the total length. ``progress(steps_done, steps_total)`` is
        called after every decoder step.
        """
        return self.generate_batch(
            [prompt],
            duration,
            temperature,
            top_k,
            top_p,
            seed,
            guidance_scale,
            melody,
            continuation,
            progress,
        )[0]

    def generate_batch(
        self,
        prompts: Sequence[str],
        duration: float = 10.0,
        temperature: float = 1.0,
        top_k: int = 250,
        top_p: float = 0.0,
        seed: int | Sequence[int] | None = None,
        guidance_scale: float = 3.0,
        melody: AudioSource | None = None,
        continuation: AudioSource | None = None,
        progress: Progress | None = None,
    ) -> list[AudioOutput]:
        """Generate one output per prompt in one padded decoder pass.

        ``seed``: an int seeds every output with it (an output depends only on its prompt and
        seed, never on its batch or position), a sequence gives each prompt its own, ``None``
        draws fresh seeds (recorded in each output's metadata).
        """
        req = self._prepare(
            prompts, duration, temperature, top_k, top_p, seed, guidance_scale, melody, continuation
        )
        groups = prompt_groups(self.loaded, req.texts)
        codes_by_row: dict[int, torch.Tensor] = {}
        t_decode = time.perf_counter()
        try:
            for g, rows in enumerate(groups):
                stream = self._code_stream(req, rows)
                plan, steps = stream.plan, stream.plan.steps
                for step, _ in enumerate(stream, start=1 + g * steps):
                    if progress is not None:
                        progress(step, steps * len(groups))
                codes = stream.codes()
                codes_by_row.update({i: codes[j] for j, i in enumerate(rows)})
            all_codes = torch.stack([codes_by_row[i] for i in range(len(req.texts))])  # [B, K, T]
            t_codec = time.perf_counter()
            wave = decode_audio(self.loaded.model.audio_encoder, all_codes, self.channels)
        except torch.cuda.OutOfMemoryError as exc:
            raise GenerationFailed(f"out of GPU memory: {exc}", code="OUT_OF_MEMORY") from None
        audio = wave[..., : req.num_samples].cpu().numpy()  # [B, C, N]
        if req.prompt_audio is not None:
            audio = _splice_prompt(audio, req.prompt_audio, 0)
        done = time.perf_counter()
        timings = {
            "prepare_s": t_decode - req.started,
            "tokens_s": t_codec - t_decode,
            "codec_s": done - t_codec,
            "total_s": done - req.started,
        }
        common = self._metadata(req, plan, timings)
        common.update(decoder_passes=len(groups), batch_size=len(req.texts))
        return [
            AudioOutput(
                audio[i],
                self.sample_rate,
                {**common, "prompt": req.texts[i], "seed": req.seeds[i], "batch_index": i},
            )
            for i in range(len(req.texts))
        ]

    def generate_stream(
        self,
        prompt: str,
        duration: float = 10.0,
        temperature: float = 1.0,
        top_k: int = 250,
        top_p: float = 0.0,
        seed: int | None = None,
        guidance_scale: float = 3.0,
        melody: AudioSource | None = None,
        continuation: AudioSource | None = None,
        *,
        chunk_seconds: float = 1.0,
        first_chunk_seconds: float = 0.25,
    ) -> Iterator[AudioOutput]:
        """Yield the audio in chunks while it is generated (same audio as ``generate`` with the
        same seed, up to the chunked codec decode's small error; see ``engine.streaming``).

        The first chunk is ``first_chunk_seconds`` long (latency), then ``chunk_seconds`` each;
        every chunk's metadata has ``chunk_index``, ``start_s`` and ``final``; the last chunk's
        carries the whole generation's metadata too.
        """
        if not (first_chunk_seconds > 0 and chunk_seconds > 0):
            raise InvalidInput("chunk sizes must be > 0 seconds")
        req = self._prepare(
            [prompt],
            duration,
            temperature,
            top_k,
            top_p,
            seed,
            guidance_scale,
            melody,
            continuation,
        )
        hop = self.loaded.hop_length
        chunks = ChunkDecoder(self.loaded.model.audio_encoder, self.channels, hop)
        stream = self._code_stream(req, [0])
        bounds = chunk_bounds(
            req.total_frames,
            max(1, round(first_chunk_seconds * self.frame_rate)),
            max(1, round(chunk_seconds * self.frame_rate)),
        )
        pending: tuple[int, int] | None = next(bounds)
        index = 0

        def emit(start: int, end: int, final: bool) -> AudioOutput:
            wave = chunks.decode(
                stream.codes(min(req.total_frames, end + chunks.lookahead)), start, end
            )
            first, last = start * hop, min(end * hop, req.num_samples)
            audio = wave[0, :, : last - first].cpu().numpy()
            if req.prompt_audio is not None:
                audio = _splice_prompt(audio[None], req.prompt_audio, first)[0]
            meta: dict[str, Any] = {
                "chunk_index": index,
                "start_s": first / self.sample_rate,
                "final": final,
                "prompt": req.texts[0],
                "seed": req.seeds[0],
            }
            if final:
                meta.update(
                    self._metadata(req, stream.plan, {"total_s": time.perf_counter() - req.started})
                )
            return AudioOutput(audio, self.sample_rate, meta)

        for final_frames in stream:
            while pending is not None and chunks.ready(pending[1], final_frames, req.total_frames):
                upcoming = next(bounds, None)
                yield emit(*pending, final=upcoming is None)
                index += 1
                pending = upcoming
        while pending is not None:  # whatever the last step completed
            upcoming = next(bounds, None)
            yield emit(*pending, final=upcoming is None)
            index += 1
            pending = upcoming

    # ------------------------------------------------------------------ internals
    def _prepare(
        self,
        prompts: Sequence[str],
        duration: Any,
        temperature: Any,
        top_k: Any,
        top_p: Any,
        seed: Any,
        guidance_scale: Any,
        melody: AudioSource | None,
        continuation: AudioSource | None,
    ) -> _Request:
        started = time.perf_counter()
        if isinstance(prompts, str) or not isinstance(prompts, Sequence) or not prompts:
            raise InvalidInput("prompts must be a non-empty list of strings", code="INVALID_PROMPT")
        texts = [validate_prompt(p) for p in prompts]
        params = GenerationParams.validate(
            duration=duration,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            guidance_scale=guidance_scale,
            max_duration=self.max_duration,
        )
        seeds = resolve_seeds(seed, len(texts))
        num_samples = round(params.duration * self.sample_rate)
        melody_samples = melody_audio(self.loaded, self.model_name, melody)
        prompt_audio = continuation_audio(
            self.loaded, continuation, num_samples, self._window_frames
        )
        prompt_codes = None
        if prompt_audio is not None:
            wav = torch.from_numpy(prompt_audio).to(self.device, self.loaded.dtype)
            prompt_codes = encode_audio(self.loaded.model.audio_encoder, wav[None], self.channels)
        return _Request(
            texts,
            params,
            seeds,
            num_samples,
            math.ceil(num_samples / self.loaded.hop_length),
            melody_samples,
            prompt_audio,
            prompt_codes,
            started,
        )

    @property
    def _window_frames(self) -> int:
        return round(self.window_seconds * self.frame_rate)

    def _code_stream(self, req: _Request, rows: list[int]) -> CodeStream:
        """The decoding of ``rows`` of a request, as an iterator of steps."""
        tokens = self.loaded.tokenizer(
            [req.texts[i] for i in rows], return_tensors="pt", padding=True
        )
        ids = tokens["input_ids"].to(self.device)
        mask = tokens["attention_mask"].to(self.device)
        guided = req.params.guidance_scale != 1.0
        hop = self.loaded.hop_length

        def condition_for(start_frame: int) -> Condition:
            chroma = None
            if req.melody is not None:
                chroma = window_chroma(
                    self.loaded, req.melody, start_frame * hop, self.window_seconds, len(rows)
                )
            return encode_condition(self.loaded.model, ids, mask, guided=guided, chroma=chroma)

        p = req.params
        prompt = None if req.prompt_codes is None else req.prompt_codes.expand(len(rows), -1, -1)
        return CodeStream(
            self.engine.session,
            condition_for,
            self.pattern,
            len(rows),
            req.total_frames,
            SamplingParams(p.temperature, p.top_k, p.top_p),
            p.guidance_scale,
            [torch.Generator(self.device).manual_seed(req.seeds[i]) for i in rows],
            prompt_codes=prompt,
            window_frames=self._window_frames,
            stride_frames=round(self.stride_seconds * self.frame_rate),
        )

    def _metadata(
        self, req: _Request, plan: DecodePlan, timings: dict[str, float]
    ) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "model_path": str(self.loaded.path),
            "engine": self.engine.name,
            "quantize": self.engine.quantize,
            "device": str(self.device),
            "dtype": str(self.loaded.dtype).removeprefix("torch."),
            **req.params.to_dict(),
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "frames": req.total_frames,
            "steps": plan.steps,
            "windows": len(plan.windows),
            "melody": req.melody is not None,
            "continuation_seconds": None
            if req.prompt_audio is None
            else req.prompt_audio.shape[-1] / self.sample_rate,
            "timings": timings,
            "real_time_factor": timings["total_s"] / req.params.duration,
        }


def _splice_prompt(audio: np.ndarray, prompt: np.ndarray, offset: int) -> np.ndarray:
    """Put the continuation's own samples back where they fall in ``audio [B, C, n]`` (which
    starts at sample ``offset``), crossfading into the generation over the last 10 ms."""
    n = prompt.shape[-1]
    fade = min(_SPLICE_FADE, n // 2)
    weight = np.zeros(n, dtype=np.float32)  # 0 = prompt, 1 = generated
    weight[n - fade :] = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    lo, hi = offset, min(n, offset + audio.shape[-1])
    if hi <= lo:
        return audio
    out = audio.copy()
    w = weight[lo:hi]
    out[..., : hi - lo] = prompt[None, :, lo:hi] * (1 - w) + audio[..., : hi - lo] * w
    return out
