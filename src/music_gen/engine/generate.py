"""The decoding loop: prompt codes in, frame-aligned codes out, window after window.

What it knows: the delay pattern grid, classifier-free guidance, per-row seeded sampling,
progress reporting, and audiocraft's windowed continuation for outputs longer than one window
(the last ``window - stride`` seconds of codes re-prompt the next window; all windows' codes are
decoded to audio together, so the joins are seamless). What it does not know: tokenizers, audio
files, validation (``music_gen.generator`` does those), or which decoder runs (a factory builds
one per window from a ``Condition``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from .conditioning import Condition
from .patterns import UNKNOWN, DelayPattern
from .sampling import SamplingParams, apply_cfg, select_next

__all__ = [
    "DecodePlan",
    "Progress",
    "StepDecoder",
    "decode_codes",
    "decode_window",
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


@torch.no_grad()
def decode_window(
    decoder: StepDecoder,
    pattern: DelayPattern,
    prompt_codes: torch.Tensor,
    total_frames: int,
    params: SamplingParams,
    guidance_scale: float,
    generators: list[torch.Generator] | None,
    on_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Decode one window: ``prompt_codes [B, K, P]`` -> codes ``[B, K, total_frames]``."""
    grid = pattern.build(prompt_codes, total_frames)  # [B, K, L]
    start = pattern.prefill_length(grid)
    logits = decoder.prefill(grid[:, :, :start])  # [B or 2B, K, V]
    for pos in range(start, grid.shape[-1]):
        if decoder.condition.guided:
            logits = apply_cfg(logits, guidance_scale)
        tokens = select_next(logits, params, generators)  # [B, K]
        known = grid[:, :, pos]
        grid[:, :, pos] = torch.where(known == UNKNOWN, tokens, known)
        if on_step is not None:
            on_step()
        if pos + 1 < grid.shape[-1]:
            logits = decoder.step(grid[:, :, pos : pos + 1])
    return pattern.revert(grid, total_frames)


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
    if prompt_codes is None:
        prompt_codes = torch.zeros((batch, pattern.num_codebooks, 0), dtype=torch.long)
    plan = plan_windows(pattern, total_frames, prompt_codes.shape[-1], window_frames, stride_frames)
    done = 0

    def on_step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, plan.steps)

    codes = prompt_codes
    for start, context, length in plan.windows:
        condition = condition_for(start)
        codes = codes.to(condition.hidden.device)
        window_prompt = codes[:, :, start : start + context]
        decoder = make_decoder(condition, pattern.grid_length(length))
        window = decode_window(
            decoder, pattern, window_prompt, length, params, guidance_scale, generators, on_step
        )
        codes = torch.cat([codes[:, :, : start + context], window[:, :, context:]], dim=-1)
    return codes
