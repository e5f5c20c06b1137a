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

import contextlib
import math
import time
import weakref
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..audio import AudioOutput
from ..engine.hub import _known
from ..errors import GenerationFailed, InvalidInput
from ..params import Conditioning, GenerationParams, Request, Sampling
from .base import (
    ADAPTER_OPTIONS,
    Cancelled,
    Capability,
    CheckpointFiles,
    ModelCard,
    MusicFamily,
    Progress,
)
from .runner import Runner

if TYPE_CHECKING:  # torch and the engine load with a checkpoint, not with this module
    import torch

    from ..engine.batching import ContinuousBatcher
    from ..engine.runtime import PreparedRequest

__all__ = ["MusicGenFamily", "musicgen_capabilities"]

MAX_DURATION = 300.0


def musicgen_capabilities(melody: bool, channels: int) -> frozenset[Capability]:
    caps = {
        Capability.TEXT,
        Capability.SAMPLING,
        Capability.GUIDANCE,
        Capability.CONTINUATION,
        Capability.STREAM,
        Capability.BATCH,
        Capability.MULTITRACK,
        Capability.LOOP,
        Capability.PLAN,  # window by window, each continued from the last (families.plans)
        Capability.ADAPTER,  # per request, unmerged in the continuous batch (engine.lora)
    }
    if melody:
        caps.add(Capability.MELODY)
    if channels == 2:
        caps.add(Capability.STEREO)
    return frozenset(caps)


def _adapter_meta(req: PreparedRequest) -> dict[str, Any]:
    """What an output records of its request's own adapter (as the batcher records it)."""
    if req.adapter is None:  # "<folder>@<scale>"
        return {}
    folder, _, scale = req.adapter.rpartition("@")
    return {"adapter": {"adapter": folder, "adapter_scale": float(scale)}}


