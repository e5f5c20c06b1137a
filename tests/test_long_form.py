"""Outputs longer than one window: audiocraft-style windowed continuation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from music_gen import MusicGenerator
from music_gen.engine.generate import plan_windows
from music_gen.engine.patterns import DelayPattern

SR = 32000


def test_window_plan_follows_extend_stride() -> None:
    plan = plan_windows(
        DelayPattern(4), total_frames=3000, prompt_frames=0, window_frames=1500, stride_frames=900
    )
    # 0-1500, then 900-2400 (600 context), then 1800-3000 (600 context)
    assert plan.windows == [(0, 0, 1500), (900, 600, 1500), (1800, 600, 1200)]
    assert plan.steps == 1503 + 903 + 603


def _codes_of(gen, captured, **kwargs):
    out = gen.generate(**kwargs)
    return captured[-1], out


def test_windows_re_prompt_with_the_previous_tail(checkpoints, decoded_codes) -> None:
    gen = MusicGenerator(
        str(checkpoints["mono"]), device="cpu", window_seconds=1.0, stride_seconds=0.6
    )
    codes, out = _codes_of(gen, decoded_codes, prompt="lofi beat", duration=2.5, seed=3)
    assert out.num_samples == round(2.5 * SR)
    assert out.metadata["windows"] == 4  # 0-50, 30-80, 60-110, 90-125 frames
    assert codes.shape[-1] == 125
    first, _ = _codes_of(gen, decoded_codes, prompt="lofi beat", duration=1.0, seed=3)
    assert torch.equal(codes[..., :50], first)  # window 1 is an ordinary 1 s generation


def test_over_30_seconds_is_exact_length_and_seamless(generators) -> None:
    gen = generators("mono")
    out = gen.generate("ambient pad drone", duration=31.0, seed=11)
    assert out.samples.shape == (1, 31 * SR)
    assert out.metadata["windows"] == 2
    x = out.samples[0]
    steps = np.abs(np.diff(x))
    join = 1500 * 640  # where the second window's new frames begin
    around_join = steps[join - 64 : join + 64].max()
    assert around_join <= np.quantile(steps, 0.999)  # no click at the join
    assert np.abs(x[join:]).max() > 0


def test_duration_over_the_limit_is_refused(generators) -> None:
    from music_gen import InvalidInput

    gen = generators("mono")
    with pytest.raises(InvalidInput) as err:
        gen.generate("x", duration=gen.max_duration + 1)
    assert err.value.code == "INVALID_DURATION"
