"""The decoding loop: prompt codes in, frame-aligned codes out, window after window.

What it knows: the delay pattern grid, classifier-free guidance, per-row seeded sampling,
progress reporting, and audiocraft's windowed continuation for outputs longer than one window
(the last ``window - stride`` seconds of codes re-prompt the next window; all windows' codes are
decoded to audio together, so the joins are seamless). What it does not know: tokenizers, audio
files, validation (``music_gen.generator`` does those), or which decoder runs (a factory builds
one per window from a ``Condition``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import torch

from .conditioning import Condition
from .patterns import UNKNOWN, DelayPattern
from .sampling import SamplingParams, apply_cfg, select_next

__all__ = [
    "CodeStream",
    "DecodePlan",
    "Progress",
    "StepDecoder",
    "decode_codes",
    "decode_window",
    "iter_window",
    "plan_windows",
]

Progress = Callable[[int, int], None]
#: Builds the condition for the window starting at a frame offset (melody changes per window).
ConditionFn = Callable[[int], Condition]


class StepDecoder(Protocol):
    """A decoding session: the known columns once, then one column per step -> logits."""

    condition: Condition

    def prefill(self, grid: torch.Tensor) -> torch.Tensor: ...

    def step(self, column: torch.Tensor) -> torch.Tensor: ...


#: Opens a decoding session for a condition and a grid length (the session's cache size).
DecoderFactory = Callable[[Condition, int], StepDecoder]


@dataclass(frozen=True)
class DecodePlan:
    """Windows of one generation: ``(start_frame, context_frames, window_frames)`` each."""

    windows: list[tuple[int, int, int]]
    steps: int


def plan_windows(
    pattern: DelayPattern,
    total_frames: int,
    prompt_frames: int,
    window_frames: int,
    stride_frames: int,
) -> DecodePlan:
    """Cut ``total_frames`` into windows of at most ``window_frames``.

    The first window holds the prompt and as many new frames as fit; each later window starts
    ``stride_frames`` after the previous one and re-reads its last ``window - stride`` frames as
    context. Returns the windows and the total number of decoder steps (for progress).
    """
    windows = [(0, prompt_frames, min(total_frames, window_frames))]
    end = windows[0][2]
    start = 0
    while end < total_frames:
        start += stride_frames
        context = end - start
        length = min(window_frames, total_frames - start)
        windows.append((start, context, length))
        end = start + length
    steps = sum(pattern.steps(ctx, length) for _, ctx, length in windows)
    return DecodePlan(windows, steps)


def iter_window(
    decoder: StepDecoder,
    grid: torch.Tensor,
    pattern: DelayPattern,
    params: SamplingParams,
    guidance_scale: float,
    generators: list[torch.Generator] | None,
) -> Iterator[int]:
    """Fill the ``UNKNOWN`` positions of ``grid [B, K, L]`` in place, yielding each position."""
    start = pattern.prefill_length(grid)
    with torch.no_grad():
        logits = decoder.prefill(grid[:, :, :start])  # [B or 2B, K, V]
    for pos in range(start, grid.shape[-1]):
        with torch.no_grad():
            if decoder.condition.guided:
                logits = apply_cfg(logits, guidance_scale)
            tokens = select_next(logits, params, generators)  # [B, K]
            known = grid[:, :, pos]
            grid[:, :, pos] = torch.where(known == UNKNOWN, tokens, known)
        yield pos
        if pos + 1 < grid.shape[-1]:
            with torch.no_grad():
                logits = decoder.step(grid[:, :, pos : pos + 1])


def decode_window(
    decoder: StepDecoder,
    pattern: DelayPattern,
    prompt_codes: torch.Tensor,
    total_frames: int,
    params: SamplingParams,
    guidance_scale: float,
    generators: list[torch.Generator] | None,
) -> torch.Tensor:
    """Decode one window: ``prompt_codes [B, K, P]`` -> codes ``[B, K, total_frames]``."""
    grid = pattern.build(prompt_codes, total_frames)  # [B, K, L]
    for _ in iter_window(decoder, grid, pattern, params, guidance_scale, generators):
        pass
    return pattern.revert(grid, total_frames)


class CodeStream:
    """Decoding of all windows, step by step: iterate it to run; ``codes(n)`` reads results.

    Each iteration is one decoder step and yields how many leading frames are final (all
    codebooks known: frame ``f`` of a window is final once grid position ``f + 1 + max_delay``
    is filled). ``codes()`` after the end returns all ``[B, K, total_frames]`` codes.
    """

    def __init__(
        self,
        make_decoder: DecoderFactory,
        condition_for: ConditionFn,
        pattern: DelayPattern,
        batch: int,
        total_frames: int,
        params: SamplingParams,
        guidance_scale: float,
        generators: list[torch.Generator] | None,
        *,
        prompt_codes: torch.Tensor | None = None,
        window_frames: int = 1500,
        stride_frames: int = 900,
    ) -> None:
        self.make_decoder, self.condition_for, self.pattern = make_decoder, condition_for, pattern
        self.params, self.guidance_scale, self.generators = params, guidance_scale, generators
        if prompt_codes is None:
            prompt_codes = torch.zeros((batch, pattern.num_codebooks, 0), dtype=torch.long)
        self._codes = prompt_codes  # final codes before the current window's new frames
        self._grid: torch.Tensor | None = None
        self._window = (0, prompt_codes.shape[-1], prompt_codes.shape[-1])
        self.total_frames = total_frames
        self.plan = plan_windows(
            pattern, total_frames, prompt_codes.shape[-1], window_frames, stride_frames
        )

    def __iter__(self) -> Iterator[int]:
        delay = self.pattern.max_delay
        for start, context, length in self.plan.windows:
            condition = self.condition_for(start)
            self._codes = self._codes.to(condition.hidden.device)
            grid = self.pattern.build(self._codes[:, :, start : start + context], length)
            self._grid, self._window = grid, (start, context, length)
            decoder = self.make_decoder(condition, grid.shape[-1])
            it = iter_window(
                decoder, grid, self.pattern, self.params, self.guidance_scale, self.generators
            )
            for pos in it:
                yield start + max(context, min(length, pos - delay))
            window = self.pattern.revert(grid, length)
            self._codes = torch.cat(
                [self._codes[:, :, : start + context], window[:, :, context:]], dim=-1
            )
            self._grid = None

    def codes(self, upto: int | None = None) -> torch.Tensor:
        """The first ``upto`` frames ``[B, K, upto]`` (all when None); they must be final."""
        upto = self.total_frames if upto is None else upto
        start, context, length = self._window
        if self._grid is None or upto <= start + context:
            return self._codes[:, :, :upto]
        window = self.pattern.revert(self._grid, length)[:, :, context : upto - start]
        return torch.cat([self._codes[:, :, : start + context], window], dim=-1)


def decode_codes(
    make_decoder: DecoderFactory,
    condition_for: ConditionFn,
    pattern: DelayPattern,
    batch: int,
    total_frames: int,
    params: SamplingParams,
    guidance_scale: float,
    generators: list[torch.Generator] | None,
    *,
    prompt_codes: torch.Tensor | None = None,
    window_frames: int = 1500,
    stride_frames: int = 900,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Generate ``[B, K, total_frames]`` codes, windowed when longer than ``window_frames``."""
    stream = CodeStream(
        make_decoder,
        condition_for,
        pattern,
        batch,
        total_frames,
        params,
        guidance_scale,
        generators,
        prompt_codes=prompt_codes,
        window_frames=window_frames,
        stride_frames=stride_frames,
    )
    for done, _ in enumerate(stream, start=1):
        if progress is not None:
            progress(done, stream.plan.steps)
    return stream.codes()