class MusicGenFamily(MusicFamily):
    """Text-to-music with a MusicGen checkpoint.

    ``model`` is a hub id (``"facebook/musicgen-small"``, or a short name such as
    ``"musicgen-melody"``) or a local checkpoint directory in the Hugging Face format.
    ``device="auto"`` picks cuda, then mps, then cpu; ``dtype`` defaults to bfloat16/float16 on
    GPU and float32 on CPU. The checkpoint loads in the constructor.

    One window is ``window_seconds`` (30 s, what MusicGen was trained on); longer outputs are
    made window by window, each re-prompted with the previous window's last
    ``window_seconds - stride_seconds`` seconds; ``max_duration`` caps one request.

    ``engine="fast"`` (default) decodes with our own decoder (static KV cache; CUDA graphs on
    GPU); ``engine="onnxruntime"`` (CPU, float32 load, the ``cpu`` extra) runs every step after
    the prefill on ONNX Runtime's kernels; ``engine="reference"`` with transformers' decoder
    modules (token-exact with its ``generate``). ``quantize="int8"`` / ``"int4"`` store the
    fast or onnxruntime decoder's linear weights in int8 / int4.
    """

    name = "musicgen"
    model_types = ("musicgen", "musicgen_melody")
    fallback = True  # a published name, or a repo not cached: its loader says what is wrong
    packages = ("torch", "transformers")
    options: ClassVar[Mapping[str, Any]] = {
        "engine": "fast",
        "quantize": None,
        "window_seconds": 30.0,
        "stride_seconds": 18.0,
        **ADAPTER_OPTIONS,
    }
    parts = ("sampling", "conditioning")

    @classmethod
    def claims(cls, files: CheckpointFiles) -> bool:
        return super().claims(files) or _known(files.model) is not None

    @classmethod
    def inspect(cls, files: CheckpointFiles) -> ModelCard:
        info = _known(files.model)
        size, channels, melody, rate = "unknown", 1, False, 32000
        if info is not None:
            size, channels, melody = info.parameters, info.channels, info.melody
        elif files.config is not None:
            config = files.config
            decoder, codec = config.get("decoder", {}), config.get("audio_encoder", {})
            channels = int(decoder.get("audio_channels", 1))
            melody = config.get("model_type") == "musicgen_melody"
            rate = int(codec.get("sampling_rate", 32000))
        return ModelCard(
            files.model, cls.name, musicgen_capabilities(melody, channels), rate, channels,
            MAX_DURATION, size,
        )  # fmt: skip

    def __init__(
        self,
        model: str = "facebook/musicgen-small",
        device: str | torch.device = "auto",
        dtype: str | torch.dtype | None = None,
        cache_dir: str | Path | None = None,
        *,
        max_duration: float = MAX_DURATION,
        window_seconds: float = 30.0,
        stride_seconds: float = 18.0,
        engine: str = "fast",
        quantize: str | None = None,
        adapter: str | Path | None = None,
        adapter_scale: float = 1.0,
    ) -> None:
        from ..engine.engine import Engine
        from ..engine.loading import load_model
        from ..engine.runtime import Runtime

        if not 0 < stride_seconds < window_seconds:
            raise InvalidInput("stride_seconds must be within (0, window_seconds)")
        started = time.perf_counter()
        self.loaded = load_model(model, device, dtype, cache_dir)
        self.adapter: dict[str, Any] | None = None
        if adapter is not None:  # merged into the weights before any engine is built on them
            from .adapters import merge_musicgen_adapter

            self.adapter = merge_musicgen_adapter(self.loaded.model, adapter, adapter_scale, model)
            self.loaded.extra["adapter"] = self.adapter  # recorded in every output's metadata
        self.engine = Engine(self.loaded, engine, quantize)
        self.load_seconds = time.perf_counter() - started
        self.model_name = model
        self.window_seconds = float(window_seconds)
        self.stride_seconds = float(stride_seconds)
        self.runtime = Runtime(
            self.loaded, self.engine, model, self.window_seconds, self.stride_seconds
        )
        self.pattern = self.runtime.pattern
        self._batchers: weakref.WeakSet[ContinuousBatcher] = weakref.WeakSet()
        self._running_adapters: Counter[str] = Counter()  # of whole runs and streams
        self.card = ModelCard(
            model,
            self.name,
            musicgen_capabilities(self.loaded.melody, self.loaded.audio_channels),
            self.loaded.sample_rate,
            self.loaded.audio_channels,
            float(max_duration),
            details={"adapter": self.adapter} if self.adapter else {},
        )

    def runner(self, capacity: int = 4) -> Runner:
        """Its continuous batcher, streams beside it (``families.musicgen_runner``)."""
        from .musicgen_runner import MusicGenRunner

        return MusicGenRunner(self, capacity)

    def batcher(self, max_requests: int = 4) -> ContinuousBatcher | None:
        """A continuous batcher over this checkpoint (None unless ``engine="fast"``)."""
        from ..engine.batching import ContinuousBatcher

        if self.engine.decoder is None:
            return None
        batcher = ContinuousBatcher(self.runtime, max_requests)
        self._batchers.add(batcher)
        return batcher

    def prepare(
        self,
        prompt: str,
        *,
        adapter: str | Path | None = None,
        adapter_scale: float = 1.0,
        **params: Any,
    ) -> PreparedRequest:
        """Validate one request (``generate``'s keywords) and turn it into model inputs (for
        ``batcher().submit``).

        ``adapter``: a LoRA adapter for this request only, applied unmerged so that one batch
        can mix adapters (and none); loaded on first use, evicted least recently used."""
        req = self._prepare(self.check_inputs(self.request([prompt], **params)))
        if adapter is not None:
            req.adapter = self._load_row_adapter(adapter, adapter_scale)
        return req

    def _load_row_adapter(self, adapter: str | Path, scale: float) -> str:
        """The adapter unmerged on the fast decoder (``adapters.load_row_adapter``), never
        evicting one a queued or running request uses."""
        from .adapters import load_row_adapter

        in_use = set().union(*(b.adapters_in_use() for b in self._batchers))
        in_use |= {name for name, n in self._running_adapters.items() if n > 0}
        return load_row_adapter(self.engine, adapter, scale, self.model_name, in_use)

    @contextlib.contextmanager
    def _adapter_rows(self, name: str | None) -> Iterator[None]:
        """Every row of the forwards inside decodes with adapter ``name`` (a request run
        alone: whole, or one chunk of a stream; the batcher sets its rows itself)."""
        installed = None if name is None else getattr(self.engine.decoder, "row_lora", None)
        if installed is None or name is None:
            yield
            return
        installed[0].use(name)
        self._running_adapters[name] += 1
        try:
            yield
        finally:
            installed[0].use(None)
            self._running_adapters[name] -= 1

    def _adapted(self, steps: Iterable[Any], name: str | None) -> Iterator[Any]:
        """``steps`` advanced with adapter ``name`` on, one step at a time (a stream's steps
        interleave with the batcher's, which sets its own rows)."""
        it = iter(steps)
        while True:
            with self._adapter_rows(name):
                try:
                    item = next(it)
                except StopIteration:
                    return
            yield item

    def prepare_request(self, request: Request) -> PreparedRequest:
        """Model inputs for a request ``check_request`` validated already (a job's)."""
        return self._prepare(self.check_loaded(request))

    # ------------------------------------------------------------------ facts about the model
    @property
    def frame_rate(self) -> float:
        return self.runtime.frame_rate

    @property
    def supports_melody(self) -> bool:
        return bool(self.loaded.melody)

    @property
    def frame_seconds(self) -> float:
        return self.loaded.hop_length / self.sample_rate  # 640 / 32000: 50 frames/s

    @property
    def context_seconds(self) -> float:
        return self.window_seconds - self.stride_seconds  # as long windows overlap

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
    def _generate(
        self, request: Request, progress: Progress | None, cancelled: Cancelled | None
    ) -> list[AudioOutput]:
        """All prompts in one padded decoder pass (melody checkpoints: one per prompt length).

        ``melody`` (melody checkpoints only) conditions on the chroma of an audio file, array or
        AudioOutput; ``continuation`` continues an audio prompt: the output starts with that
        audio and ``duration`` is the total length.
        """
        import torch

        from ..inputs import prompt_groups

        req = self._prepare(request)
        groups = prompt_groups(self.loaded, req.texts)
        codes_by_row: dict[int, torch.Tensor] = {}
        t_decode = time.perf_counter()
        try:
            for g, rows in enumerate(groups):
                stream = self.runtime.code_stream(req, rows)
                plan, steps = stream.plan, stream.plan.steps
                for step, _ in enumerate(self._adapted(stream, req.adapter), start=1 + g * steps):
                    if progress is not None:
                        progress(step, steps * len(groups))
                    if cancelled is not None and cancelled():
                        raise GenerationFailed("cancelled", code="CANCELLED")
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
        common.update(_adapter_meta(req))
        return [
            AudioOutput(
                audio[i],
                self.sample_rate,
                {**common, "prompt": req.texts[i], "seed": req.seeds[i], "batch_index": i},
            )
            for i in range(len(req.texts))
        ]

    def _stream(
        self, request: Request, chunk_seconds: float, first_chunk_seconds: float
    ) -> Iterator[AudioOutput]:
        """The audio in chunks while it is generated (same audio as ``generate`` with the
        same seed, up to the chunked codec decode's small error; see ``engine.streaming``)."""
        from ..engine.runtime import splice_prompt
        from ..engine.streaming import ChunkDecoder, chunk_bounds

        req = self._prepare(request)
        hop = self.loaded.hop_length
        chunks = ChunkDecoder(self.runtime.codec, self.channels, hop, req.total_frames)
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
                meta.update(_adapter_meta(req))
            return AudioOutput(audio, self.sample_rate, meta)

        for final_frames in self._adapted(stream, req.adapter):
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
    def _prepare(self, request: Request) -> PreparedRequest:
        """A validated request as model inputs: seeds drawn, audio read and encoded."""
        import torch

        from ..engine.codec import encode_audio
        from ..engine.runtime import PreparedRequest
        from ..inputs import continuation_audio, melody_audio

        started = time.perf_counter()
        duration = float(request.duration or self.default_duration)
        params = GenerationParams.of(duration, request.sampling or Sampling())
        cond = request.conditioning or Conditioning()
        texts = list(request.prompts)
        seeds = request.seeds()
        num_samples = round(duration * self.sample_rate)
        melody_samples = melody_audio(self.loaded, self.model_name, cond.melody)
        prompt_audio = continuation_audio(
            self.loaded, cond.continuation, num_samples, self.runtime.window_frames
        )
        prompt_codes = None
        if prompt_audio is not None:
            wav = torch.from_numpy(prompt_audio).to(self.device, self.loaded.dtype)
            prompt_codes = encode_audio(self.loaded.model.audio_encoder, wav[None], self.channels)
        prepared = PreparedRequest(
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
        if request.adapter is not None:  # this request's own, unmerged (engine.lora)
            prepared.adapter = self._load_row_adapter(request.adapter.name, request.adapter.scale)
        return prepared
