"""The MusicGen family: text-to-music with a MusicGen checkpoint (transformers format).

It validates what the user asks for, turns prompts, melody and continuation audio into model
inputs (``prepare`` -> ``engine.runtime.PreparedRequest``), runs the decoding loop on the chosen
engine, decodes codes to audio — at once, or chunk by chunk while decoding
(``generate_stream``) — and wraps the result in ``AudioOutput`` with metadata that tells exactly
how it was made (model, engine, every parameter, the seed actually used, timings).

Durations map to frames exactly: ``round(duration * 32000)`` output samples need
``ceil(samples / 640)`` codec frames at 50 frames/s, plus the delay pattern's 3 extra steps
(mono/stereo alike); the decoded audio is cut to the exact sample count.
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from ..audio import AudioOutput
from ..engine.batching import ContinuousBatcher
from ..engine.codec import encode_audio
from ..engine.engine import Engine
from ..engine.generate import Progress
from ..engine.loading import LoadedModel, load_model
from ..engine.runtime import PreparedRequest, Runtime, splice_prompt
from ..engine.streaming import ChunkDecoder, chunk_bounds
from ..errors import GenerationFailed, InvalidInput
from ..inputs import AudioSource, continuation_audio, melody_audio, prompt_groups
from ..params import GenerationParams, resolve_seeds, validate_prompt
from .adapters import load_row_adapter, merge_musicgen_adapter
from .base import Capability, ModelCard

__all__ = ["MusicGenFamily", "musicgen_capabilities"]


def musicgen_capabilities(melody: bool, channels: int) -> frozenset[Capability]:
    caps = {
        Capability.TEXT,
        Capability.SAMPLING,
        Capability.CONTINUATION,
        Capability.STREAM,
        Capability.BATCH,
        Capability.MULTITRACK,
    }
    if melody:
        caps.add(Capability.MELODY)
    if channels == 2:
        caps.add(Capability.STEREO)
    return frozenset(caps)


class MusicGenFamily:
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
        adapter: str | Path | None = None,
        adapter_scale: float = 1.0,
    ) -> None:
        if not 0 < stride_seconds < window_seconds:
            raise InvalidInput("stride_seconds must be within (0, window_seconds)")
        started = time.perf_counter()
        self.loaded: LoadedModel = load_model(model, device, dtype, cache_dir)
        self.adapter: dict[str, Any] | None = None
        if adapter is not None:  # merged into the weights before any engine is built on them
            self.adapter = merge_musicgen_adapter(self.loaded.model, adapter, adapter_scale, model)
            self.loaded.extra["adapter"] = self.adapter  # recorded in every output's metadata
        self.engine = Engine(self.loaded, engine, quantize)
        self.load_seconds = time.perf_counter() - started
        self.model_name = model
        self._max_duration = float(max_duration)
        self.window_seconds = float(window_seconds)
        self.stride_seconds = float(stride_seconds)
        self.runtime = Runtime(
            self.loaded, self.engine, model, self.window_seconds, self.stride_seconds
        )
        self.pattern = self.runtime.pattern
        self._batchers: weakref.WeakSet[ContinuousBatcher] = weakref.WeakSet()
        self.card = ModelCard(
            model,
            "musicgen",
            musicgen_capabilities(self.loaded.melody, self.loaded.audio_channels),
            self.loaded.sample_rate,
            self.loaded.audio_channels,
            self._max_duration,
            details={"adapter": self.adapter} if self.adapter else {},
        )

    @property
    def max_duration(self) -> float:
        return self._max_duration

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self.card.capabilities

    def batcher(self, max_requests: int = 4) -> ContinuousBatcher | None:
        """A continuous batcher over this checkpoint (None unless ``engine="fast"``)."""
        if self.engine.decoder is None:
            return None
        batcher = ContinuousBatcher(self.runtime, max_requests)
        self._batchers.add(batcher)
        return batcher

    def prepare(
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
        adapter: str | Path | None = None,
        adapter_scale: float = 1.0,
    ) -> PreparedRequest:
        """Validate one request and turn it into model inputs (for ``batcher().submit``).

        ``adapter``: a LoRA adapter for this request only, applied unmerged so that one batch
        can mix adapters (and none); loaded on first use, evicted least recently used."""
        req = self._prepare(
            [prompt], duration, temperature, top_k, top_p, seed, guidance_scale, melody,
            continuation,
        )  # fmt: skip
        if adapter is not None:
            in_use = set().union(*(b.adapters_in_use() for b in self._batchers))
            req.adapter = load_row_adapter(
                self.engine, adapter, adapter_scale, self.model_name, in_use
            )
        return req

    # ------------------------------------------------------------------ facts about the model
    @property
    def sample_rate(self) -> int:
        return self.loaded.sample_rate

    @property
    def channels(self) -> int:
        return self.loaded.audio_channels

    @property
    def frame_rate(self) -> float:
        return self.runtime.frame_rate

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
                stream = self.runtime.code_stream(req, rows)
                plan, steps = stream.plan, stream.plan.steps
                for step, _ in enumerate(stream, start=1 + g * steps):
                    if progress is not None:
                        progress(step, steps * len(groups))
                codes = stream.codes()
                codes_by_row.update({i: codes[j] for j, i in enumerate(rows)})
            all_codes = torch.stack([codes_by_row[i] for i in range(len(req.texts))])  # [B, K, T]
            t_codec = time.perf_counter()
            audio = self.runtime.audio(all_codes, req)  # [B, C, N]
        except torch.cuda.OutOfMemoryError as exc:
            raise GenerationFailed(f"out of GPU memory: {exc}", code="OUT_OF_MEMORY") from None
        done = time.perf_counter()
        timings = {
            "prepare_s": t_decode - req.started,
            "tokens_s": t_codec - t_decode,
            "codec_s": done - t_codec,
            "total_s": done - req.started,
        }
        common = self.runtime.metadata(req, plan, timings)
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
        stream = self.runtime.code_stream(req, [0])
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
                audio = splice_prompt(audio[None], req.prompt_audio, first)[0]
            meta: dict[str, Any] = {
                "chunk_index": index,
                "start_s": first / self.sample_rate,
                "final": final,
                "prompt": req.texts[0],
                "seed": req.seeds[0],
            }
            if final:
                meta.update(
                    self.runtime.metadata(
                        req, stream.plan, {"total_s": time.perf_counter() - req.started}
                    )
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
    ) -> PreparedRequest:
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
            self.loaded, continuation, num_samples, self.runtime.window_frames
        )
        prompt_codes = None
        if prompt_audio is not None:
            wav = torch.from_numpy(prompt_audio).to(self.device, self.loaded.dtype)
            prompt_codes = encode_audio(self.loaded.model.audio_encoder, wav[None], self.channels)
        return PreparedRequest(
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
