"""``MusicGenerator``: the library's front door.

It validates what the user asks for, turns prompts, melody and continuation audio into model
inputs, runs the decoding loop (``engine.generate``), decodes codes to audio and wraps the
result in ``AudioOutput`` with metadata that tells exactly how it was made (model, every
parameter, the seed actually used, timings).

Durations map to frames exactly: ``round(duration * 32000)`` output samples need
``ceil(samples / 640)`` codec frames at 50 frames/s, plus the delay pattern's 3 extra steps
(mono/stereo alike); the decoded audio is cut to the exact sample count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .audio import AudioOutput, load_audio
from .audio.chroma import melody_chroma
from .engine.codec import decode_audio, encode_audio
from .engine.conditioning import Condition, encode_condition
from .engine.engine import Engine
from .engine.generate import Progress, decode_codes, plan_windows
from .engine.loading import LoadedModel, load_model
from .engine.patterns import DelayPattern
from .engine.sampling import SamplingParams
from .errors import GenerationFailed, InvalidInput, UnsupportedFeature
from .params import GenerationParams, resolve_seeds, validate_prompt

__all__ = ["MusicGenerator"]

AudioSource = str | Path | bytes | np.ndarray | torch.Tensor | AudioOutput

#: crossfade (samples) where a continuation's own audio hands over to the generated audio
_SPLICE_FADE = 320


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
        self.load_seconds = time.perf_counter() - started
        self.model_name = model
        self.max_duration = float(max_duration)
        self.window_seconds = float(window_seconds)
        self.stride_seconds = float(stride_seconds)
        config = self.loaded.model.decoder.config
        self.engine = Engine(self.loaded, engine, quantize)
        self.pattern = DelayPattern(
            config.num_codebooks,
            config.audio_channels,
            self.loaded.model.generation_config.pad_token_id
            if self.loaded.model.generation_config.pad_token_id is not None
            else config.pad_token_id,
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
            f"MusicGenerator(model={self.model_name!r}, device={self.device}, "
            f"dtype={self.loaded.dtype}, channels={self.channels}, melody={self.supports_melody})"
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
            duration=duration,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
            guidance_scale=guidance_scale,
            melody=melody,
            continuation=continuation,
            progress=progress,
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
        sr, hop = self.sample_rate, self.loaded.hop_length
        num_samples = round(params.duration * sr)
        total_frames = math.ceil(num_samples / hop)
        window_frames = round(self.window_seconds * self.frame_rate)
        stride_frames = round(self.stride_seconds * self.frame_rate)
        melody_audio = self._melody(melody)
        prompt_audio = self._continuation(continuation, num_samples, window_frames)

        device = self.device
        batch = len(texts)
        guided = params.guidance_scale != 1.0
        prompt_codes = None
        if prompt_audio is not None:
            wav = torch.from_numpy(prompt_audio).to(device, self.loaded.dtype)
            prompt_codes = encode_audio(self.loaded.model.audio_encoder, wav[None], self.channels)
        plan = plan_windows(
            self.pattern,
            total_frames,
            0 if prompt_codes is None else prompt_codes.shape[-1],
            window_frames,
            stride_frames,
        )
        groups = self._groups(texts)
        steps_total = plan.steps * len(groups)
        sampling = SamplingParams(params.temperature, params.top_k, params.top_p)
        codes_by_row: dict[int, torch.Tensor] = {}
        t_decode = time.perf_counter()
        try:
            for g, rows in enumerate(groups):
                tokens = self.loaded.tokenizer(
                    [texts[i] for i in rows], return_tensors="pt", padding=True
                )
                input_ids = tokens["input_ids"].to(device)
                attention_mask = tokens["attention_mask"].to(device)

                def condition_for(
                    start_frame: int, ids=input_ids, mask=attention_mask
                ) -> Condition:
                    chroma = None
                    if melody_audio is not None:
                        chroma = self._window_chroma(melody_audio, start_frame * hop, len(ids))
                    return encode_condition(
                        self.loaded.model, ids, mask, guided=guided, chroma=chroma
                    )

                def group_progress(done: int, _total: int, offset=g * plan.steps) -> None:
                    if progress is not None:
                        progress(offset + done, steps_total)

                codes = decode_codes(
                    self.engine.session,
                    condition_for,
                    self.pattern,
                    len(rows),
                    total_frames,
                    sampling,
                    params.guidance_scale,
                    [torch.Generator(device).manual_seed(seeds[i]) for i in rows],
                    prompt_codes=_rows(prompt_codes, len(rows)),
                    window_frames=window_frames,
                    stride_frames=stride_frames,
                    progress=group_progress,
                )
                codes_by_row.update({i: codes[j] for j, i in enumerate(rows)})
            all_codes = torch.stack([codes_by_row[i] for i in range(batch)])  # [B, K, T]
            t_codec = time.perf_counter()
            wave = decode_audio(self.loaded.model.audio_encoder, all_codes, self.channels)
        except torch.cuda.OutOfMemoryError as exc:
            raise GenerationFailed(f"out of GPU memory: {exc}", code="OUT_OF_MEMORY") from None
        audio = wave[..., :num_samples].cpu().numpy()  # [B, C, N]
        if prompt_audio is not None:
            audio = _splice_prompt(audio, prompt_audio)
        done = time.perf_counter()
        timings = {
            "prepare_s": t_decode - started,
            "tokens_s": t_codec - t_decode,
            "codec_s": done - t_codec,
            "total_s": done - started,
        }
        common = {
            "model": self.model_name,
            "model_path": str(self.loaded.path),
            "engine": self.engine.name,
            "quantize": self.engine.quantize,
            "device": str(device),
            "dtype": str(self.loaded.dtype).removeprefix("torch."),
            **params.to_dict(),
            "sample_rate": sr,
            "channels": self.channels,
            "frames": total_frames,
            "steps": plan.steps,
            "decoder_passes": len(groups),
            "windows": len(plan.windows),
            "melody": melody_audio is not None,
            "continuation_seconds": None if prompt_audio is None else prompt_audio.shape[-1] / sr,
            "batch_size": batch,
            "timings": timings,
            "real_time_factor": timings["total_s"] / params.duration,
        }
        return [
            AudioOutput(
                audio[i], sr, {**common, "prompt": texts[i], "seed": seeds[i], "batch_index": i}
            )
            for i in range(batch)
        ]

    # ------------------------------------------------------------------ inputs
    def _groups(self, texts: list[str]) -> list[list[int]]:
        """Rows decoded together.

        Text-only checkpoints cross-attend to the prompt, so padding is masked out and the whole
        batch is one padded pass. Melody checkpoints self-attend to a ``[chroma, text]`` prefix
        with absolute positions, so a row's output depends on the padded prompt length: rows
        are grouped by their prompt's token count, one pass per group, and each output is the
        one its prompt would give alone.
        """
        if not self.supports_melody:
            return [list(range(len(texts)))]
        lengths = [len(ids) for ids in self.loaded.tokenizer(texts)["input_ids"]]
        groups: dict[int, list[int]] = {}
        for i, n in enumerate(lengths):
            groups.setdefault(n, []).append(i)
        return list(groups.values())

    def _melody(self, melody: AudioSource | None) -> np.ndarray | None:
        if melody is None:
            return None
        if not self.supports_melody or self.loaded.chroma is None:
            raise UnsupportedFeature(
                f"model {self.model_name!r} is not a melody checkpoint; use a musicgen-melody "
                "model to condition on a melody",
                details={"model": self.model_name},
            )
        audio = load_audio(
            melody,
            sample_rate=self.sample_rate if isinstance(melody, np.ndarray | torch.Tensor) else None,
            target_sample_rate=self.loaded.chroma.sampling_rate,
            channels=1,
            require_sound=True,
            name="melody",
        )
        return audio.samples[0]

    def _window_chroma(self, melody: np.ndarray, offset: int, batch: int) -> torch.Tensor:
        """Chroma of the melody under the window starting at sample ``offset`` (wrapping)."""
        assert self.loaded.chroma is not None
        window = round(self.window_seconds * self.loaded.chroma.sampling_rate)
        length = min(len(melody), window)
        segment = melody[(offset + np.arange(length)) % len(melody)]
        chroma = melody_chroma(segment, self.loaded.chroma.sampling_rate, self.loaded.chroma)
        return chroma.to(self.device, self.loaded.dtype).expand(batch, -1, -1)

    def _continuation(
        self, source: AudioSource | None, num_samples: int, window_frames: int
    ) -> np.ndarray | None:
        if source is None:
            return None
        audio = load_audio(
            source,
            sample_rate=self.sample_rate if isinstance(source, np.ndarray | torch.Tensor) else None,
            target_sample_rate=self.sample_rate,
            channels=self.channels,
            name="continuation",
        )
        hop = self.loaded.hop_length
        usable = (audio.num_samples // hop) * hop  # whole codec frames only
        if usable // hop >= window_frames:
            raise InvalidInput(
                f"continuation audio is {audio.duration:.1f} s; it must be shorter than "
                f"{self.window_seconds:g} s",
                code="INVALID_AUDIO",
            )
        if usable >= num_samples:
            raise InvalidInput(
                f"duration ({num_samples / self.sample_rate:g} s) must be longer than the "
                f"continuation audio ({usable / self.sample_rate:g} s): it is the total length",
                code="INVALID_DURATION",
            )
        return audio.samples[:, :usable]


def _rows(codes: torch.Tensor | None, count: int) -> torch.Tensor | None:
    """The continuation's codes ``[1, K, P]`` repeated for ``count`` rows."""
    return None if codes is None else codes.expand(count, -1, -1)


def _splice_prompt(audio: np.ndarray, prompt: np.ndarray) -> np.ndarray:
    """Put the continuation's own samples back at the start, crossfading into the generation."""
    n = prompt.shape[-1]
    fade = min(_SPLICE_FADE, n // 2)
    out = audio.copy()
    out[..., : n - fade] = prompt[None, :, : n - fade]
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    out[..., n - fade : n] = (
        prompt[None, :, n - fade :] * (1 - ramp) + audio[..., n - fade : n] * ramp
    )
    return out
