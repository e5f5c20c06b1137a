"""One loaded MusicGen checkpoint ready to decode: its engine, delay pattern and window geometry.

``Runtime`` is what every decoding path shares — one request at a time (``code_stream``), the
continuous batcher (``engine.batching``) and the chunked stream: how a prepared request's
condition is built for a window (text, and the melody's chroma under that window), how its
windows are planned, how codes become the request's exact samples (cut, continuation spliced
back), and the metadata that tells how it was made.

``PreparedRequest`` is a validated request turned into model inputs. Building one (validation,
reading audio files) is the MusicGen family's job (``families.musicgen``); this module only
consumes them, so the engine never depends on the library's front door.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..audio.chroma import melody_chroma
from ..params import GenerationParams
from .codec import bf16_supported, decode_audio, decoding_codec
from .conditioning import Condition, encode_condition
from .engine import Engine
from .generate import CodeStream, DecodePlan, plan_windows
from .loading import LoadedModel
from .patterns import DelayPattern
from .sampling import SamplingParams

__all__ = ["PreparedRequest", "Runtime", "splice_prompt", "window_chroma"]

#: crossfade (samples) where a continuation's own audio hands over to the generated audio
SPLICE_FADE = 320


@dataclass
class PreparedRequest:
    """One validated call, its inputs prepared for the decoder."""

    texts: list[str]
    params: GenerationParams
    seeds: list[int]
    num_samples: int
    total_frames: int
    melody: np.ndarray | None  # mono samples at the chroma's rate
    prompt_audio: np.ndarray | None  # [C, N] continuation samples
    prompt_codes: torch.Tensor | None  # [1, K, P]
    started: float
    adapter: str | None = None  # an unmerged adapter in the decoder's AdapterBank (lora.py)


def window_chroma(
    loaded: LoadedModel, melody: np.ndarray, offset: int, window_seconds: float, batch: int
) -> torch.Tensor:
    """Chroma ``[batch, frames, 12]`` of the melody under the window starting at sample
    ``offset``, wrapping around a melody shorter than the output (as audiocraft does)."""
    assert loaded.chroma is not None
    window = round(window_seconds * loaded.chroma.sampling_rate)
    length = min(len(melody), window)
    segment = melody[(offset + np.arange(length)) % len(melody)]
    chroma = melody_chroma(segment, loaded.chroma.sampling_rate, loaded.chroma)
    return chroma.to(loaded.device, loaded.dtype).expand(batch, -1, -1)


def splice_prompt(audio: np.ndarray, prompt: np.ndarray, offset: int) -> np.ndarray:
    """Put the continuation's own samples back where they fall in ``audio [B, C, n]`` (which
    starts at sample ``offset``), crossfading into the generation over the last 10 ms."""
    n = prompt.shape[-1]
    fade = min(SPLICE_FADE, n // 2)
    weight = np.zeros(n, dtype=np.float32)  # 0 = prompt, 1 = generated
    weight[n - fade :] = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    lo, hi = offset, min(n, offset + audio.shape[-1])
    if hi <= lo:
        return audio
    out = audio.copy()
    w = weight[lo:hi]
    out[..., : hi - lo] = prompt[None, :, lo:hi] * (1 - w) + audio[..., : hi - lo] * w
    return out


class Runtime:
    """A loaded checkpoint, its engine, its delay pattern and its window geometry."""

    def __init__(
        self,
        loaded: LoadedModel,
        engine: Engine,
        model_name: str,
        window_seconds: float,
        stride_seconds: float,
    ) -> None:
        self.loaded, self.engine, self.model_name = loaded, engine, model_name
        self.window_seconds = window_seconds
        self.stride_seconds = stride_seconds
        config = loaded.model.decoder.config
        pad = loaded.model.generation_config.pad_token_id
        self.pattern = DelayPattern(
            config.num_codebooks, config.audio_channels, config.pad_token_id if pad is None else pad
        )
        # the quantized CPU settings (not exact anyway) decode EnCodec in bfloat16 where the CPU
        # multiplies it natively; everything else decodes with the checkpoint's own codec
        fast = engine.quantize is not None and loaded.device.type == "cpu"
        self.codec = decoding_codec(
            loaded.model.audio_encoder, fast and loaded.dtype == torch.float32 and bf16_supported()
        )

    # ------------------------------------------------------------------ geometry
    @property
    def device(self) -> torch.device:
        return self.loaded.device

    @property
    def frame_rate(self) -> float:
        return self.loaded.sample_rate / self.loaded.hop_length

    @property
    def window_frames(self) -> int:
        return round(self.window_seconds * self.frame_rate)

    @property
    def stride_frames(self) -> int:
        return round(self.stride_seconds * self.frame_rate)

    def plan(self, req: PreparedRequest) -> DecodePlan:
        prompt = 0 if req.prompt_codes is None else req.prompt_codes.shape[-1]
        return plan_windows(
            self.pattern, req.total_frames, prompt, self.window_frames, self.stride_frames
        )

    # ------------------------------------------------------------------ decoding
    def condition(
        self, req: PreparedRequest, rows: list[int], start_frame: int, guided: bool
    ) -> Condition:
        """The condition of ``rows`` for the window starting at ``start_frame``."""
        tokens = self.loaded.tokenizer(
            [req.texts[i] for i in rows], return_tensors="pt", padding=True
        )
        chroma = None
        if req.melody is not None:
            offset = start_frame * self.loaded.hop_length
            chroma = window_chroma(self.loaded, req.melody, offset, self.window_seconds, len(rows))
        return encode_condition(
            self.loaded.model,
            tokens["input_ids"].to(self.device),
            tokens["attention_mask"].to(self.device),
            guided=guided,
            chroma=chroma,
        )

    def code_stream(self, req: PreparedRequest, rows: list[int]) -> CodeStream:
        """The decoding of ``rows`` of a request, as an iterator of steps."""
        p = req.params
        guided = p.guidance_scale != 1.0
        prompt = None if req.prompt_codes is None else req.prompt_codes.expand(len(rows), -1, -1)
        session = self.engine.session
        if req.adapter is not None:  # its LoRA runs outside any captured CUDA graph
            session = functools.partial(self.engine.session, graph=False)
        return CodeStream(
            session,
            lambda start: self.condition(req, rows, start, guided),
            self.pattern,
            len(rows),
            req.total_frames,
            SamplingParams(p.temperature, p.top_k, p.top_p),
            p.guidance_scale,
            [torch.Generator(self.device).manual_seed(req.seeds[i]) for i in rows],
            prompt_codes=prompt,
            window_frames=self.window_frames,
            stride_frames=self.stride_frames,
        )

    def audio(self, codes: torch.Tensor, req: PreparedRequest) -> np.ndarray:
        """Codes ``[B, K, T]`` -> the request's exact samples ``[B, C, N]``."""
        wave = decode_audio(self.codec, codes, self.loaded.audio_channels)
        audio = wave[..., : req.num_samples].cpu().numpy()
        if req.prompt_audio is not None:
            audio = splice_prompt(audio, req.prompt_audio, 0)
        return audio

    def metadata(
        self, req: PreparedRequest, plan: DecodePlan, timings: dict[str, float]
    ) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "model_path": str(Path(self.loaded.path)),
            "family": "musicgen",
            "engine": self.engine.name,
            "quantize": self.engine.quantize,
            "adapter": self.loaded.extra.get("adapter"),
            "device": str(self.device),
            "dtype": str(self.loaded.dtype).removeprefix("torch."),
            **req.params.to_dict(),
            "sample_rate": self.loaded.sample_rate,
            "channels": self.loaded.audio_channels,
            "frames": req.total_frames,
            "steps": plan.steps,
            "windows": len(plan.windows),
            "melody": req.melody is not None,
            "continuation_seconds": None
            if req.prompt_audio is None
            else req.prompt_audio.shape[-1] / self.loaded.sample_rate,
            "timings": timings,
            "real_time_factor": timings["total_s"] / req.params.duration,
        }
